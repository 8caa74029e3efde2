import Foundation
import NIOCore
import NIOPosix
import PacsgateCore

#if canImport(Glibc)
import Glibc
#endif

/// What a handover did.
public enum HandoverResult: Sendable, Equatable, CustomStringConvertible {
    /// This unit does not hold the virtual IPs (keepalived's state is not MASTER): nothing to hand over.
    case notHolding(VRRPState)
    /// Not done: the peer could not take over (a switchover is refused rather than leave the VIP nowhere), or another
    /// handover is under way.
    case refused(String)
    /// Stopping while the peer cannot take over: the VIP stays here through the drain (keepalived's track_process
    /// releases it when pacsgate exits).
    case kept(String)
    /// keepalived released the VIP after this long.
    case handedOver(after: Duration)
    /// keepalived still said MASTER after `ha.handover_timeout`.
    case timedOut(after: Duration)
    /// Interrupted (the request went away, or the unit is being torn down) before keepalived released the VIP.
    case cancelled

    public var description: String {
        switch self {
        case .notHolding(let state):
            if state == .unknown {
                return "this unit cannot tell whether it holds the virtual IPs (keepalived's state file says nothing); nothing handed over"
            }
            return "this unit does not hold the virtual IPs (VRRP \(state.rawValue)); nothing to hand over"
        case .refused(let reason): return "not handed over: \(reason)"
        case .kept(let reason):
            return "the virtual IPs stay on this unit through the drain (\(reason)); keepalived releases them when pacsgate exits"
        case .handedOver(let after): return "the virtual IPs left this unit after \(after.formatted(.units(allowed: [.milliseconds])))"
        case .timedOut(let after):
            return "keepalived still held the virtual IPs after \(after.formatted(.units(allowed: [.seconds, .milliseconds]))); check its track_file setting"
        case .cancelled: return "interrupted before keepalived released the virtual IPs"
        }
    }
}

/// The planned switchover and the pieces of the election that touch files and sockets: keepalived's state file
/// (read every 50 ms), its track file and the handover file (written at every change), the takeover audit, and the
/// probe that confirms the peer's pacsgate is gone.
extension PairController {
    /// Time left to connections that were still arriving when the VIP went (a handshake begun here completes here,
    /// its last packets forwarded by the peer) before the listeners close.
    static let arrivalSettle: Duration = .seconds(1)
    /// How long a handover waits for the peer to acknowledge its notice.
    static let noticeTimeout: Duration = .seconds(1)
    /// How long keepalived's state file may be missing after the start before it is warned about.
    static let stateFileGrace: Duration = .seconds(10)

    // MARK: planned stop and switchover

    /// SIGTERM: hands the virtual IPs to the peer and returns once they have left this unit (plus a moment for
    /// connections still arriving), so the gateway can then stop accepting and drain. If this unit does not hold
    /// them, returns at once (and stays out of the election); if the peer cannot take over, keeps them through the
    /// drain. A switchover under way is waited for; this unit never re-enters the election afterwards. Every outcome
    /// is logged.
    @discardableResult
    public func handOverForStop(reason: String) async -> HandoverResult {
        let result = await self.handOver(kind: .stopping, reason: reason)
        self.logger.notice("HA stopping: \(result)", metadata: ["reason": "\(reason)"])
        return result
    }

    /// `pacsgate ctl switchover` / `POST /api/v1/ha/switchover`: hands the virtual IPs to the peer and stays in
    /// standby (priority below the peer's) until this unit next holds them or restarts. Refused when the peer is not
    /// linked and in sync, or another handover is under way.
    public func switchover(requestedBy who: String) async -> HandoverResult {
        let result = await self.handOver(kind: .switchover, reason: "requested by \(who)")
        switch result {
        case .refused, .notHolding, .kept: return result
        case .cancelled:
            // Interrupted after the track file said "leaving" (or before, harmlessly): the VIP is on its way to the
            // peer, so this unit stands by rather than stay out of the election for good.
            self.state.withLockedValue { $0.election.standBy() }
            self.publishElection()
            return result
        case .handedOver, .timedOut: break
        }
        // (A unit that started stopping meanwhile stays leaving.)
        self.state.withLockedValue { $0.election.standBy() }
        self.publishElection()
        var record = AuditLog.record(event: "ha.switchover")
        record.field("node", self.configuration.node)
        record.field("user", who)
        record.field("result", "\(result)")
        self.audit.write(record)
        return result
    }

    private func handOver(kind: HandoverNotice.Kind, reason: String) async -> HandoverResult {
        let stopping = kind == .stopping
        // One handover at a time. A stop waits for a switchover under way (which cannot bring the unit back into the
        // election once the stop is recorded) and then goes on; a switchover while another handover is under way is
        // refused.
        let busy = self.state.withLockedValue { state -> HandoverNotice.Kind? in
            if stopping { state.election.stopRequested() }
            guard let underWay = state.handoverUnderWay else {
                state.handoverUnderWay = kind
                return nil
            }
            return underWay
        }
        if let busy {
            guard stopping, busy == .switchover else {
                return .refused(busy == .stopping ? "this unit is stopping" : "a switchover is under way already")
            }
            let limit = self.configuration.handoverTimeout + Self.noticeTimeout + Self.arrivalSettle + .seconds(1)
            let free = await self.waitFor(limit) { $0.handoverUnderWay == nil }
            if !free { self.logger.warning("HA stopping: the switchover under way did not end in time; going on") }
            self.state.withLockedValue { $0.handoverUnderWay = kind }
        }
        defer {
            // A stop stays under way until the unit exits.
            if !stopping { self.state.withLockedValue { $0.handoverUnderWay = nil } }
        }
        let vrrp = self.readVRRPState()
        guard vrrp == .master else {
            if stopping {
                // Not holding the VIP, but going: keepalived must not give it to this unit meanwhile.
                self.state.withLockedValue { $0.election.stop(releasing: true) }
                self.publishElection()
                self.writeHealth("fail stopping")
            }
            if vrrp == .unknown {
                self.logger.warning(
                    "HA keepalived's state file is missing or unreadable: this unit cannot tell whether it holds the virtual IPs",
                    metadata: ["path": "\(self.configuration.vrrpStateFile ?? "(ha.vrrp_state_file not set)")"])
            }
            return .notHolding(vrrp)
        }
        let (peerReady, session) = self.state.withLockedValue { ($0.election.peerCanTakeOver, $0.session) }
        if !peerReady {
            let why = session == nil ? "the link to the peer is down" : "the peer is not in sync yet"
            guard stopping else { return .refused("\(why); the virtual IPs would be left with no unit to hold them") }
            // Released now, the VIP would be nowhere for the whole drain and every open association would be lost;
            // kept, open connections finish here and keepalived's track_process releases the VIP when pacsgate exits.
            self.state.withLockedValue { $0.election.stop(releasing: false) }
            self.logger.warning(
                "HA stopping while the peer cannot take over: keeping the virtual IPs through the drain; keepalived releases them when pacsgate exits",
                metadata: ["reason": "\(why)"])
            return .kept(why)
        }
        // The peer learns first that the takeover it is about to see is planned, and makes its handover rule ready to
        // pass on the packets of connections open here; it acknowledges the notice by its number.
        if let (number, wake) = self.state.withLockedValue({ $0.postNotice(kind: kind, reason: reason) }) {
            wake.yield()
            let acknowledged = await self.waitFor(Self.noticeTimeout) { $0.acknowledgedNotice >= number }
            if Task.isCancelled { return .cancelled }
            if !acknowledged {
                self.logger.warning(
                    "HA the peer did not acknowledge the handover notice: it may reset connections still open here after the takeover",
                    metadata: ["notice": "\(number)", "waited": "\(Self.noticeTimeout)"])
            }
        }
        self.logger.notice("HA handing the virtual IPs over to the peer", metadata: ["kind": "\(kind)", "reason": "\(reason)"])
        let started = ContinuousClock.now
        self.state.withLockedValue { stopping ? $0.election.stop(releasing: true) : $0.election.leave() }
        self.publishElection()
        self.writeHealth("fail stopping")
        // Connections keep arriving and are served until keepalived has taken the VIP away.
        while self.readVRRPState() == .master {
            if ContinuousClock.now - started >= self.configuration.handoverTimeout {
                let result = HandoverResult.timedOut(after: ContinuousClock.now - started)
                self.logger.error("HA handover: \(result)")
                return result
            }
            do {
                try await Task.sleep(for: .milliseconds(20))
            } catch {
                return .cancelled
            }
        }
        let released = ContinuousClock.now - started
        self.logger.notice("HA virtual IPs handed over", metadata: ["after": "\(released.formatted(.units(allowed: [.milliseconds])))"])
        // (Interrupted here, the VIP has gone all the same.)
        try? await Task.sleep(for: Self.arrivalSettle)
        return .handedOver(after: released)
    }

    /// Sends the peer a goodbye and waits (at most a second) until it is written.
    func sayGoodbye(_ reason: String) async {
        guard let wake = self.state.withLockedValue({ state in state.post { $0.goodbye = reason } }) else { return }
        wake.yield()
        _ = await self.waitFor(.seconds(1)) { $0.written.contains(HAFrameType.goodbye.rawValue) || $0.session == nil }
    }

    /// Polls the state until `condition` holds (true) or `timeout` passes or the task is cancelled (false).
    func waitFor(_ timeout: Duration, _ condition: (PairState) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if self.state.withLockedValue({ condition($0) }) { return true }
            do {
                try await Task.sleep(for: .milliseconds(10))
            } catch {
                return false
            }
        }
        return false
    }

    /// The peer announced a handover: its takeover is planned, and the handover rule must pass on the packets of
    /// connections open there. Acknowledged once the handover file says so.
    func peerHandingOver(_ notice: HandoverNotice, from peer: PeerIdentity) {
        self.state.withLockedValue { $0.election.peerHandingOver(notice) }
        self.publishElection()
        self.state.withLockedValue { state in state.post { $0.handoverAck = notice.number } }?.yield()
        self.logger.notice(
            "HA peer hands the virtual IPs over to this unit",
            metadata: ["ha.peer_node": "\(peer.node)", "kind": "\(notice.kind)", "reason": "\(notice.reason)", "notice": "\(notice.number)"])
    }

    // MARK: keepalived's files

    /// Every 50 ms: keepalived's state (a change to MASTER is a takeover, audited with its reason), and the track and
    /// handover files (rewritten if something else changed them, e.g. keepalived's `init_file ... overwrite` at its
    /// start). Warns once when keepalived's state file has not appeared `stateFileGrace` after the start.
    func vrrpLoop() async {
        let started = ContinuousClock.now
        var warnedMissing = false
        while !Task.isCancelled {
            let vrrp = self.readVRRPState()
            let (previous, takeover) = self.state.withLockedValue { state in
                let previous = state.election.vrrp
                return (previous, previous == vrrp ? nil : state.election.vrrpChanged(to: vrrp, now: WallClock.now()))
            }
            if previous != vrrp {
                self.publishElection()
                if let takeover { self.recordTakeover(takeover) }
                if previous == .master {
                    self.logger.notice("HA virtual IPs left this unit", metadata: ["vrrp": "\(vrrp.rawValue)"])
                }
            }
            if !warnedMissing, let path = self.configuration.vrrpStateFile, ContinuousClock.now - started >= Self.stateFileGrace,
                !FileManager.default.fileExists(atPath: path)
            {
                warnedMissing = true
                self.logger.warning(
                    "HA keepalived's state file does not exist: until its notify script writes it this unit cannot tell whether it holds the virtual IPs, and a stop or switchover hands nothing over (is keepalived running with the sample's notify line?)",
                    metadata: ["path": "\(path)", "after": "\(Self.stateFileGrace)"])
            }
            self.publishElection(repair: true)
            do {
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                return
            }
        }
    }

    private func recordTakeover(_ takeover: Election.Takeover) {
        let peer = self.state.withLockedValue { $0.lastPeer?.node }
        self.logger.notice(
            "HA took over the virtual IPs", metadata: ["kind": "\(takeover.kind)", "reason": "\(takeover.reason)", "ha.peer_node": "\(peer ?? "-")"])
        var record = AuditLog.record(event: "ha.takeover")
        record.field("node", self.configuration.node)
        record.field("role", self.configuration.role.rawValue)
        record.field("peer", peer)
        record.field("kind", takeover.kind)
        record.field("reason", takeover.reason)
        self.audit.write(record)
    }

    /// The peer's snapshot is in: this unit may hold the VIP without forgetting a client's server.
    func becameReady(_ reason: String) {
        self.publishElection()
        self.logger.notice("HA ready to hold the virtual IPs", metadata: ["reason": "\(reason)"])
        var record = AuditLog.record(event: "ha.ready")
        record.field("node", self.configuration.node)
        record.field("role", self.configuration.role.rawValue)
        record.field("reason", reason)
        self.audit.write(record)
    }

    /// Writes what the election says for keepalived when it differs from what was written (`repair`: from what the
    /// files hold): first the handover file (the notify script reads it at a takeover the track file may cause), then
    /// the track file.
    func publishElection(repair: Bool = false) {
        let (track, passes) = self.state.withLockedValue { ($0.election.trackValue, $0.election.passesPeerConnections) }
        if let path = self.configuration.vrrpHandoverFile {
            let seconds = Int(self.configuration.handoverWindow.components.seconds)
            self.handoverFile.write(passes ? "copy \(seconds)\n" : "none\n", to: path, repair: repair, logger: self.logger)
        }
        if let path = self.configuration.vrrpTrackFile {
            self.trackFile.write("\(track)\n", to: path, repair: repair, logger: self.logger)
        }
    }

    // MARK: the peer's pacsgate gone

    /// The link ended without a goodbye: if the peer's HA port now refuses connections, its pacsgate is not running
    /// (the host answers, the process is gone), and this unit tells keepalived to take over at once rather than wait
    /// for the peer's keepalived to notice. A timeout proves nothing (host or network down: VRRP itself handles that).
    func probePeer(after reason: String) {
        let peer = self.configuration.peer
        let group = self.group
        Task {
            for attempt in 0..<3 {
                if attempt > 0 { try? await Task.sleep(for: .milliseconds(100)) }
                if self.state.withLockedValue({ $0.session != nil || $0.stopping }) { return }
                do {
                    // Something listens: the peer's pacsgate is running (or still closing): look again.
                    let channel = try await ClientBootstrap(group: group).connectTimeout(.seconds(1))
                        .connect(host: peer.host, port: peer.port).get()
                    try? await channel.close()
                } catch where Self.isRefused(error) {
                    let gone = "the pacsgate of the peer stopped without a goodbye (\(reason)); its HA port \(peer) refuses connections"
                    guard self.state.withLockedValue({ $0.election.peerConfirmedGone(gone) }) else { return }
                    self.publishElection()
                    self.logger.warning("HA peer's pacsgate is gone; asking keepalived to take over", metadata: ["reason": "\(gone)"])
                    return
                } catch {
                    continue  // a timeout proves nothing
                }
            }
        }
    }

    private static func isRefused(_ error: any Error) -> Bool {
        if let error = error as? IOError { return error.errnoCode == ECONNREFUSED }
        if let error = error as? NIOConnectionError {
            return !error.connectionErrors.isEmpty
                && error.connectionErrors.allSatisfy { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }
        }
        return false
    }
}

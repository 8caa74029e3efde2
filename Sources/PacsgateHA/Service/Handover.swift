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
    /// Not done: the peer could not take over (a switchover is refused rather than leave the VIP nowhere).
    case refused(String)
    /// keepalived released the VIP after this long.
    case handedOver(after: Duration)
    /// keepalived still said MASTER after `ha.handover_timeout`.
    case timedOut(after: Duration)

    public var description: String {
        switch self {
        case .notHolding(let state): return "this unit does not hold the virtual IPs (VRRP \(state.rawValue)); nothing to hand over"
        case .refused(let reason): return "not handed over: \(reason)"
        case .handedOver(let after): return "the virtual IPs left this unit after \(after.formatted(.units(allowed: [.milliseconds])))"
        case .timedOut(let after):
            return "keepalived still held the virtual IPs after \(after.formatted(.units(allowed: [.seconds, .milliseconds]))); check its track_file setting"
        }
    }
}

/// The planned switchover and the pieces of the election that touch files and sockets: keepalived's state file
/// (read every 50 ms), its track file (written at every change), the takeover audit, and the probe that confirms the
/// peer's pacsgate is gone.
extension PairController {
    /// Time left to connections that were still arriving when the VIP went (a handshake begun here completes here,
    /// its last packets forwarded by the peer) before the listeners close.
    static let arrivalSettle: Duration = .seconds(1)

    // MARK: planned stop and switchover

    /// SIGTERM: hands the virtual IPs to the peer and returns once they have left this unit (plus a moment for
    /// connections still arriving), so the gateway can then stop accepting and drain. If this unit does not hold
    /// them, returns at once; if the peer cannot take over, they are released anyway (the unit is going).
    @discardableResult
    public func handOverForStop(reason: String) async -> HandoverResult {
        await self.handOver(HandoverNotice(kind: .stopping, reason: reason), force: true)
    }

    /// `pacsgate ctl switchover` / `POST /api/v1/ha/switchover`: hands the virtual IPs to the peer and stays in
    /// standby (priority below the peer's) until this unit next holds them or restarts. Refused when the peer is not
    /// linked and in sync.
    public func switchover(requestedBy who: String) async -> HandoverResult {
        let result = await self.handOver(HandoverNotice(kind: .switchover, reason: "requested by \(who)"), force: false)
        if case .refused = result { return result }
        if case .notHolding = result { return result }
        self.state.withLockedValue { $0.election.standBy() }
        self.writeTrackFile()
        var record = AuditLog.record(event: "ha.switchover")
        record.field("node", self.configuration.node)
        record.field("user", who)
        record.field("result", "\(result)")
        self.audit.write(record)
        return result
    }

    private func handOver(_ notice: HandoverNotice, force: Bool) async -> HandoverResult {
        let vrrp = self.readVRRPState()
        guard vrrp == .master else {
            if notice.kind == .stopping {
                // Not holding the VIP, but going: keepalived must not give it to this unit meanwhile.
                self.state.withLockedValue { $0.election.leave() }
                self.writeTrackFile()
                self.writeHealth("fail stopping")
            }
            return .notHolding(vrrp)
        }
        let (peerReady, session) = self.state.withLockedValue { ($0.election.peerCanTakeOver, $0.session) }
        if !peerReady {
            let why = session == nil ? "the link to the peer is down" : "the peer is not in sync yet"
            guard force else { return .refused("\(why); the virtual IPs would be left with no unit to hold them") }
            self.logger.warning("HA stopping while the peer cannot take over: the virtual IPs are released with no unit to hold them", metadata: ["reason": "\(why)"])
        }
        // The peer learns first that the takeover it is about to see is planned.
        if let wake = self.state.withLockedValue({ state in state.post { $0.handover = notice } }) {
            wake.yield()
            _ = await self.waitFor(.seconds(1)) { $0.written.contains(HAFrameType.handover.rawValue) }
        }
        self.logger.notice("HA handing the virtual IPs over to the peer", metadata: ["kind": "\(notice.kind)", "reason": "\(notice.reason)"])
        let started = ContinuousClock.now
        self.state.withLockedValue { $0.election.leave() }
        self.writeTrackFile()
        self.writeHealth("fail stopping")
        // Connections keep arriving and are served until keepalived has taken the VIP away.
        while self.readVRRPState() == .master {
            if ContinuousClock.now - started >= self.configuration.handoverTimeout {
                let result = HandoverResult.timedOut(after: ContinuousClock.now - started)
                self.logger.error("HA handover: \(result)")
                return result
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        let released = ContinuousClock.now - started
        self.logger.notice("HA virtual IPs handed over", metadata: ["after": "\(released.formatted(.units(allowed: [.milliseconds])))"])
        try? await Task.sleep(for: Self.arrivalSettle)
        return .handedOver(after: released)
    }

    /// Sends the peer a goodbye and waits (at most a second) until it is written.
    func sayGoodbye(_ reason: String) async {
        guard let wake = self.state.withLockedValue({ state in state.post { $0.goodbye = reason } }) else { return }
        wake.yield()
        _ = await self.waitFor(.seconds(1)) { $0.written.contains(HAFrameType.goodbye.rawValue) || $0.session == nil }
    }

    /// Polls the state until `condition` holds or `timeout` passes.
    private func waitFor(_ timeout: Duration, _ condition: (PairState) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if self.state.withLockedValue({ condition($0) }) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    // MARK: keepalived's files

    /// Every 50 ms: keepalived's state (a change to MASTER is a takeover, audited with its reason), and the track file
    /// (rewritten if something else changed it, e.g. keepalived's `init_file ... overwrite` at its start).
    func vrrpLoop() async {
        while !Task.isCancelled {
            let vrrp = self.readVRRPState()
            let (previous, takeover) = self.state.withLockedValue { state in
                let previous = state.election.vrrp
                return (previous, previous == vrrp ? nil : state.election.vrrpChanged(to: vrrp, now: WallClock.now()))
            }
            if previous != vrrp {
                self.writeTrackFile()
                if let takeover { self.recordTakeover(takeover) }
                if previous == .master {
                    self.logger.notice("HA virtual IPs left this unit", metadata: ["vrrp": "\(vrrp.rawValue)"])
                }
            }
            self.writeTrackFile(repair: true)
            try? await Task.sleep(for: .milliseconds(50))
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
        self.writeTrackFile()
        self.logger.notice("HA ready to hold the virtual IPs", metadata: ["reason": "\(reason)"])
        var record = AuditLog.record(event: "ha.ready")
        record.field("node", self.configuration.node)
        record.field("role", self.configuration.role.rawValue)
        record.field("reason", reason)
        self.audit.write(record)
    }

    /// Writes the election's track value when it differs from what was written (`repair`: from what the file holds).
    func writeTrackFile(repair: Bool = false) {
        guard let path = self.configuration.vrrpTrackFile else { return }
        let value = self.state.withLockedValue { $0.election.trackValue }
        let written = self.trackWritten.withLockedValue { $0 }
        if written == value, !repair { return }
        if repair, written == value,
            let text = try? String(contentsOfFile: path, encoding: .utf8),
            Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) == value
        {
            return
        }
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data("\(value)\n".utf8)), rename(temporary, path) == 0 else {
            if written != nil {
                self.logger.error("HA cannot write the VRRP track file", metadata: ["path": "\(path)", "errno": "\(errno)"])
            }
            self.trackWritten.withLockedValue { $0 = nil }
            return
        }
        self.trackWritten.withLockedValue { $0 = value }
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
                    self.writeTrackFile()
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

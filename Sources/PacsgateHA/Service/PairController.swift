import Foundation
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
public import PacsgateCore

/// This unit's side of a clustered pair: the authenticated link to the peer, persistence replication in both
/// directions, configuration sync from the primary to the secondary, the health file for keepalived and the pair's
/// status.
///
/// The controller is a `Service` of the gateway's service group (its `run()` is the link, in PairLink.swift); the
/// admin (through the application's wiring) asks it whether a change may be made here and tells it about configurations
/// that were applied. Runtime server settings (weight, state) are compared every 250 ms on the primary and the
/// changes pushed.
public final class PairController: Sendable {
    public let configuration: HAConfiguration
    let secret: HASecret
    let gateway: Gateway
    let audit: AuditLog
    let logger: Logger
    let host: any HAConfigurationHost
    let policy: ConfigSyncPolicy
    let group: any EventLoopGroup
    let software: String
    /// What unauthenticated connections to the HA port may do.
    let limits: PreAuthLimits
    let state: NIOLockedValueBox<PairState>
    /// Where the link listens, once bound.
    let listening = NIOLockedValueBox<SocketAddress?>(nil)
    /// keepalived's track file (``VRRPTrackFile``) and the notify script's handover file, as last written.
    let trackFile = KeepalivedFile("the VRRP track file")
    let handoverFile = KeepalivedFile("the VRRP handover file")
    /// The health file keepalived's check script reads (`ok` every 250 ms while the unit may hold the VIPs).
    let healthFile = KeepalivedFile("the HA health file", everyCall: true)

    /// Entries per ENTRIES frame.
    static let batchSize = 1000

    /// - Parameters:
    ///   - software: this build's version, shown to the peer.
    ///   - limits: what unauthenticated connections to the HA port may do.
    public init(
        configuration: HAConfiguration, secret: HASecret, gateway: Gateway, audit: AuditLog, host: any HAConfigurationHost,
        group: any EventLoopGroup, logger: Logger, software: String, limits: PreAuthLimits = PreAuthLimits()
    ) {
        self.configuration = configuration
        self.secret = secret
        self.gateway = gateway
        self.audit = audit
        var logger = logger
        logger[metadataKey: "component"] = "ha"
        self.logger = logger
        self.host = host
        self.group = group
        self.software = software
        self.limits = limits
        self.policy = ConfigSyncPolicy(
            role: configuration.role, enabled: configuration.configSync, localKeys: configuration.localKeys,
            parse: { [host] in host.parse($0) }, write: { [host] in host.yaml($0) })
        self.state = NIOLockedValueBox(PairState(role: configuration.role, queueLimit: configuration.queueLimit, limits: limits))
    }

    // MARK: coordination with the admin

    /// Whether a change of the configuration file made on this unit (reload, upload) may go ahead; the refusal
    /// otherwise (on the secondary, when it changes shared settings and is not forced).
    public func permitFileChange(proposed: String, running: String, forced: Bool) -> String? {
        self.policy.permitFileChange(proposed: proposed, running: running, forced: forced, primary: self.peerName)
    }

    /// Whether a server state or weight change made on this unit may go ahead; the refusal otherwise.
    public func permitRuntimeChange(forced: Bool) -> String? {
        self.policy.permitRuntimeChange(forced: forced, primary: self.peerName)
    }

    private var peerName: String? { self.state.withLockedValue { $0.lastPeer?.node } }

    /// A configuration was applied on this unit (reload, upload — not a sync): new services get replication, and
    /// the primary pushes it to the secondary.
    public func configurationApplied(text: String, origin: String) async {
        await self.attachObservers()
        guard let version = self.policy.version(of: text) else { return }
        let wake = self.state.withLockedValue { state -> AsyncStream<Void>.Continuation? in
            state.configVersion = version
            guard self.configuration.role == .primary, self.configuration.configSync else { return nil }
            return state.post { $0.config = ConfigPush(version: version, origin: origin, text: text) }
        }
        wake?.yield()
    }

    /// Makes every service's stick table report its changes for replication (at start and after each reload, which
    /// may add services).
    public func attachObservers() async {
        for runtime in await self.gateway.services {
            let label = runtime.label
            runtime.stickTable.setObserver { [state] entry in
                state.withLockedValue { $0.enqueue(service: label, entry: entry) }?.yield()
            }
        }
    }

    // MARK: status

    /// The pair as the overview shows it.
    public func status() async -> PairStatus {
        var counts: [String: Int] = [:]
        for runtime in await self.gateway.services { counts[runtime.label] = runtime.stickTable.count }
        let vrrp = self.readVRRPState()
        let now = NIODeadline.now()
        let timeout = TimeAmount(self.configuration.peerTimeout)
        return self.state.withLockedValue { state in
            let report = state.peerReport
            let peer = state.session?.peer
            let reachable = state.session != nil && (state.lastReceivedDeadline.map { now - $0 < timeout } ?? false)
            var peerEntries: [String: Int] = [:]
            for count in report?.entries ?? [] { peerEntries[count.service] = Int(count.entries) }
            return PairStatus(
                node: self.configuration.node, role: self.configuration.role, vrrp: vrrp,
                readiness: state.election.readiness, peerReadiness: report?.readiness, lastTakeover: state.election.lastTakeover,
                takeovers: state.election.takeovers, peerGone: state.election.peerGone,
                listen: self.listening.withLockedValue { $0.map { "\($0)" } } ?? self.configuration.listen?.description ?? "-",
                peerAddress: self.configuration.peer.description,
                link: state.link, peerReachable: reachable, peerNode: peer?.node ?? state.lastPeer?.node,
                peerRole: peer?.role ?? state.lastPeer?.role, peerVRRP: report?.vrrp, peerSoftware: peer?.software,
                linkSince: state.session == nil ? nil : state.linkSince, lastReceived: state.lastReceived,
                queued: state.queue.count, peerQueued: report.map { Int($0.queued) }, entriesSent: state.entriesSent,
                entriesReceived: state.entriesReceived, lastSync: state.lastSync, lastSnapshotSent: state.lastSnapshotSent,
                lastSnapshotReceived: state.lastSnapshotReceived, overflows: state.queue.overflows, rejected: state.rejected,
                entries: counts, peerEntries: peerEntries, configSync: self.configuration.configSync,
                configVersion: state.configVersion, peerConfigVersion: report?.configVersion,
                lastConfigSync: state.lastConfigSync)
        }
    }

    /// The VRRP state keepalived's notify script last wrote, or `unknown`.
    func readVRRPState() -> VRRPState {
        guard let path = self.configuration.vrrpStateFile,
            let text = try? String(contentsOfFile: path, encoding: .utf8)
        else { return .unknown }
        // The notify script writes the state as its first word (`MASTER`, `BACKUP`, `FAULT`, `STOP`).
        let word = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).first.map(String.init) ?? ""
        return VRRPState(rawValue: word.uppercased()) ?? .unknown
    }

    /// What this unit tells the peer about itself.
    func statusReport() async -> PeerStatusReport {
        var counts: [PeerStatusReport.ServiceCount] = []
        for runtime in await self.gateway.services {
            counts.append(.init(service: runtime.label, entries: UInt32(clamping: runtime.stickTable.count)))
        }
        let vrrp = self.readVRRPState()
        return self.state.withLockedValue { state in
            PeerStatusReport(
                role: self.configuration.role, vrrp: vrrp, readiness: state.election.readiness, configVersion: state.configVersion,
                queued: UInt32(clamping: state.queue.count), entries: counts)
        }
    }

    // MARK: audit

    func auditLink(_ event: AuditEvent, peer: String?, remote: String?, reason: String?) {
        var record = AuditLog.record(event: event)
        record.field("node", self.configuration.node)
        record.field("role", self.configuration.role.rawValue)
        record.field("peer", peer)
        record.field("remote", remote)
        record.field("reason", reason)
        self.audit.write(record)
    }
}

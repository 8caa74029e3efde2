import Foundation
import Logging
import NIOCore
import PacsgateAdmin
import PacsgateConfig
import PacsgateCore
import PacsgateHA
import PacsgateVersion
import ServiceLifecycle

/// What the HA link needs from the application: the shared secret and the admin's configuration management.
enum HAWiring {
    struct SecretError: Error, CustomStringConvertible {
        var description: String
        /// The file does not exist (`check-config` on another machine than the unit's warns rather than fails).
        var missing = false
    }

    /// Reads `ha.secret_file`; refuses a missing or world-readable file, and anything but a secret made by
    /// `pacsgate ha-secret` (or, with `ha.allow_legacy_secret`, 32 random bytes written as base64 or hex).
    static func readSecret(_ configuration: HAConfiguration) throws -> HASecret {
        let path = configuration.secretFile
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SecretError(
                description: "ha.secret_file '\(path)' cannot be read: \(error.localizedDescription); make one with `pacsgate ha-secret \(path)`",
                missing: !FileManager.default.fileExists(atPath: path))
        }
        if let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber,
            mode.intValue & 0o004 != 0
        {
            throw SecretError(description: "ha.secret_file '\(path)' is readable by every user; chmod 600 it")
        }
        do {
            return try HASecret(fileText: text, allowLegacy: configuration.allowLegacySecret)
        } catch {
            throw SecretError(description: "ha.secret_file '\(path)' \(error)")
        }
    }

    /// What `run` warns about in an `ha:` section it accepts: a legacy secret, no track file.
    static func warnAtStart(_ configuration: HAConfiguration, logger: Logger) {
        if configuration.allowLegacySecret, let text = try? String(contentsOfFile: configuration.secretFile, encoding: .utf8),
            !HASecret.isChecksummed(text)
        {
            logger.warning(
                "the HA secret is in the legacy form (base64 or hex without a checksum), accepted because of ha.allow_legacy_secret; replace it with `pacsgate ha-secret FILE` on one unit, copied to the other",
                metadata: ["ha.secret_file": "\(configuration.secretFile)"])
        }
        if configuration.vrrpTrackFile == nil {
            logger.warning(
                "HA has no VRRP track file (set state_dir or ha.vrrp_track_file): keepalived cannot learn that this unit is not ready, is leaving or must take over; a stop or switchover cannot hand the virtual IPs over")
        }
    }

    /// The pair controller of an HA unit (`nil` for a single unit), wired to the admin: the secondary's gate on
    /// changes, the overview's pair card, the switchover, and the primary's push after each reload.
    static func controller(
        loaded: LoadedConfiguration, secret: HASecret?, gateway: Gateway, audit: AuditLog, manager: ConfigurationManager,
        group: any EventLoopGroup, logger: Logger
    ) async -> PairController? {
        guard let ha = loaded.ha, let secret else { return nil }
        let controller = PairController(
            configuration: ha, secret: secret, gateway: gateway, audit: audit, host: ManagerHost(manager: manager),
            group: group, logger: logger, software: "pacsgate \(PacsgateVersion.description)")
        await manager.setGate(
            ConfigurationManager.ChangeGate(
                file: { proposed, running, forced in
                    controller.permitFileChange(proposed: proposed, running: running, forced: forced)
                },
                runtime: { forced in controller.permitRuntimeChange(forced: forced) }))
        await manager.setPairStatus { Overview.Pair(await controller.status()) }
        await manager.setSwitchover { user in
            let result = await controller.switchover(requestedBy: user)
            switch result {
            case .handedOver: return .init(handedOver: true, refused: false, message: "\(result)")
            case .refused, .notHolding, .kept: return .init(handedOver: false, refused: true, message: "\(result)")
            case .timedOut, .cancelled: return .init(handedOver: false, refused: false, message: "\(result)")
            }
        }
        await manager.onApplied { [manager] _, _ in
            await controller.configurationApplied(text: await manager.currentText, origin: "reload")
        }
        return controller
    }

    /// The services of an HA unit, in the order the service group needs. A service group stops its services from
    /// the last to the first, one at a time, so on SIGTERM an HA unit:
    /// 1. hands the virtual IPs to the peer and keeps serving new arrivals until they have gone (``PlannedStop``, last);
    /// 2. stops the services listed between (the admin server, reloads);
    /// 3. stops accepting and drains its open associations and HL7 connections within `shutdown_grace`
    ///    (`gateway`, the gateway's own drain);
    /// 4. says goodbye to the peer and closes the link (the ``PairController``, right before the gateway so it stops
    ///    after it: replication goes on while connections drain).
    /// Returns (the services to put before `gateway`, the services to put last).
    static func shutdownOrder(_ controller: PairController?) -> (beforeGateway: [any Service], last: [any Service]) {
        guard let controller else { return ([], []) }
        return ([controller], [PlannedStop(controller: controller)])
    }
}

/// On SIGTERM/SIGINT, hands the virtual IPs to the HA peer before anything else stops (see
/// ``HAWiring/shutdownOrder(_:)``).
struct PlannedStop: Service {
    let controller: PairController

    func run() async throws {
        try? await gracefulShutdown()
        guard !Task.isCancelled else { return }
        await self.controller.handOverForStop(reason: "pacsgate on \(self.controller.configuration.node) is stopping")
    }
}

/// The admin's ``ConfigurationManager`` as the HA link sees it: a synced configuration is written to the file (with
/// a backup) and applied like an upload.
struct ManagerHost: HAConfigurationHost {
    let manager: ConfigurationManager

    func runningText() async -> String {
        await self.manager.currentText
    }

    func applySynced(_ text: String, from peer: String) async -> (applied: Bool, message: String) {
        let outcome = await self.manager.upload(text, by: "ha-sync:\(peer)", forced: true)
        return (outcome.applied, outcome.message + (outcome.problems.isEmpty ? "" : ": " + outcome.problems.joined(separator: "; ")))
    }

    func parse(_ text: String) -> ConfigNode? {
        try? ConfigurationLoader.parse(yaml: text).get()
    }

    func yaml(_ node: ConfigNode) -> String {
        ConfigurationWriter.yaml(node)
    }
}

extension Overview.Pair {
    /// The overview's view of a pair status.
    init(_ status: PairStatus) {
        var reason: String?
        if case .down(let why) = status.link { reason = why }
        self.init(
            node: status.node, role: status.role.rawValue, vrrp: status.vrrp.rawValue, link: status.link.name, linkReason: reason,
            peerAddress: status.peerAddress, peerNode: status.peerNode, peerReachable: status.peerReachable,
            peerVRRP: status.peerVRRP?.rawValue, queued: status.queued, peerQueued: status.peerQueued,
            lastSync: status.lastSync?.iso8601, lastSnapshotReceived: status.lastSnapshotReceived?.iso8601,
            entriesSent: status.entriesSent, entriesReceived: status.entriesReceived, rejected: status.rejected,
            entries: status.entries, peerEntries: status.peerEntries,
            readiness: status.readiness.rawValue, peerReadiness: status.peerReadiness?.rawValue,
            lastTakeover: status.lastTakeover.map { "\($0.time.iso8601): \($0.kind) — \($0.reason)" }, takeovers: status.takeovers,
            peerGone: status.peerGone,
            configSync: status.configSync, configVersion: status.configVersion.short,
            peerConfigVersion: status.peerConfigVersion?.short, configInSync: status.configInSync,
            lastConfigSync: status.lastConfigSync.map {
                "\($0.time.iso8601): \($0.version.short) \($0.applied ? "applied" : "not applied") — \($0.message)"
            })
    }
}

import Foundation
import PacsgateAdmin
import PacsgateConfig
import PacsgateCore
import PacsgateHA

/// What the HA link needs from the application: the shared secret and the admin's configuration management.
enum HAWiring {
    struct SecretError: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads `ha.secret_file`; refuses a missing, short or world-readable file.
    static func readSecret(_ configuration: HAConfiguration) throws -> HASecret {
        let path = configuration.secretFile
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SecretError(description: "ha.secret_file '\(path)' cannot be read: \(error.localizedDescription)")
        }
        if let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber,
            mode.intValue & 0o004 != 0
        {
            throw SecretError(description: "ha.secret_file '\(path)' is readable by every user; chmod 600 it")
        }
        guard let secret = HASecret(fileText: text) else {
            throw SecretError(
                description: "ha.secret_file '\(path)' holds fewer than \(HASecret.minimumLength) bytes; make one with `openssl rand -hex 32`")
        }
        return secret
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
            configSync: status.configSync, configVersion: status.configVersion.short,
            peerConfigVersion: status.peerConfigVersion?.short, configInSync: status.configInSync,
            lastConfigSync: status.lastConfigSync.map {
                "\($0.time.iso8601): \($0.version.short) \($0.applied ? "applied" : "not applied") — \($0.message)"
            })
    }
}

import Crypto
public import PacsgateCore

/// Parses YAML into a configuration tree without validating it; `nil` when the text is not YAML.
public typealias ConfigParser = @Sendable (String) -> ConfigNode?

/// Writes a configuration tree as YAML the parser reads back into the same tree, deterministically.
public typealias ConfigWriter = @Sendable (ConfigNode) -> String

/// The rules of configuration sync, free of sockets and files.
///
/// - The pair's configuration is the primary's. Its version is the SHA-256 of its shared part (the tree without local
///   keys, in canonical YAML), so it does not change when only a local key does.
/// - The secondary applies a pushed configuration as the primary's tree with its own local keys.
/// - On the secondary, a change made directly (reload, upload, server state or weight) is refused unless forced —
///   except a file change that touches only local keys, which is this unit's own business.
public struct ConfigSyncPolicy: Sendable {
    public let role: HARole
    /// `ha.config_sync`.
    public let enabled: Bool
    public let localKeys: LocalKeys
    private let parse: ConfigParser
    private let write: ConfigWriter

    public init(role: HARole, enabled: Bool, localKeys: LocalKeys, parse: @escaping ConfigParser, write: @escaping ConfigWriter) {
        self.role = role
        self.enabled = enabled
        self.localKeys = localKeys
        self.parse = parse
        self.write = write
    }

    /// The version of a configuration text; `nil` when it does not parse.
    public func version(of text: String) -> ConfigVersion? {
        self.parse(text).map(self.version(of:))
    }

    /// The version of a configuration tree.
    public func version(of node: ConfigNode) -> ConfigVersion {
        let canonical = self.write(self.localKeys.shared(node))
        return ConfigVersion(bytes: Array(SHA256.hash(data: Array(canonical.utf8))))
    }

    /// Whether a change of the configuration file made on this unit may go ahead; the refusal otherwise.
    public func permitFileChange(proposed: String, running: String, forced: Bool, primary: String?) -> String? {
        guard self.enabled, self.role == .secondary, !forced else { return nil }
        guard let proposedVersion = self.version(of: proposed), let runningVersion = self.version(of: running) else {
            return nil  // the validation that follows reports what is wrong with the text
        }
        if proposedVersion == runningVersion { return nil }  // only local keys changed
        return Self.secondaryRefusal(primary: primary, what: "changes settings the pair shares (only local keys may be changed here)")
    }

    /// Whether a server state or weight change made on this unit may go ahead; the refusal otherwise.
    public func permitRuntimeChange(forced: Bool, primary: String?) -> String? {
        guard self.enabled, self.role == .secondary, !forced else { return nil }
        return Self.secondaryRefusal(primary: primary, what: "cannot change server states or weights")
    }

    private static func secondaryRefusal(primary: String?, what: String) -> String {
        "this unit is the HA secondary and \(what): make the change on the primary\(primary.map { " ('\($0)')" } ?? ""), which syncs it here; "
            + "to change this unit alone anyway (e.g. while the primary is down), repeat with force (?force=true, ctl --force) — the next sync from the primary replaces it"
    }

    /// What the secondary does with a pushed configuration.
    public enum Decision: Sendable, Equatable {
        /// The shared part already matches.
        case inSync
        /// Apply this text (the primary's configuration with this unit's local keys).
        case apply(String)
        /// The push cannot be used.
        case refuse(String)
    }

    /// The secondary's decision about `push`, given the configuration it runs.
    public func decide(_ push: ConfigPush, running: String, primary: String, now: WallClock.Instant = WallClock.now()) -> Decision {
        guard self.enabled else { return .refuse("config_sync is off on this unit") }
        guard self.role == .secondary else {
            return .refuse("this unit is the primary too; a pair has one primary (check ha.role on both units)")
        }
        guard let pushed = self.parse(push.text) else { return .refuse("the pushed configuration is not YAML") }
        guard let local = self.parse(running) else { return .refuse("this unit's running configuration does not parse") }
        if self.version(of: local) == self.version(of: pushed) { return .inSync }
        let merged = self.localKeys.merge(primary: pushed, local: local)
        let header = """
            # Synced from the HA primary '\(primary)' (configuration \(push.version.short), \(now.iso8601)).
            # Make changes on the primary: changes made here are refused unless forced, and the next sync replaces them.
            # This unit keeps its own values of its local keys: \(self.localKeys.paths.joined(separator: ", ")).

            """
        return .apply(header + self.write(merged))
    }
}

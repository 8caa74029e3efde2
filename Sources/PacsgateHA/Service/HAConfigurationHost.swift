public import PacsgateCore

/// What the HA link needs from the unit's configuration management (the admin's `ConfigurationManager`, wired by
/// the application): the running text, a way to apply a synced configuration with the unit's own reload, and the
/// configuration's YAML reader and writer (the HA module does not parse YAML itself).
public protocol HAConfigurationHost: Sendable {
    /// The YAML the unit runs now.
    func runningText() async -> String
    /// Replaces the configuration file with `text` (keeping a backup) and applies it like a reload, without the
    /// secondary's refusal of direct changes. Returns whether it was applied and a sentence saying what happened.
    func applySynced(_ text: String, from peer: String) async -> (applied: Bool, message: String)
    /// Parses YAML into a tree without validating it; `nil` when it is not YAML.
    func parse(_ text: String) -> ConfigNode?
    /// Writes a tree as YAML that ``parse(_:)`` reads back into the same tree, deterministically (the canonical form
    /// the pair digests).
    func yaml(_ node: ConfigNode) -> String
}

/// This build's version and commit: the one place `pacsgate --version`, the HA peer's status and the admin page
/// read them from.
///
/// `version` is the release number, changed by hand for a release (the Debian package takes it from here). The commit
/// is recorded at build time by `Plugins/BuildCommitPlugin` (git's short hash, `-modified` for a tree with
/// uncommitted changes, `unknown` where git or the checkout is absent; `PACSGATE_COMMIT` overrides it).
public enum PacsgateVersion {
    /// The release number, e.g. `0.1.0`.
    public static let version = "0.1.0"

    /// The commit this binary was built from.
    public static var commit: String { buildCommit }

    /// `0.1.0 (commit 1a2b3c4d5e6f)`: what `pacsgate --version` prints.
    public static var description: String { "\(version) (commit \(commit))" }
}

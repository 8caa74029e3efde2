/// `audit.on_failure` as an inspector applies it, handed to it in its ``ConnectionContext``: whether a new
/// association, message or forwarded connection must be refused now because the audit log cannot record it.
///
/// The decision is the core's: with `on_failure: continue` (the default) the answer is always no, without a look at
/// the log; with `refuse` it is yes while the log is failing or stalled (``AuditLog/status``).
public struct AuditRefusalPolicy: Sendable {
    /// The log whose health decides, `nil` when nothing is ever refused for the audit log.
    private let log: AuditLog?

    /// The policy of `log`'s configuration.
    public init(_ log: AuditLog) {
        self.log = log.configuration.onFailure == .refuse ? log : nil
    }

    /// Whether new work must be refused now.
    public var refusesNow: Bool {
        guard let log = self.log else { return false }
        return log.status != .ok
    }
}

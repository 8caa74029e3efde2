public import PacsgateAuditIndex

/// What the admin pages show beyond the running gateway: the audit log's search index and the recent log lines. Given by the executable; each part is optional so tests start the admin with what they need.
public struct AdminFeatures: Sendable {
    /// The audit log's search index (`nil` without `audit.path`: the audit search and reports say so).
    public var auditIndex: AuditIndex?
    /// The gateway's recent log lines (`nil`: the logs page says none are kept).
    public var logs: RecentLogLines?

    public init(auditIndex: AuditIndex? = nil, logs: RecentLogLines? = nil) {
        self.auditIndex = auditIndex
        self.logs = logs
    }
}

import NIOCore
import SQLiteNIO

/// A `WHERE` clause and its bound values, built from an ``AuditQuery``.
struct SQLFilter {
    var clauses: [String] = []
    var binds: [SQLiteData] = []

    /// `WHERE a AND b …`, or nothing.
    var whereClause: String { self.clauses.isEmpty ? "" : " WHERE " + self.clauses.joined(separator: " AND ") }

    init() {}

    init(_ query: AuditQuery) {
        if let since = query.since {
            self.clauses.append("time >= ?")
            self.binds.append(.integer(Int(since)))
        }
        if let until = query.until {
            self.clauses.append("time < ?")
            self.binds.append(.integer(Int(until)))
        }
        self.pattern("event", query.event)
        self.pattern("service", query.service)
        self.pattern("calling_ae", query.callingAE)
        self.pattern("called_ae", query.calledAE)
        if let client = query.client {
            self.range("client_ip", client.addressRange)
        }
        switch query.server {
        case .network(let network)?: self.range("server_ip", network.addressRange)
        case .label(let label)?: self.pattern("server", label)
        case nil: break
        }
        self.pattern("outcome", query.outcome)
        self.pattern("sni", query.sni)
        self.pattern("message_type", query.messageType)
        self.pattern("control_id", query.controlID)
    }

    /// `column` matches `pattern` (`*` any run, `?` one character, else literal): equality without wildcards; else
    /// SQLite's `GLOB` (with `[` made literal), narrowed by the text before the first wildcard so an index on
    /// `column` is used.
    mutating func pattern(_ column: String, _ pattern: String?) {
        guard let pattern else { return }
        guard let wildcard = pattern.firstIndex(where: { $0 == "*" || $0 == "?" }) else {
            self.clauses.append("\(column) = ?")
            self.binds.append(.text(pattern))
            return
        }
        let prefix = pattern[..<wildcard]
        if !prefix.isEmpty {
            // Every text that starts with `prefix` sorts between it and it followed by the highest code point.
            self.clauses.append("\(column) >= ? AND \(column) < ?")
            self.binds.append(.text(String(prefix)))
            self.binds.append(.text(String(prefix) + "\u{10FFFF}"))
        }
        self.clauses.append("\(column) GLOB ?")
        self.binds.append(.text(pattern.replacingOccurrences(of: "[", with: "[[]")))
    }

    /// `column` (16-byte addresses) lies within `range`.
    mutating func range(_ column: String, _ range: (lower: [UInt8], upper: [UInt8])) {
        self.clauses.append("\(column) BETWEEN ? AND ?")
        self.binds.append(.blob(ByteBuffer(bytes: range.lower)))
        self.binds.append(.blob(ByteBuffer(bytes: range.upper)))
    }
}

public import PacsgateCore

/// An `admin.login` or `admin.logout` record (docs/admin.md).
public struct AdminSessionAudit: Sendable, Equatable {
    public var time: WallClock.Instant
    /// `admin.login` or `admin.logout`.
    public var login: Bool
    /// The user name (`(unknown user)` for a failed login of a name that does not exist).
    public var user: String
    /// The client's address.
    public var client: String
    /// `ok`, `failed` or `throttled`.
    public var result: String

    public init(time: WallClock.Instant = WallClock.now(), login: Bool, user: String, client: String, result: String) {
        self.time = time
        self.login = login
        self.user = user
        self.client = client
        self.result = result
    }

    /// The record; this value is its payload.
    public var auditRecord: AuditRecord {
        var line = AuditRecord(event: self.login ? .adminLogin : .adminLogout, time: self.time)
        line.field("user", self.user)
        line.field("client", self.client)
        line.field("result", self.result)
        line.payload = self
        return line
    }
}

/// An `admin.change` record (docs/admin.md): a server's state or weight changed, or a configuration reload or upload
/// applied or refused. Written before the change is made; a change whose record cannot be written is not made.
public struct AdminChangeAudit: Sendable, Equatable {
    /// A server's state (by name) or weight (a number), as `before` and `after` write it.
    public enum Value: Sendable, Equatable, CustomStringConvertible {
        case text(String)
        case number(Int)

        public var description: String {
            switch self {
            case .text(let text): text
            case .number(let number): String(number)
            }
        }
    }

    /// What changed, with the fields each kind writes.
    public enum Change: Sendable, Equatable {
        /// `server.state` or `server.weight` of one server.
        case server(service: String, server: String, before: Value, after: Value)
        /// A configuration applied: the files' digests, the services added, removed and changed, where the previous
        /// file was kept, and the page's description of an edit.
        case applied(
            before: String, after: String, added: [String], removed: [String], changed: [String], backup: String?,
            edit: String?)
        /// A configuration refused (nothing changed): the page's description of an edit, the digests (`after` is
        /// `null` when there was no new text), the message and how many problems.
        case refused(edit: String?, before: String, after: String?, error: String, problems: Int)
    }

    public var time: WallClock.Instant
    /// Who (`alice`, a token's name, `SIGHUP`).
    public var user: String
    /// `server.state`, `server.weight`, `reload`, `upload`, `edit`, …
    public var what: String
    public var change: Change

    public init(time: WallClock.Instant = WallClock.now(), user: String, what: String, change: Change) {
        self.time = time
        self.user = user
        self.what = what
        self.change = change
    }

    /// The service of a server change.
    public var service: String? {
        if case .server(let service, _, _, _) = self.change { service } else { nil }
    }

    /// The server of a server change.
    public var server: String? {
        if case .server(_, let server, _, _) = self.change { server } else { nil }
    }

    /// `before` and `after` as text (a refused change without new text has no `after`).
    public var values: (before: String, after: String?) {
        switch self.change {
        case .server(_, _, let before, let after): (before.description, after.description)
        case .applied(let before, let after, _, _, _, _, _): (before, after)
        case .refused(_, let before, let after, _, _): (before, after)
        }
    }

    /// `result`: `applied` or `refused` for a configuration; none for a server change.
    public var result: String? {
        switch self.change {
        case .server: nil
        case .applied: "applied"
        case .refused: "refused"
        }
    }

    /// `error` of a refused configuration.
    public var error: String? {
        if case .refused(_, _, _, let error, _) = self.change { error } else { nil }
    }

    /// The record, keys in the documented order for each kind of change; this value is its payload.
    public var auditRecord: AuditRecord {
        var line = AuditRecord(event: .adminChange, time: self.time)
        line.field("user", self.user)
        line.field("what", self.what)
        switch self.change {
        case .server(let service, let server, let before, let after):
            line.field("service", service)
            line.field("server", server)
            line.field("before", before)
            line.field("after", after)
        case .applied(let before, let after, let added, let removed, let changed, let backup, let edit):
            line.field("before", before)
            line.field("after", after)
            line.field("result", "applied")
            line.field("added", added)
            line.field("removed", removed)
            line.field("changed", changed)
            line.field("backup", backup)
            if let edit { line.field("edit", edit) }
        case .refused(let edit, let before, let after, let error, let problems):
            if let edit { line.field("edit", edit) }
            line.field("before", before)
            line.field("after", after)
            line.field("result", "refused")
            line.field("error", error)
            line.field("problems", problems)
        }
        line.payload = self
        return line
    }
}

extension AuditRecord {
    fileprivate mutating func field(_ key: String, _ value: AdminChangeAudit.Value) {
        switch value {
        case .text(let text): self.field(key, text)
        case .number(let number): self.field(key, number)
        }
    }
}

/// The logged-in sessions of the admin page, as a pure state machine (time is passed in).
///
/// A session ends when it has not been used for `idleTimeout`, `lifetime` after login, at logout, or when the table
/// is full and it is the least recently used.
struct SessionTable {
    typealias Instant = ContinuousClock.Instant

    /// One logged-in browser.
    struct Session: Sendable, Equatable {
        /// The cookie value (random, 32 bytes).
        let id: String
        let user: String
        /// The token every state-changing form and request of this session must carry.
        let csrfToken: String
        let created: Instant
        var lastUsed: Instant
    }

    /// The result of presenting a session cookie.
    enum Lookup: Equatable {
        case valid(Session)
        /// It existed but timed out (it is now gone).
        case expired(user: String)
        case unknown
    }

    let idleTimeout: Duration
    let lifetime: Duration
    let capacity: Int
    private var sessions: [String: Session] = [:]

    init(idleTimeout: Duration, lifetime: Duration, capacity: Int = 1000) {
        self.idleTimeout = idleTimeout
        self.lifetime = lifetime
        self.capacity = max(1, capacity)
    }

    var count: Int { self.sessions.count }

    /// Starts a session; evicts the least recently used one when full.
    mutating func create(id: String, user: String, csrfToken: String, now: Instant) -> Session {
        _ = self.expire(now: now)
        if self.sessions.count >= self.capacity, let oldest = self.sessions.values.min(by: { $0.lastUsed < $1.lastUsed }) {
            self.sessions[oldest.id] = nil
        }
        let session = Session(id: id, user: user, csrfToken: csrfToken, created: now, lastUsed: now)
        self.sessions[id] = session
        return session
    }

    /// Finds a session and marks it used.
    mutating func lookup(_ id: String, now: Instant) -> Lookup {
        guard var session = self.sessions[id] else { return .unknown }
        if self.isExpired(session, now: now) {
            self.sessions[id] = nil
            return .expired(user: session.user)
        }
        session.lastUsed = now
        self.sessions[id] = session
        return .valid(session)
    }

    /// Ends a session (logout); returns it when it existed.
    mutating func remove(_ id: String) -> Session? {
        self.sessions.removeValue(forKey: id)
    }

    /// Ends every session of users not in `users` (a reload removed them).
    mutating func retain(users: Set<String>) -> Int {
        let before = self.sessions.count
        self.sessions = self.sessions.filter { users.contains($0.value.user) }
        return before - self.sessions.count
    }

    /// Every session (for carrying them over to a table with new timeouts).
    var allSessions: [Session] { Array(self.sessions.values) }

    /// Replaces a session's record (same id).
    mutating func replace(_ session: Session) {
        self.sessions[session.id] = session
    }

    /// Drops expired sessions; returns them.
    mutating func expire(now: Instant) -> [Session] {
        let expired = self.sessions.values.filter { self.isExpired($0, now: now) }
        for session in expired { self.sessions[session.id] = nil }
        return expired
    }

    private func isExpired(_ session: Session, now: Instant) -> Bool {
        now - session.lastUsed >= self.idleTimeout || now - session.created >= self.lifetime
    }
}

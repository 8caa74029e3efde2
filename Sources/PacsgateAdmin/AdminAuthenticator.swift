import NIOConcurrencyHelpers

/// Who is making an admin request.
public enum Principal: Sendable, Equatable {
    /// A user logged in through the page (session cookie).
    case user(name: String, sessionID: String, csrfToken: String)
    /// A script with a bearer token.
    case token(name: String)

    /// The name written to audit records: the user name, or `token:NAME`.
    public var auditName: String {
        switch self {
        case .user(let name, _, _): return name
        case .token(let name): return "token:\(name)"
        }
    }
}

/// Checks passwords, bearer tokens and session cookies; keeps the sessions and the failed-login throttle.
///
/// Thread-safe. Password checks run bcrypt on the blocking pool; everything else is a short critical section.
public final class AdminAuthenticator: Sendable {
    /// Outcome of a login attempt.
    public enum LoginResult: Sendable, Equatable {
        case success(sessionID: String, csrfToken: String)
        case failure
        case throttled(retryAfter: Duration)
    }

    /// Outcome of presenting a bearer token.
    public enum TokenResult: Sendable, Equatable {
        case valid(name: String)
        case invalid
        case throttled(retryAfter: Duration)
    }

    private struct State {
        var users: [String: AdminUser]
        var tokens: [APIToken]
        var sessions: SessionTable
        var throttle: LoginThrottle
    }

    private let state: NIOLockedValueBox<State>
    private let now: @Sendable () -> ContinuousClock.Instant

    /// - Parameter now: the clock (injected by tests).
    public init(configuration: AdminConfiguration, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.now = now
        self.state = NIOLockedValueBox(
            State(
                users: Dictionary(configuration.users.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }),
                tokens: configuration.tokens,
                sessions: SessionTable(idleTimeout: configuration.sessionTimeout, lifetime: configuration.sessionLifetime),
                throttle: LoginThrottle(attempts: configuration.loginAttempts, window: configuration.loginWindow)))
    }

    /// Applies reloaded users, tokens and timeouts. Sessions of removed users end; returns how many.
    @discardableResult
    public func update(_ configuration: AdminConfiguration) -> Int {
        self.state.withLockedValue { state in
            state.users = Dictionary(configuration.users.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            state.tokens = configuration.tokens
            var sessions = SessionTable(idleTimeout: configuration.sessionTimeout, lifetime: configuration.sessionLifetime)
            let ended = state.sessions.retain(users: Set(configuration.users.map(\.name)))
            // Carry the remaining sessions over with the new timeouts.
            sessions.adopt(from: state.sessions)
            state.sessions = sessions
            return ended
        }
    }

    /// Names of the configured users.
    public var userNames: [String] { self.state.withLockedValue { $0.users.keys.sorted() } }

    /// Whether anyone can authenticate at all (a user or a token).
    public var hasCredentials: Bool { self.state.withLockedValue { !$0.users.isEmpty || !$0.tokens.isEmpty } }

    /// Checks a user name and password from `client`; starts a session on success.
    public func login(user: String, password: String, client: String) async -> LoginResult {
        let keys: [LoginThrottle.Key] = [.client(client), .user(user)]
        let (decision, hash, fallback) = self.state.withLockedValue { state in
            (state.throttle.check(keys, now: self.now()), state.users[user]?.passwordHash, state.users.values.first?.passwordHash)
        }
        if case .refused(let retryAfter) = decision { return .throttled(retryAfter: retryAfter) }
        let matches: Bool
        if let hash {
            matches = await PasswordHasher.verify(password, hash: hash)
        } else {
            // Unknown user: spend the same time on a real hash so the answer does not tell which names exist.
            if let fallback { _ = await PasswordHasher.verify(password + "\u{1}", hash: fallback) }
            matches = false
        }
        return self.state.withLockedValue { state in
            let now = self.now()
            guard matches, state.users[user] != nil else {
                state.throttle.recordFailure(keys, now: now)
                return .failure
            }
            state.throttle.recordSuccess(keys)
            let session = state.sessions.create(
                id: Base64URL.random(bytes: 32), user: user, csrfToken: Base64URL.random(bytes: 24), now: now)
            return .success(sessionID: session.id, csrfToken: session.csrfToken)
        }
    }

    /// The principal of a session cookie, if the session is alive.
    public func session(_ id: String) -> Principal? {
        self.state.withLockedValue { state in
            switch state.sessions.lookup(id, now: self.now()) {
            case .valid(let session): return .user(name: session.user, sessionID: session.id, csrfToken: session.csrfToken)
            case .expired, .unknown: return nil
            }
        }
    }

    /// Ends a session; returns its user.
    @discardableResult
    public func logout(_ id: String) -> String? {
        self.state.withLockedValue { $0.sessions.remove(id)?.user }
    }

    /// Checks a bearer token presented by `client`.
    public func authenticate(token: String, client: String) -> TokenResult {
        let presented = APIToken.Digest(of: token)
        return self.state.withLockedValue { state in
            let now = self.now()
            let keys: [LoginThrottle.Key] = [.client(client)]
            if case .refused(let retryAfter) = state.throttle.check(keys, now: now) { return .throttled(retryAfter: retryAfter) }
            // Compare against every token (constant time each) so timing does not tell which one nearly matched.
            var found: String?
            for candidate in state.tokens where candidate.digest.matches(presented) { found = candidate.name }
            guard let found else {
                state.throttle.recordFailure(keys, now: now)
                return .invalid
            }
            return .valid(name: found)
        }
    }

    /// Open sessions (for the overview footer and tests).
    public var sessionCount: Int {
        self.state.withLockedValue { state in
            _ = state.sessions.expire(now: self.now())
            return state.sessions.count
        }
    }
}

extension SessionTable {
    /// Takes over the sessions of `other` (used when timeouts change on reload).
    mutating func adopt(from other: SessionTable) {
        for session in other.allSessions { self.replace(session) }
    }
}

import NIOConcurrencyHelpers

/// Who is making an admin request.
public enum Principal: Sendable, Equatable {
    /// A user logged in through the page (session cookie).
    case user(name: String, sessionID: String, csrfToken: String)
    /// A script with a bearer token, limited to its scope.
    case token(name: String, scope: APIToken.Scope)

    /// The name written to audit records: the user name, or `token:NAME`.
    public var auditName: String {
        switch self {
        case .user(let name, _, _): return name
        case .token(let name, _): return "token:\(name)"
        }
    }

    /// What the principal may do: a logged-in user everything, a token its scope.
    public var scope: APIToken.Scope {
        switch self {
        case .user: return .admin
        case .token(_, let scope): return scope
        }
    }
}

/// Checks passwords, bearer tokens and session cookies; keeps the sessions and the failed-login throttle.
///
/// Thread-safe. Password checks run bcrypt on the blocking pool; everything else is a short critical section.
///
/// A login attempt is counted as a failure *before* its password is hashed (a success clears it), so parallel
/// attempts cannot all pass the throttle while the first ones are still hashing. At most
/// ``VerificationLimits/perKey`` checks run at once per client address and per user name, and
/// ``VerificationLimits/total`` in all; more are answered "try again" without hashing. An unknown user name is
/// checked against a fixed dummy hash of the default cost, with the password as typed, so the answer takes as long as
/// for a real user and does not tell which names exist.
public final class AdminAuthenticator: Sendable {
    /// Checks a password against a bcrypt hash (``PasswordHasher/verify(_:hash:)``; tests inject their own).
    public typealias Verifier = @Sendable (_ password: String, _ hash: String) async -> Bool

    /// How many password checks (a few hundred milliseconds of a core each) may run at once.
    public struct VerificationLimits: Sendable, Equatable {
        /// Per client address and per user name.
        public var perKey: Int
        /// In all.
        public var total: Int

        public init(perKey: Int = 2, total: Int = 4) {
            self.perKey = max(1, perKey)
            self.total = max(1, total)
        }
    }

    /// What unknown user names are checked against: a bcrypt hash of the default cost (2^12, like
    /// `pacsgate hash-password`'s) of 32 random characters that were thrown away (made with `pacsgate hash-password`).
    static let dummyHash = "$2b$12$1GuDPwVhmnHn/P.1lJxvMubjdemxDOxpn9nBErV6VQ6KtYHKYHNOO"

    /// Outcome of a login attempt.
    public enum LoginResult: Sendable, Equatable {
        case success(sessionID: String, csrfToken: String)
        case failure
        case throttled(retryAfter: Duration)
    }

    /// Outcome of presenting a bearer token.
    public enum TokenResult: Sendable, Equatable {
        case valid(name: String, scope: APIToken.Scope)
        case invalid
        case throttled(retryAfter: Duration)
    }

    private struct State {
        var users: [String: AdminUser]
        var tokens: [APIToken]
        var sessions: SessionTable
        var throttle: LoginThrottle
        /// Password checks under way, per throttle key and in all.
        var verifying: [LoginThrottle.Key: Int] = [:]
        var verifyingTotal = 0
    }

    private let state: NIOLockedValueBox<State>
    private let now: @Sendable () -> ContinuousClock.Instant
    private let verify: Verifier
    private let limits: VerificationLimits

    /// - Parameters:
    ///   - now: the clock (injected by tests).
    ///   - verify: the password check (injected by tests).
    public init(
        configuration: AdminConfiguration, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        verify: @escaping Verifier = PasswordHasher.verify, limits: VerificationLimits = VerificationLimits()
    ) {
        self.now = now
        self.verify = verify
        self.limits = limits
        self.state = NIOLockedValueBox(
            State(
                users: Dictionary(configuration.users.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }),
                tokens: configuration.tokens,
                sessions: SessionTable(idleTimeout: configuration.sessionTimeout, lifetime: configuration.sessionLifetime),
                throttle: LoginThrottle(attempts: configuration.loginAttempts, window: configuration.loginWindow)))
    }

    /// Applies reloaded users, tokens and timeouts. Sessions of removed users, and of users whose password changed,
    /// end; returns how many.
    @discardableResult
    public func update(_ configuration: AdminConfiguration) -> Int {
        self.state.withLockedValue { state in
            let users = Dictionary(configuration.users.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            // A session stays only while its user exists with the password it logged in with.
            let unchanged = users.values.filter { state.users[$0.name]?.passwordHash == $0.passwordHash }.map(\.name)
            state.users = users
            state.tokens = configuration.tokens
            var sessions = SessionTable(idleTimeout: configuration.sessionTimeout, lifetime: configuration.sessionLifetime)
            let ended = state.sessions.retain(users: Set(unchanged))
            // Carry the remaining sessions over with the new timeouts.
            sessions.adopt(from: state.sessions)
            state.sessions = sessions
            return ended
        }
    }


    /// The configured tokens' names and scopes (never their digests).
    public var tokenScopes: [(name: String, scope: APIToken.Scope)] {
        self.state.withLockedValue { $0.tokens.map { ($0.name, $0.scope) } }
    }

    /// Names of the configured users.
    public var userNames: [String] { self.state.withLockedValue { $0.users.keys.sorted() } }

    /// Whether anyone can authenticate at all (a user or a token).
    public var hasCredentials: Bool { self.state.withLockedValue { !$0.users.isEmpty || !$0.tokens.isEmpty } }

    /// Outcome of checking a password under the failed-login throttle.
    public enum PasswordCheck: Sendable, Equatable {
        case matched
        case failed
        case throttled(retryAfter: Duration)
    }

    /// Checks a user name and password from `client`; starts a session on success.
    public func login(user: String, password: String, client: String) async -> LoginResult {
        switch await self.checkPassword(user: user, password: password, client: client) {
        case .throttled(let retryAfter): return .throttled(retryAfter: retryAfter)
        case .failed: return .failure
        case .matched:
            return self.state.withLockedValue { state in
                guard state.users[user] != nil else { return .failure }
                let session = state.sessions.create(
                    id: Base64URL.random(bytes: 32), user: user, csrfToken: Base64URL.random(bytes: 24), now: self.now())
                return .success(sessionID: session.id, csrfToken: session.csrfToken)
            }
        }
    }

    /// Checks `user`'s password from `client` under the same throttle as a login: a wrong password counts as a failed
    /// login of that client and user, a right one clears their failures. Logins and the users page's password change
    /// (which asks for the current password) both come here, so neither is a way around the other's limit.
    public func checkPassword(user: String, password: String, client: String) async -> PasswordCheck {
        let keys = [LoginThrottle.Key.client(client), .user(user)].map(\.bounded)
        let admitted = self.state.withLockedValue { state -> Result<String?, LoginResultRefusal> in
            let now = self.now()
            if case .refused(let retryAfter) = state.throttle.check(keys, now: now) {
                return .failure(LoginResultRefusal(retryAfter: retryAfter))
            }
            if state.verifyingTotal >= self.limits.total || keys.contains(where: { state.verifying[$0, default: 0] >= self.limits.perKey }) {
                return .failure(LoginResultRefusal(retryAfter: .seconds(1)))
            }
            // Counted before the hash is checked: parallel attempts see each other. A success clears it.
            state.throttle.recordFailure(keys, now: now)
            for key in keys { state.verifying[key, default: 0] += 1 }
            state.verifyingTotal += 1
            return .success(state.users[user]?.passwordHash)
        }
        let hash: String?
        switch admitted {
        case .failure(let refusal): return .throttled(retryAfter: refusal.retryAfter)
        case .success(let known): hash = known
        }
        // An unknown user costs the same check, of the password as typed, so the answer does not tell which names exist.
        let matches = await self.verify(password, hash ?? Self.dummyHash)
        return self.state.withLockedValue { state in
            for key in keys {
                let left = state.verifying[key, default: 1] - 1
                state.verifying[key] = left > 0 ? left : nil
            }
            state.verifyingTotal -= 1
            guard matches, let hash, state.users[user]?.passwordHash == hash else { return .failed }
            state.throttle.recordSuccess(keys)
            return .matched
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
            let keys: [LoginThrottle.Key] = [LoginThrottle.Key.client(client).bounded]
            if case .refused(let retryAfter) = state.throttle.check(keys, now: now) { return .throttled(retryAfter: retryAfter) }
            // Compare against every token (constant time each) so timing does not tell which one nearly matched.
            var found: APIToken?
            for candidate in state.tokens where candidate.digest.matches(presented) { found = candidate }
            guard let found else {
                state.throttle.recordFailure(keys, now: now)
                return .invalid
            }
            return .valid(name: found.name, scope: found.scope)
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

/// A login refused before its password is checked (throttled, or too many checks under way).
private struct LoginResultRefusal: Error {
    var retryAfter: Duration
}

extension SessionTable {
    /// Takes over the sessions of `other` (used when timeouts change on reload).
    mutating func adopt(from other: SessionTable) {
        for session in other.allSessions { self.replace(session) }
    }
}

/// Limits failed logins, as a pure state machine (time is passed in).
///
/// Failures are counted per client address (`attempts` within `window`) and per user name (four times as many, so one
/// noisy address cannot lock a colleague out, but a spread-out guess at one account is still stopped). While a key
/// is over its limit, logins for it are refused without checking the password; the block lifts when its oldest
/// failure leaves the window. A success clears the failures of that address and user.
struct LoginThrottle {
    typealias Instant = ContinuousClock.Instant

    /// What may be throttled.
    enum Key: Hashable {
        case client(String)
        case user(String)

        /// The longest key kept: a user name is whatever a request's body says, so the table would otherwise hold
        /// as many bytes as an attacker sends (valid user names are at most 64 bytes).
        static let maximumBytes = 64

        /// The key cut to ``maximumBytes``.
        var bounded: Key {
            switch self {
            case .client(let text): return .client(Self.cut(text))
            case .user(let text): return .user(Self.cut(text))
            }
        }

        private static func cut(_ text: String) -> String {
            text.utf8.count <= Self.maximumBytes ? text : String(decoding: text.utf8.prefix(Self.maximumBytes), as: UTF8.self)
        }
    }

    enum Decision: Equatable {
        case allowed
        case refused(retryAfter: Duration)
    }

    let attempts: Int
    let window: Duration
    let capacity: Int
    private var failures: [Key: [Instant]] = [:]

    init(attempts: Int, window: Duration, capacity: Int = 10_000) {
        self.attempts = max(1, attempts)
        self.window = window
        self.capacity = max(1, capacity)
    }

    private func limit(of key: Key) -> Int {
        switch key {
        case .client: return self.attempts
        case .user: return self.attempts * 4
        }
    }

    /// Whether a login for these keys may be tried now.
    mutating func check(_ keys: [Key], now: Instant) -> Decision {
        var wait: Duration = .zero
        for key in keys.map(\.bounded) {
            self.prune(key, now: now)
            guard let list = self.failures[key], list.count >= self.limit(of: key) else { continue }
            // The block lifts when enough failures have left the window to be under the limit again.
            let freeing = list[list.count - self.limit(of: key)]
            wait = max(wait, freeing + self.window - now)
        }
        return wait > .zero ? .refused(retryAfter: wait) : .allowed
    }

    /// Counts a failed login (or a bad bearer token) against every key.
    mutating func recordFailure(_ keys: [Key], now: Instant) {
        if self.failures.count >= self.capacity { self.pruneAll(now: now) }
        if self.failures.count >= self.capacity, let victim = self.failures.min(by: { ($0.value.last ?? now) < ($1.value.last ?? now) })?.key {
            self.failures[victim] = nil
        }
        for key in keys.map(\.bounded) {
            self.prune(key, now: now)
            var list = self.failures[key] ?? []
            list.append(now)
            // Keep no more than the limit needs.
            if list.count > self.limit(of: key) { list.removeFirst(list.count - self.limit(of: key)) }
            self.failures[key] = list
        }
    }

    /// A successful login clears its keys.
    mutating func recordSuccess(_ keys: [Key]) {
        for key in keys.map(\.bounded) { self.failures[key] = nil }
    }

    /// Number of failures currently counted for `key`.
    func failureCount(_ key: Key) -> Int { self.failures[key.bounded]?.count ?? 0 }

    /// The bytes of every key held (for tests of the bound).
    var keyBytes: Int {
        self.failures.keys.reduce(0) { total, key in
            switch key {
            case .client(let text), .user(let text): return total + text.utf8.count
            }
        }
    }

    private mutating func prune(_ key: Key, now: Instant) {
        guard var list = self.failures[key] else { return }
        list.removeAll { now - $0 >= self.window }
        self.failures[key] = list.isEmpty ? nil : list
    }

    private mutating func pruneAll(now: Instant) {
        for key in Array(self.failures.keys) { self.prune(key, now: now) }
    }
}

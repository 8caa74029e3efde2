import NIOConcurrencyHelpers
@testable import PacsgateAdmin
import Testing

/// The pure state machines of authentication: sessions and the failed-login throttle, with an injected clock.
@Suite("Sessions and login throttle")
struct StateMachineTests {
    let start = ContinuousClock.now

    @Test("a session expires after the idle timeout, however recently it was created, and at its lifetime")
    func sessionTimeouts() {
        var table = SessionTable(idleTimeout: .seconds(60), lifetime: .seconds(300))
        let session = table.create(id: "s1", user: "alice", csrfToken: "c1", now: self.start)
        #expect(table.lookup("s1", now: self.start + .seconds(59)) == .valid(SessionTable.Session(id: "s1", user: "alice", csrfToken: "c1", created: session.created, lastUsed: self.start + .seconds(59))))
        // Use keeps it alive past the first minute…
        for minute in 1...4 {
            guard case .valid = table.lookup("s1", now: self.start + .seconds(50 * minute + 59)) else {
                Issue.record("session ended at use \(minute)")
                return
            }
        }
        // …but not past its lifetime.
        #expect(table.lookup("s1", now: self.start + .seconds(300)) == .expired(user: "alice"))
        #expect(table.lookup("s1", now: self.start + .seconds(301)) == .unknown)

        _ = table.create(id: "s2", user: "bob", csrfToken: "c2", now: self.start)
        #expect(table.lookup("s2", now: self.start + .seconds(60)) == .expired(user: "bob"))
        #expect(table.lookup("nope", now: self.start) == .unknown)
    }

    @Test("logout removes a session; a full table evicts the least recently used; removed users lose their sessions")
    func sessionCapacity() {
        var table = SessionTable(idleTimeout: .seconds(600), lifetime: .seconds(3600), capacity: 2)
        _ = table.create(id: "a", user: "alice", csrfToken: "x", now: self.start)
        _ = table.create(id: "b", user: "bob", csrfToken: "y", now: self.start + .seconds(1))
        _ = table.lookup("a", now: self.start + .seconds(2))
        _ = table.create(id: "c", user: "carol", csrfToken: "z", now: self.start + .seconds(3))
        #expect(table.count == 2)
        #expect(table.lookup("b", now: self.start + .seconds(4)) == .unknown, "bob's session was the least recently used")
        #expect(table.remove("a")?.user == "alice")
        #expect(table.lookup("a", now: self.start + .seconds(4)) == .unknown)
        #expect(table.retain(users: ["alice"]) == 1)
        #expect(table.count == 0)
    }

    @Test("N failures from one address within the window block it until the oldest failure leaves the window")
    func throttleByClient() {
        var throttle = LoginThrottle(attempts: 3, window: .seconds(60))
        let keys: [LoginThrottle.Key] = [.client("10.0.0.1"), .user("alice")]
        for second in 0..<3 {
            #expect(throttle.check(keys, now: self.start + .seconds(second)) == .allowed)
            throttle.recordFailure(keys, now: self.start + .seconds(second))
        }
        #expect(throttle.check(keys, now: self.start + .seconds(10)) == .refused(retryAfter: .seconds(50)))
        // Another address may still try the same user (the user limit is four times higher).
        #expect(throttle.check([.client("10.0.0.2"), .user("alice")], now: self.start + .seconds(10)) == .allowed)
        #expect(throttle.check(keys, now: self.start + .seconds(60)) == .allowed)
        // Failures at 2 s, 61 s and 61 s: blocked until the one at 2 s is a minute old.
        throttle.recordFailure(keys, now: self.start + .seconds(61))
        #expect(throttle.check(keys, now: self.start + .seconds(61)) == .allowed)
        throttle.recordFailure(keys, now: self.start + .seconds(61))
        #expect(throttle.check(keys, now: self.start + .seconds(61)) == .refused(retryAfter: .seconds(1)))
    }

    @Test("a user name is blocked after four times the per-address limit, from any mix of addresses; success clears")
    func throttleByUser() {
        var throttle = LoginThrottle(attempts: 2, window: .seconds(60))
        for index in 0..<8 {
            throttle.recordFailure([.client("10.0.0.\(index)"), .user("alice")], now: self.start)
        }
        guard case .refused = throttle.check([.client("10.9.9.9"), .user("alice")], now: self.start + .seconds(1)) else {
            Issue.record("eight failures for one user from eight addresses did not block the user")
            return
        }
        #expect(throttle.check([.client("10.9.9.9"), .user("bob")], now: self.start + .seconds(1)) == .allowed)
        throttle.recordSuccess([.user("alice")])
        #expect(throttle.failureCount(.user("alice")) == 0)
    }

    @Test("the authenticator: right password starts a session, wrong ones fail, tokens compare by digest")
    func authenticator() async {
        let clock = ManualClock(self.start)
        var configuration = AdminHarness.defaultAdmin
        configuration.sessionTimeout = .seconds(60)
        let authenticator = AdminAuthenticator(configuration: configuration, now: { clock.now })
        guard case .success(let id, let csrf) = await authenticator.login(user: "alice", password: AdminHarness.password, client: "c")
        else {
            Issue.record("login failed")
            return
        }
        #expect(csrf.count >= 32)
        #expect(authenticator.session(id) == .user(name: "alice", sessionID: id, csrfToken: csrf))
        clock.advance(.seconds(61))
        #expect(authenticator.session(id) == nil, "idle sessions expire")
        #expect(await authenticator.login(user: "alice", password: "nope", client: "c") == .failure)
        #expect(await authenticator.login(user: "nobody", password: AdminHarness.password, client: "c") == .failure)
        #expect(await authenticator.login(user: "alice", password: AdminHarness.password + "\u{0}x", client: "d") == .failure)
        #expect(authenticator.authenticate(token: AdminHarness.token, client: "c") == .valid(name: "ci", scope: .admin))
        #expect(authenticator.authenticate(token: AdminHarness.token + "x", client: "e") == .invalid)
        // A reload that removes alice ends her sessions.
        guard case .success(let second, _) = await authenticator.login(user: "alice", password: AdminHarness.password, client: "f") else {
            Issue.record("second login failed")
            return
        }
        var without = configuration
        without.users = []
        #expect(authenticator.update(without) == 1)
        #expect(authenticator.session(second) == nil)
    }
}

/// A clock tests move by hand.
final class ManualClock: Sendable {
    private let instant: NIOLockedValueBox<ContinuousClock.Instant>
    init(_ start: ContinuousClock.Instant) { self.instant = NIOLockedValueBox(start) }
    var now: ContinuousClock.Instant { self.instant.withLockedValue { $0 } }
    func advance(_ by: Duration) { self.instant.withLockedValue { $0 = $0 + by } }
}

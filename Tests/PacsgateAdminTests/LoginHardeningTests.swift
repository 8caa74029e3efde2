import NIOConcurrencyHelpers
import PacsgateTestSupport
import Testing

@testable import PacsgateAdmin

/// Logins as an attacker tries them: many at once, for names that do not exist, with names as long as the body.
@Suite("Login hardening")
struct LoginHardeningTests {
    /// A password check that records what it was asked and waits until the test opens the gate.
    final class GatedVerifier: Sendable {
        private struct State {
            var calls: [(password: String, hash: String)] = []
            var open = false
            var waiting: [CheckedContinuation<Void, Never>] = []
        }

        private let state = NIOLockedValueBox(State())

        var calls: [(password: String, hash: String)] { self.state.withLockedValue { $0.calls } }

        var verify: AdminAuthenticator.Verifier {
            { password, hash in
                await withCheckedContinuation { continuation in
                    let resume = self.state.withLockedValue { state -> Bool in
                        state.calls.append((password, hash))
                        if state.open { return true }
                        state.waiting.append(continuation)
                        return false
                    }
                    if resume { continuation.resume() }
                }
                return hash == AdminHarness.passwordHash && password == AdminHarness.password
            }
        }

        func open() {
            let waiting = self.state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
                state.open = true
                defer { state.waiting.removeAll() }
                return state.waiting
            }
            for continuation in waiting { continuation.resume() }
        }
    }

    /// Starts `count` logins at once; returns their results once the gate opens.
    static func parallelLogins(
        _ authenticator: AdminAuthenticator, _ verifier: GatedVerifier, count: Int,
        user: @escaping @Sendable (Int) -> String = { _ in "alice" }, client: @escaping @Sendable (Int) -> String = { _ in "10.0.0.9" },
        whileWaiting: @Sendable () async -> Void
    ) async -> [AdminAuthenticator.LoginResult] {
        await withTaskGroup(of: AdminAuthenticator.LoginResult.self) { group in
            for index in 0..<count {
                group.addTask { await authenticator.login(user: user(index), password: "wrong password", client: client(index)) }
            }
            await whileWaiting()
            verifier.open()
            var results: [AdminAuthenticator.LoginResult] = []
            for await result in group { results.append(result) }
            return results
        }
    }

    static func throttled(_ results: [AdminAuthenticator.LoginResult]) -> Int {
        results.filter { if case .throttled = $0 { return true } else { return false } }.count
    }

    @Test("an attempt counts before its password is checked: 20 at once against login_attempts 5 check 5 passwords")
    func countedBeforeHashing() async {
        var configuration = AdminHarness.defaultAdmin
        configuration.loginAttempts = 5
        let verifier = GatedVerifier()
        let authenticator = AdminAuthenticator(
            configuration: configuration, verify: verifier.verify, limits: .init(perKey: 100, total: 100))
        let results = await Self.parallelLogins(authenticator, verifier, count: 20) {
            // Every attempt has either reached the check or been refused before it.
            _ = await eventually(timeout: .seconds(5)) { verifier.calls.count + 0 >= 5 }
            try? await Task.sleep(for: .milliseconds(200))
        }
        #expect(verifier.calls.count == 5, "passwords checked: \(verifier.calls.count)")
        #expect(Self.throttled(results) == 15)
        #expect(results.filter { $0 == .failure }.count == 5)
    }

    @Test("at most 2 checks run at once per client and user, and 4 in all; more are answered 'try again' unchecked")
    func concurrentChecksAreCapped() async {
        var configuration = AdminHarness.defaultAdmin
        configuration.loginAttempts = 1000
        let sameKey = GatedVerifier()
        let oneClient = AdminAuthenticator(configuration: configuration, verify: sameKey.verify)
        let fromOneClient = await Self.parallelLogins(oneClient, sameKey, count: 10) {
            _ = await eventually(timeout: .seconds(5)) { sameKey.calls.count >= 2 }
            try? await Task.sleep(for: .milliseconds(200))
        }
        #expect(sameKey.calls.count == 2)
        #expect(Self.throttled(fromOneClient) == 8)

        let manyKeys = GatedVerifier()
        let everyone = AdminAuthenticator(configuration: configuration, verify: manyKeys.verify)
        let fromMany = await Self.parallelLogins(
            everyone, manyKeys, count: 10, user: { "user\($0)" }, client: { "10.0.0.\($0)" }
        ) {
            _ = await eventually(timeout: .seconds(5)) { manyKeys.calls.count >= 4 }
            try? await Task.sleep(for: .milliseconds(200))
        }
        #expect(manyKeys.calls.count == 4)
        #expect(Self.throttled(fromMany) == 6)
    }

    @Test("an unknown user's password is checked, as typed, against a fixed dummy hash of the default cost")
    func unknownUserCostsTheSame() async throws {
        let verifier = GatedVerifier()
        verifier.open()
        let authenticator = AdminAuthenticator(configuration: AdminHarness.defaultAdmin, verify: verifier.verify)
        // 72 bytes: the longest password bcrypt takes. Appending to it would make a 73-byte input that is refused
        // without hashing — a timing difference.
        let password = String(repeating: "p", count: 72)
        #expect(await authenticator.login(user: "nobody", password: password, client: "c") == .failure)
        #expect(verifier.calls.map(\.password) == [password])
        #expect(verifier.calls.map(\.hash) == [AdminAuthenticator.dummyHash])

        // With tokens but no users, an unknown name is checked all the same.
        var tokensOnly = AdminHarness.defaultAdmin
        tokensOnly.users = []
        let noUsers = GatedVerifier()
        noUsers.open()
        let second = AdminAuthenticator(configuration: tokensOnly, verify: noUsers.verify)
        #expect(await second.login(user: "admin", password: "guess", client: "c") == .failure)
        #expect(noUsers.calls.map(\.hash) == [AdminAuthenticator.dummyHash])

        #expect(PasswordHasher.isWellFormedHash(AdminAuthenticator.dummyHash))
        #expect(AdminAuthenticator.dummyHash.hasPrefix("$2b$\(PasswordHasher.defaultCost)$"))
        #expect(await PasswordHasher.verify(password, hash: AdminAuthenticator.dummyHash) == false)
    }

    @Test("throttle keys keep at most 64 bytes of a user name, however long the request's")
    func keysAreBounded() {
        var throttle = LoginThrottle(attempts: 5, window: .seconds(60))
        let long = String(repeating: "n", count: 100_000)
        throttle.recordFailure([.client("10.0.0.9"), .user(long)], now: .now)
        #expect(throttle.keyBytes == 8 + 64)
        // Names that share their first 64 bytes share a key.
        throttle.recordFailure([.user(String(repeating: "n", count: 64) + "other")], now: .now)
        #expect(throttle.failureCount(.user(String(repeating: "n", count: 64))) == 2)
    }

    @Test("a password change ends the user's sessions; an unchanged one keeps them")
    func passwordChangeEndsSessions() async throws {
        let configuration = AdminHarness.defaultAdmin
        let authenticator = AdminAuthenticator(configuration: configuration)
        guard case .success(let id, _) = await authenticator.login(user: "alice", password: AdminHarness.password, client: "c") else {
            Issue.record("login failed")
            return
        }
        #expect(authenticator.update(configuration) == 0)
        #expect(authenticator.session(id) != nil, "a reload without changes keeps the session")
        var changed = configuration
        changed.users = [AdminUser(name: "alice", passwordHash: try PasswordHasher.hash("a new password, long enough", cost: 4))]
        #expect(authenticator.update(changed) == 1)
        #expect(authenticator.session(id) == nil, "the session of the old password ended")
    }
}

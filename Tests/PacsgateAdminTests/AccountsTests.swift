import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
@testable import PacsgateAdmin
import PacsgateCore
import PacsgateTestSupport
import Testing

/// Users and tokens changed in the page and the API: written to the file's `admin:` section like every other edit
/// (backup, reload, audit record), taking effect at once.
@Suite("Users and tokens in the page")
struct AccountsTests {
    /// A file whose admin section holds the users and tokens the tests log in with.
    static func gateway() async throws -> (AdminHarness, TestBackend) {
        let backend = try await TestBackend.start("N1")
        let yaml = "services:\n" + serviceYAML("SVC", port: try Ports.free(), backends: [backend]) + """
            # Who may use the admin.
            admin:
              listen: "127.0.0.1:\(try Ports.free())"
              users:
                - { name: alice, password_hash: "\(AdminHarness.passwordHash)" }   # the operator
              tokens:
                - { name: ci, token_hash: "\(APIToken.Digest(of: AdminHarness.token))", scope: admin }

            """
        let harness = try await AdminHarness.start(yaml: yaml)
        // What the running admin server does with an applied configuration (AdminServer.run).
        let authenticator = harness.routes.authenticator
        await harness.manager.onApplied { _, admin in
            if let admin { authenticator.update(admin) }
        }
        return (harness, backend)
    }

    static func formHeaders(_ session: AdminAPITests.Session) -> HTTPFields {
        var headers = session.headers
        headers[.contentType] = "application/x-www-form-urlencoded"
        return headers
    }

    @Test("a user changes their own password: the current one is checked, the file gets the new hash, the old one stops working")
    func changeOwnPassword() async throws {
        let (harness, backend) = try await Self.gateway()
        let newPassword = "a much longer new passphrase"
        try await harness.application.test(.router) { client in
            let session = try await AdminAPITests.login(client)
            let page = try await client.execute(uri: "/users", method: .get, headers: session.headers)
            #expect(page.text.contains("data-user=\"alice\""))
            #expect(page.text.contains("data-token=\"ci\""))
            #expect(!page.text.contains("sha256:"), "no digest on the page")

            let wrong = try await client.execute(
                uri: "/users/password", method: .post, headers: Self.formHeaders(session),
                body: AdminAPITests.form(["csrf": session.csrf, "current": "not the password", "password": newPassword, "repeat": newPassword]))
            #expect(wrong.status == .forbidden)
            #expect(wrong.text.contains("the current password is wrong"))
            #expect(try String(contentsOfFile: harness.configPath, encoding: .utf8).contains(AdminHarness.passwordHash))

            let noToken = try await client.execute(
                uri: "/users/password", method: .post, headers: Self.formHeaders(session),
                body: AdminAPITests.form(["current": AdminHarness.password, "password": newPassword, "repeat": newPassword]))
            #expect(noToken.status == .forbidden, "no CSRF token")

            let changed = try await client.execute(
                uri: "/users/password", method: .post, headers: Self.formHeaders(session),
                body: AdminAPITests.form(["csrf": session.csrf, "current": AdminHarness.password, "password": newPassword, "repeat": newPassword]))
            #expect(changed.status == .seeOther, "\(changed.text)")
            let file = try String(contentsOfFile: harness.configPath, encoding: .utf8)
            #expect(!file.contains(AdminHarness.passwordHash))
            #expect(file.contains("    - { name: alice, password_hash: \"$2b$"), "\(file)")
            #expect(file.contains("}   # the operator\n"), "the line's comment after the item stays")
            #expect(try await AdminAPITests.postLogin(client, user: "alice", password: AdminHarness.password).status == .unauthorized)
            #expect(try await AdminAPITests.postLogin(client, user: "alice", password: newPassword).status == .seeOther)
        }
        let record = try #require(harness.auditRecords("admin.change").last)
        #expect(record["edit"] as? String == "user.password alice")
        #expect(record["result"] as? String == "applied")
        #expect(!harness.audit.recent(limit: 100, event: "admin.change").joined().contains("$2b$"), "no hash in the audit trail")
        #expect(await harness.manager.backups().count == 1)
        await harness.stop()
        await backend.kill()
    }

    /// Posts the users page's password change with `current` as the current password.
    static func changePassword(_ session: AdminAPITests.Session, _ client: some TestClientProtocol, current: String) async throws -> TestResponse {
        let newPassword = "a much longer new passphrase"
        return try await client.execute(
            uri: "/users/password", method: .post, headers: Self.formHeaders(session),
            body: AdminAPITests.form(["csrf": session.csrf, "current": current, "password": newPassword, "repeat": newPassword]))
    }

    @Test("guessing the current password on the users page is throttled like a login: after five wrong ones even the right one waits, and so does a login")
    func currentPasswordIsThrottled() async throws {
        let (harness, backend) = try await Self.gateway()
        try await harness.application.test(.router) { client in
            let session = try await AdminAPITests.login(client)
            for guess in 1...5 {
                let wrong = try await Self.changePassword(session, client, current: "guess \(guess)")
                #expect(wrong.status == .forbidden, "guess \(guess)")
            }
            let right = try await Self.changePassword(session, client, current: AdminHarness.password)
            #expect(right.status == .tooManyRequests)
            #expect(right.text.contains("too many failed attempts"))
            #expect(try String(contentsOfFile: harness.configPath, encoding: .utf8).contains(AdminHarness.passwordHash), "unchanged")
            #expect(try await AdminAPITests.postLogin(client, user: "alice", password: AdminHarness.password).status == .tooManyRequests)
        }
        #expect(harness.auditRecords("admin.change").isEmpty)
        await harness.stop()
        await backend.kill()
    }

    @Test("an administrator adds a user, who can log in, and removes them; nobody removes themselves")
    func addAndRemoveUser() async throws {
        let (harness, backend) = try await Self.gateway()
        try await harness.application.test(.router) { client in
            let session = try await AdminAPITests.login(client)
            let added = try await client.execute(
                uri: "/users/add", method: .post, headers: Self.formHeaders(session),
                body: AdminAPITests.form(["csrf": session.csrf, "name": "bob", "password": "bob's long password"]))
            #expect(added.status == .ok)
            #expect(added.text.contains("data-user=\"bob\""))
            #expect(try await AdminAPITests.postLogin(client, user: "bob", password: "bob's long password").status == .seeOther)

            let yourself = try await client.execute(
                uri: "/users/remove", method: .post, headers: Self.formHeaders(session),
                body: AdminAPITests.form(["csrf": session.csrf, "name": "alice"]))
            #expect(yourself.status == .conflict)

            let removed = try await client.execute(
                uri: "/users/remove", method: .post, headers: Self.formHeaders(session),
                body: AdminAPITests.form(["csrf": session.csrf, "name": "bob"]))
            #expect(removed.status == .ok)
            #expect(!removed.text.contains("data-user=\"bob\""))
            #expect(try await AdminAPITests.postLogin(client, user: "bob", password: "bob's long password").status == .unauthorized)
            #expect(!(try String(contentsOfFile: harness.configPath, encoding: .utf8)).contains("bob"))
        }
        let edits = harness.auditRecords("admin.change").compactMap { $0["edit"] as? String }
        #expect(edits == ["user.add bob", "user.remove bob"])
        await harness.stop()
        await backend.kill()
    }

    @Test("an administrator creates a token with a scope (shown once, its digest in the file) and removes it")
    func tokens() async throws {
        let (harness, backend) = try await Self.gateway()
        let admin: HTTPFields = [.authorization: "Bearer \(AdminHarness.token)", .contentType: "application/json"]
        try await harness.application.test(.router) { client in
            let created = try await client.execute(
                uri: "/api/v1/tokens", method: .post, headers: admin, body: ByteBuffer(string: #"{"name": "nightly", "scope": "operate"}"#))
            #expect(created.status == .ok, "\(created.text)")
            let token = try #require(created.json["token"] as? String)
            let file = try String(contentsOfFile: harness.configPath, encoding: .utf8)
            #expect(file.contains("    - { name: nightly, token_hash: \"\(APIToken.Digest(of: token))\", scope: operate }"), "\(file)")
            #expect(!file.contains(token))

            let bearer: HTTPFields = [.authorization: "Bearer \(token)"]
            #expect(try await client.execute(uri: "/api/v1/overview", method: .get, headers: bearer).status == .ok)
            #expect(try await client.execute(uri: "/api/v1/config/backups", method: .get, headers: bearer).status == .forbidden, "operate < admin")

            let removed = try await client.execute(uri: "/api/v1/tokens/nightly", method: .delete, headers: admin)
            #expect(removed.status == .ok, "\(removed.text)")
            #expect(try await client.execute(uri: "/api/v1/overview", method: .get, headers: bearer).status == .unauthorized)
            #expect(try await client.execute(uri: "/api/v1/tokens/nightly", method: .delete, headers: admin).status == .conflict, "already gone")
        }
        let edits = harness.auditRecords("admin.change").compactMap { $0["edit"] as? String }
        #expect(edits == ["token.add nightly (scope operate)", "token.remove nightly", "token.remove nightly"])
        await harness.stop()
        await backend.kill()
    }
}

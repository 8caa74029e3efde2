import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import PacsgateAdmin
import PacsgateCore
import PacsgateTestSupport
import Testing

/// The admin API and page through the router: authentication, CSRF, runtime control, configuration upload.
@Suite("Admin API")
struct AdminAPITests {
    /// A logged-in browser session.
    struct Session {
        var cookie: String
        var csrf: String
        var headers: HTTPFields { [.cookie: self.cookie] }
    }

    static func cookies(_ response: TestResponse) -> [String: String] {
        var result: [String: String] = [:]
        for header in response.headers[values: .setCookie] {
            guard let pair = header.split(separator: ";").first else { continue }
            let parts = pair.split(separator: "=", maxSplits: 1)
            result[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return result
    }

    static func form(_ fields: [String: String]) -> ByteBuffer {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        return ByteBuffer(
            string: fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }
                .joined(separator: "&"))
    }

    static let formHeaders: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    /// Logs in through the form; returns the response of the POST.
    static func postLogin(_ client: some TestClientProtocol, user: String, password: String) async throws -> TestResponse {
        let form = try await client.execute(uri: "/login", method: .get)
        let loginCookie = try #require(Self.cookies(form)["pacsgate-login"])
        #expect(form.text.contains("name=\"csrf\" value=\"\(loginCookie)\""))
        var headers = Self.formHeaders
        headers[.cookie] = "pacsgate-login=\(loginCookie)"
        return try await client.execute(
            uri: "/login", method: .post, headers: headers, body: Self.form(["user": user, "password": password, "csrf": loginCookie]))
    }

    static func login(_ client: some TestClientProtocol, user: String = "alice", password: String = AdminHarness.password) async throws -> Session {
        let response = try await Self.postLogin(client, user: user, password: password)
        #expect(response.status == .seeOther)
        let session = try #require(Self.cookies(response)["pacsgate-session"])
        let page = try await client.execute(uri: "/", method: .get, headers: [.cookie: "pacsgate-session=\(session)"])
        #expect(page.status == .ok)
        let marker = "<meta name=\"csrf-token\" content=\""
        let start = try #require(page.text.range(of: marker)?.upperBound)
        let csrf = String(page.text[start...].prefix { $0 != "\"" })
        return Session(cookie: "pacsgate-session=\(session)", csrf: csrf)
    }

    static func twoServerGateway(loginAttempts: Int = 5) async throws -> (AdminHarness, TestBackend, TestBackend) {
        let a = try await TestBackend.start("A")
        let b = try await TestBackend.start("B")
        let yaml = "services:\n" + serviceYAML("SVC", port: try Ports.free(), backends: [a, b])
        var admin = AdminHarness.defaultAdmin
        admin.loginAttempts = loginAttempts
        return (try await AdminHarness.start(yaml: yaml, admin: admin), a, b)
    }

    static func state(_ harness: AdminHarness, _ server: String) async -> ServerAdminState? {
        await harness.gateway.service("SVC")?.pool.snapshot().first { $0.label == server }?.adminState
    }

    @Test("requests without credentials or with a wrong token get 401 and change nothing")
    func unauthenticated() async throws {
        // Enough attempts that the throttle (tested on its own) does not answer 429 first.
        let (harness, a, b) = try await Self.twoServerGateway(loginAttempts: 100)
        try await harness.application.test(.router) { client in
            for (uri, method) in [
                ("/api/v1/overview", HTTPRequest.Method.get), ("/api/v1/audit", .get), ("/api/v1/config", .get),
                ("/metrics", .get), ("/api/v1/reload", .post), ("/api/v1/services/SVC/servers/A/state", .post),
                ("/api/v1/services/SVC/servers/A/weight", .put), ("/api/v1/config", .post),
            ] {
                let body = ByteBuffer(string: method == .put ? #"{"weight": 0}"# : #"{"state": "halt"}"#)
                let anonymous = try await client.execute(uri: uri, method: method, body: body)
                #expect(anonymous.status == .unauthorized, "\(method) \(uri) without credentials")
                #expect(anonymous.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                #expect(anonymous.json["error"] is String)
                let wrong = try await client.execute(
                    uri: uri, method: method, headers: [.authorization: "Bearer not-the-token-but-long-enough"], body: body)
                #expect(wrong.status == .unauthorized, "\(method) \(uri) with a wrong token")
                let forged = try await client.execute(
                    uri: uri, method: method, headers: [.cookie: "pacsgate-session=forged-session-id"], body: body)
                #expect(forged.status == .unauthorized, "\(method) \(uri) with an unknown session")
            }
            // The page sends people to the login form instead.
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .seeOther)
            #expect(page.headers[.location] == "/login")
            let action = try await client.execute(
                uri: "/actions/state", method: .post, headers: Self.formHeaders,
                body: Self.form(["service": "SVC", "server": "A", "state": "halt", "csrf": "x"]))
            #expect(action.status == .unauthorized)
        }
        #expect(await Self.state(harness, "A") == .online)
        #expect(await Self.state(harness, "B") == .online)
        #expect(await harness.gateway.service("SVC")?.pool.snapshot().allSatisfy { $0.weight == 100 } == true)
        #expect(harness.auditRecords("admin.change").isEmpty)
        await harness.stop()
        await a.kill()
        await b.kill()
    }

    @Test("a wrong password gets 401, no session, and an audit record without the password")
    func wrongPassword() async throws {
        let (harness, a, b) = try await Self.twoServerGateway()
        try await harness.application.test(.router) { client in
            let wrong = try await Self.postLogin(client, user: "alice", password: "not the password")
            #expect(wrong.status == .unauthorized)
            #expect(Self.cookies(wrong)["pacsgate-session"] == nil)
            #expect(wrong.text.contains("Wrong user name or password"))
            let unknown = try await Self.postLogin(client, user: "mallory", password: AdminHarness.password)
            #expect(unknown.status == .unauthorized)
            #expect(Self.cookies(unknown)["pacsgate-session"] == nil)
            // Without the login form's token the attempt is refused before the password is looked at.
            let forged = try await client.execute(
                uri: "/login", method: .post, headers: Self.formHeaders,
                body: Self.form(["user": "alice", "password": AdminHarness.password, "csrf": "guess"]))
            #expect(forged.status == .forbidden)
            #expect(Self.cookies(forged)["pacsgate-session"] == nil)
        }
        let records = harness.auditRecords("admin.login")
        #expect(records.map { $0["result"] as? String } == ["failed", "failed"])
        #expect(records.map { $0["user"] as? String } == ["alice", "(unknown user)"])
        let lines = harness.audit.recent(limit: 100).joined()
        #expect(!lines.contains("not the password"))
        #expect(!lines.contains(AdminHarness.password))
        #expect(await Self.state(harness, "A") == .online)
        await harness.stop()
        await a.kill()
        await b.kill()
    }

    @Test("login sets an HttpOnly SameSite=Strict session cookie; logout ends the session")
    func loginAndLogout() async throws {
        let (harness, a, b) = try await Self.twoServerGateway()
        try await harness.application.test(.router) { client in
            let response = try await Self.postLogin(client, user: "alice", password: AdminHarness.password)
            #expect(response.status == .seeOther)
            let header = try #require(response.headers[values: .setCookie].first { $0.hasPrefix("pacsgate-session=") })
            #expect(header.contains("HttpOnly"))
            #expect(header.contains("SameSite=Strict"))
            #expect(!header.contains("Secure"), "plain HTTP on loopback: a Secure cookie would never be sent back")
            let session = try await Self.login(client)
            let overview = try await client.execute(uri: "/api/v1/overview", method: .get, headers: session.headers)
            #expect(overview.status == .ok)
            #expect(overview.json["user"] as? String == "alice")
            // Logout needs the CSRF token too.
            var headers = Self.formHeaders
            headers[.cookie] = session.cookie
            let refused = try await client.execute(uri: "/logout", method: .post, headers: headers, body: Self.form([:]))
            #expect(refused.status == .forbidden)
            let out = try await client.execute(uri: "/logout", method: .post, headers: headers, body: Self.form(["csrf": session.csrf]))
            #expect(out.status == .seeOther)
            let after = try await client.execute(uri: "/api/v1/overview", method: .get, headers: session.headers)
            #expect(after.status == .unauthorized)
        }
        #expect(harness.auditRecords("admin.logout").count == 1)
        await harness.stop()
        await a.kill()
        await b.kill()
    }

    @Test("a state change without the CSRF token is refused; with it the pool changes and the audit log says who")
    func csrf() async throws {
        let (harness, a, b) = try await Self.twoServerGateway()
        try await harness.application.test(.router) { client in
            let session = try await Self.login(client)
            // API with the session cookie but no X-CSRF-Token.
            var headers = session.headers
            headers[.contentType] = "application/json"
            let api = try await client.execute(
                uri: "/api/v1/services/SVC/servers/A/state", method: .post, headers: headers, body: ByteBuffer(string: #"{"state":"drain"}"#))
            #expect(api.status == .forbidden)
            #expect((api.json["error"] as? String)?.contains("CSRF") == true)
            // A wrong token is no better.
            // (Its first character changed: "0" unless the token starts with "0", which one in sixteen does.)
            headers[.init("X-CSRF-Token")!] = (session.csrf.hasPrefix("0") ? "1" : "0") + session.csrf.dropFirst()
            let wrong = try await client.execute(
                uri: "/api/v1/services/SVC/servers/A/weight", method: .put, headers: headers, body: ByteBuffer(string: #"{"weight":1}"#))
            #expect(wrong.status == .forbidden)
            // The page's form without its hidden field.
            var formHeaders = Self.formHeaders
            formHeaders[.cookie] = session.cookie
            let form = try await client.execute(
                uri: "/actions/state", method: .post, headers: formHeaders,
                body: Self.form(["service": "SVC", "server": "A", "state": "halt"]))
            #expect(form.status == .forbidden)
            #expect(await Self.state(harness, "A") == .online)
            #expect(await harness.gateway.service("SVC")?.pool.snapshot().first?.weight == 100)
            #expect(harness.auditRecords("admin.change").isEmpty)

            // With the token, the same request works.
            headers[.init("X-CSRF-Token")!] = session.csrf
            let ok = try await client.execute(
                uri: "/api/v1/services/SVC/servers/A/state", method: .post, headers: headers, body: ByteBuffer(string: #"{"state":"drain"}"#))
            #expect(ok.status == .ok)
            #expect(await Self.state(harness, "A") == .drain)
            let viaForm = try await client.execute(
                uri: "/actions/weight", method: .post, headers: formHeaders,
                body: Self.form(["service": "SVC", "server": "B", "weight": "40", "csrf": session.csrf]))
            #expect(viaForm.status == .seeOther)
            #expect(await harness.gateway.service("SVC")?.pool.snapshot().first { $0.label == "B" }?.weight == 40)
        }
        let changes = harness.auditRecords("admin.change")
        #expect(changes.count == 2)
        #expect(changes.first?["user"] as? String == "alice")
        #expect(changes.first?["what"] as? String == "server.state")
        #expect(changes.first?["before"] as? String == "online")
        #expect(changes.first?["after"] as? String == "drain")
        #expect(changes.last?["before"] as? Int == 100)
        #expect(changes.last?["after"] as? Int == 40)
        await harness.stop()
        await a.kill()
        await b.kill()
    }

    @Test("drain through the API with a bearer token: new connections avoid the server, its open ones continue")
    func drainChangesThePool() async throws {
        let (harness, a, b) = try await Self.twoServerGateway()
        let port = try #require(await harness.gateway.listenAddress(of: "SVC")?.port)
        // A connection to A (round robin starts with the first server) opened before the drain.
        let open = try await TestClient.connect(port: port)
        try await open.executeThenClose { inbound, outbound in
            var lines = inbound.makeAsyncIterator()
            #expect(try await lines.next().map { String(buffer: $0) } == "A\n")
            try await harness.application.test(.router) { client in
                let headers: HTTPFields = [.authorization: "Bearer \(AdminHarness.token)", .contentType: "application/json"]
                let response = try await client.execute(
                    uri: "/api/v1/services/SVC/servers/A/state", method: .post, headers: headers, body: ByteBuffer(string: #"{"state":"drain"}"#))
                #expect(response.status == .ok)
                #expect(response.json["state"] as? String == "drain")
                let overview = try await client.execute(uri: "/api/v1/overview", method: .get, headers: headers)
                let services = try #require(overview.json["services"] as? [[String: Any]])
                let servers = try #require(services.first?["servers"] as? [[String: Any]])
                #expect(servers.first { $0["label"] as? String == "A" }?["state"] as? String == "drain")
                #expect(servers.first { $0["label"] as? String == "A" }?["active_connections"] as? Int == 1)
                // Unknown names are 404 with a message.
                let missing = try await client.execute(
                    uri: "/api/v1/services/SVC/servers/Z/state", method: .post, headers: headers, body: ByteBuffer(string: #"{"state":"drain"}"#))
                #expect(missing.status == .notFound)
                #expect((missing.json["error"] as? String)?.contains("'Z'") == true)
                let bad = try await client.execute(
                    uri: "/api/v1/services/SVC/servers/A/state", method: .post, headers: headers, body: ByteBuffer(string: #"{"state":"sleep"}"#))
                #expect(bad.status == .badRequest)
            }
            #expect(await Self.state(harness, "A") == .drain)
            for _ in 0..<6 {
                #expect(try await TestClient.identify(port: port) == "B", "a drained server takes no new connection")
            }
            // The connection opened before the drain still works.
            try await outbound.write(ByteBuffer(string: "still here"))
            outbound.finish()
            var text = ""
            while let chunk = try await lines.next() { text += String(buffer: chunk) }
            #expect(text == "still here")
        }
        #expect(harness.auditRecords("admin.change").first?["user"] as? String == "token:ci")
        await harness.stop()
        await a.kill()
        await b.kill()
    }

    @Test("an invalid configuration upload is refused with its problems; the running configuration and file are unchanged")
    func invalidUpload() async throws {
        let (harness, a, b) = try await Self.twoServerGateway()
        let before = try String(contentsOfFile: harness.configPath, encoding: .utf8)
        let listenBefore = await harness.gateway.listenAddress(of: "SVC")
        try await harness.application.test(.router) { client in
            let headers: HTTPFields = [.authorization: "Bearer \(AdminHarness.token)", .contentType: "application/yaml"]
            let broken = """
                services:
                  - label: SVC
                    listen: "127.0.0.1:70000"
                    servers:
                      - { label: A, address: "127.0.0.1:\(a.port)", weight: 5 }
                admin:
                  users:
                    - { name: bob, password: "plain text" }
                """
            let response = try await client.execute(uri: "/api/v1/config", method: .post, headers: headers, body: ByteBuffer(string: broken))
            #expect(response.status == .unprocessableContent)
            #expect(response.json["applied"] as? Bool == false)
            let problems = try #require(response.json["problems"] as? [String])
            #expect(problems.contains { $0.contains(":3:") && $0.contains("port 70000 out of range") }, "\(problems)")
            #expect(problems.contains { $0.contains(":8:") && $0.contains("plain 'password' is not accepted") }, "\(problems)")
            #expect(!response.text.contains("plain text"), "the refused file's secrets are not echoed back")

            let yamlError = try await client.execute(
                uri: "/api/v1/config", method: .post, headers: headers, body: ByteBuffer(string: "services: [ {"))
            #expect(yamlError.status == .unprocessableContent)

            let current = try await client.execute(uri: "/api/v1/config", method: .get, headers: headers)
            #expect(current.status == .ok)
            #expect(current.text == before)
        }
        #expect(try String(contentsOfFile: harness.configPath, encoding: .utf8) == before)
        #expect(await harness.gateway.listenAddress(of: "SVC") == listenBefore)
        #expect(await harness.gateway.configuration.services.map(\.label) == ["SVC"])
        #expect(await harness.gateway.service("SVC")?.pool.snapshot().map(\.weight) == [100, 100])
        #expect(!FileManager.default.fileExists(atPath: harness.directory.appendingPathComponent("backups").path))
        let refused = harness.auditRecords("admin.change")
        #expect(refused.count == 2)
        #expect(refused.allSatisfy { $0["result"] as? String == "refused" && $0["user"] as? String == "token:ci" })
        await harness.stop()
        await a.kill()
        await b.kill()
    }

    @Test("a valid upload is applied, the previous file kept as a timestamped backup, and the download returns it")
    func validUpload() async throws {
        let (harness, a, b) = try await Self.twoServerGateway()
        let before = try String(contentsOfFile: harness.configPath, encoding: .utf8)
        let port = try #require(await harness.gateway.listenAddress(of: "SVC")?.port)
        let extraPort = try Ports.free()
        let next = "services:\n" + serviceYAML("SVC", port: port, backends: [a, b], weight: 7)
            + serviceYAML("EXTRA", port: extraPort, backends: [b])
        try await harness.application.test(.router) { client in
            let headers: HTTPFields = [.authorization: "Bearer \(AdminHarness.token)"]
            let response = try await client.execute(uri: "/api/v1/config", method: .post, headers: headers, body: ByteBuffer(string: next))
            #expect(response.status == .ok, "\(response.text)")
            #expect(response.json["added"] as? [String] == ["EXTRA"])
            let backup = try #require(response.json["backup"] as? String)
            #expect(backup.hasPrefix(harness.directory.appendingPathComponent("backups").path))
            #expect(try String(contentsOfFile: backup, encoding: .utf8) == before)
            let download = try await client.execute(uri: "/api/v1/config", method: .get, headers: headers)
            #expect(download.text == next)
            #expect(download.headers[.contentDisposition]?.contains("attachment") == true)
        }
        #expect(try String(contentsOfFile: harness.configPath, encoding: .utf8) == next)
        #expect(await harness.gateway.service("SVC")?.pool.snapshot().map(\.weight) == [7, 7])
        #expect(try await TestClient.identify(port: extraPort) == "B")
        let applied = harness.auditRecords("admin.change").last
        #expect(applied?["what"] as? String == "config.upload")
        #expect(applied?["result"] as? String == "applied")
        #expect((applied?["before"] as? String)?.hasPrefix("sha256:") == true)
        #expect(applied?["before"] as? String != applied?["after"] as? String)
        await harness.stop()
        await a.kill()
        await b.kill()
    }

    @Test("repeated failed logins from one address are throttled with 429 and Retry-After")
    func throttle() async throws {
        let a = try await TestBackend.start("A")
        var admin = AdminHarness.defaultAdmin
        admin.loginAttempts = 3
        let harness = try await AdminHarness.start(yaml: "services:\n" + serviceYAML("SVC", port: try Ports.free(), backends: [a]), admin: admin)
        try await harness.application.test(.router) { client in
            for _ in 0..<3 {
                #expect(try await Self.postLogin(client, user: "alice", password: "wrong password").status == .unauthorized)
            }
            let throttled = try await Self.postLogin(client, user: "alice", password: AdminHarness.password)
            #expect(throttled.status == .tooManyRequests, "even the right password waits out the block")
            #expect(Int(throttled.headers[.retryAfter] ?? "") ?? 0 > 0)
            #expect(Self.cookies(throttled)["pacsgate-session"] == nil)
        }
        #expect(harness.auditRecords("admin.login").last?["result"] as? String == "throttled")
        await harness.stop()
        await a.kill()
    }

    @Test("the audit API filters by event and limit; responses carry the security headers")
    func auditAndHeaders() async throws {
        let (harness, a, b) = try await Self.twoServerGateway()
        try await harness.application.test(.router) { client in
            let headers: HTTPFields = [.authorization: "Bearer \(AdminHarness.token)", .contentType: "application/json"]
            for weight in [10, 20, 30] {
                _ = try await client.execute(
                    uri: "/api/v1/services/SVC/servers/A/weight", method: .put, headers: headers,
                    body: ByteBuffer(string: #"{"weight": \#(weight)}"#))
            }
            let response = try await client.execute(uri: "/api/v1/audit?event=admin.change&limit=2", method: .get, headers: headers)
            #expect(response.status == .ok)
            let records = try #require(response.json["records"] as? [[String: Any]])
            #expect(records.map { $0["after"] as? Int } == [20, 30])
            #expect(response.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
            #expect(response.headers[.xContentTypeOptions] == "nosniff")
            let css = try await client.execute(uri: "/static/admin.css", method: .get)
            #expect(css.status == .ok)
            #expect(css.headers[.contentType]?.hasPrefix("text/css") == true)
        }
        await harness.stop()
        await a.kill()
        await b.kill()
    }
}

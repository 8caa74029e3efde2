import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import PacsgateAdmin
import PacsgateCore
import PacsgateTestSupport
import Testing

/// Token scopes, the redacted configuration, and admin changes that wait for their audit record.
@Suite("Admin token scopes and audited changes")
struct ScopeAndAuditTests {
    static func bearer(_ scope: APIToken.Scope) -> HTTPFields {
        [.authorization: "Bearer \(scope == .admin ? AdminHarness.token : AdminHarness.scopedTokens[scope] ?? "")"]
    }

    /// The admin section as an operator writes it, hashes included (what `GET /api/v1/config` must not show below
    /// `admin`).
    static let adminSection = """
        admin:
          users:
            - { name: alice, password_hash: "\(AdminHarness.passwordHash)" }
          tokens:
            - name: prometheus
              token_hash: "\(APIToken.Digest(of: "prometheus-token-0123456789-abcdef"))"
              scope: metrics

        """

    static func gateway() async throws -> (AdminHarness, TestBackend) {
        let backend = try await TestBackend.start("A")
        let yaml = "services:\n" + serviceYAML("SVC", port: try Ports.free(), backends: [backend]) + Self.adminSection
        return (try await AdminHarness.start(yaml: yaml), backend)
    }

    @Test("metrics reaches /metrics only; read adds the overview, the audit records and a redacted configuration")
    func metricsAndRead() async throws {
        let (harness, backend) = try await Self.gateway()
        try await harness.application.test(.router) { client in
            let metrics = Self.bearer(.metrics)
            #expect(try await client.execute(uri: "/metrics", method: .get, headers: metrics).status == .ok)
            for uri in ["/api/v1/config", "/api/v1/overview", "/api/v1/audit"] {
                let denied = try await client.execute(uri: uri, method: .get, headers: metrics)
                #expect(denied.status == .forbidden, "metrics token: GET \(uri)")
                #expect((denied.json["error"] as? String)?.contains("scope 'metrics'") == true, "\(denied.text)")
            }

            let read = Self.bearer(.read)
            #expect(try await client.execute(uri: "/api/v1/overview", method: .get, headers: read).status == .ok)
            #expect(try await client.execute(uri: "/api/v1/audit", method: .get, headers: read).status == .ok)
            let redacted = try await client.execute(uri: "/api/v1/config", method: .get, headers: read)
            #expect(redacted.status == .ok)
            #expect(!redacted.text.contains(AdminHarness.passwordHash), "a password hash below admin")
            #expect(!redacted.text.contains("sha256:"), "a token hash below admin")
            #expect(redacted.text.contains(#"password_hash: "(redacted)""#), "\(redacted.text)")
            #expect(redacted.text.contains(#"token_hash: "(redacted)""#))
            #expect(redacted.text.contains("scope: metrics"), "everything else as written")
            let whole = try await client.execute(uri: "/api/v1/config", method: .get, headers: Self.bearer(.admin))
            #expect(whole.text == (try String(contentsOfFile: harness.configPath, encoding: .utf8)))
        }
        let denied = harness.auditRecords("admin.denied")
        #expect(denied.count == 3)
        #expect(denied.first?["user"] as? String == "token:metrics")
        #expect(denied.first?["path"] as? String == "/api/v1/config")
        #expect(denied.first?["scope"] as? String == "metrics")
        #expect(denied.first?["requires"] as? String == "read")
        await harness.stop()
        await backend.kill()
    }

    @Test("operate may drain, weigh and reload but not upload; admin may upload; each refusal is a 403 and a record")
    func operateAndAdmin() async throws {
        let (harness, backend) = try await Self.gateway()
        let text = try String(contentsOfFile: harness.configPath, encoding: .utf8)
        try await harness.application.test(.router) { client in
            let state = "/api/v1/services/SVC/servers/A/state"
            let body = ByteBuffer(string: #"{"state": "drain"}"#)
            #expect(try await client.execute(uri: state, method: .post, headers: Self.bearer(.read), body: body).status == .forbidden)
            #expect(try await client.execute(uri: "/api/v1/reload", method: .post, headers: Self.bearer(.read)).status == .forbidden)
            #expect(await harness.gateway.service("SVC")?.pool.snapshot().first?.adminState == .online)
            #expect(try await client.execute(uri: state, method: .post, headers: Self.bearer(.operate), body: body).status == .ok)
            #expect(await harness.gateway.service("SVC")?.pool.snapshot().first?.adminState == .drain)
            #expect(try await client.execute(uri: "/api/v1/reload", method: .post, headers: Self.bearer(.operate)).status == .ok)
            let upload = try await client.execute(
                uri: "/api/v1/config", method: .post, headers: Self.bearer(.operate), body: ByteBuffer(string: text))
            #expect(upload.status == .forbidden)
            let uploaded = try await client.execute(
                uri: "/api/v1/config", method: .post, headers: Self.bearer(.admin), body: ByteBuffer(string: text))
            #expect(uploaded.status == .ok, "\(uploaded.text)")
        }
        let denied = harness.auditRecords("admin.denied").map { "\($0["user"] ?? "") \($0["method"] ?? "") \($0["path"] ?? "")" }
        #expect(
            denied == [
                "token:read POST /api/v1/services/SVC/servers/A/state", "token:read POST /api/v1/reload",
                "token:operate POST /api/v1/config",
            ])
        await harness.stop()
        await backend.kill()
    }

    @Test("an alias bomb uploaded through the API is refused with its line, at once")
    func bombUpload() async throws {
        let (harness, backend) = try await Self.gateway()
        let bomb = ConfigurationBombs.aliasBomb
        try await harness.application.test(.router) { client in
            let response = try await client.execute(
                uri: "/api/v1/config", method: .post, headers: Self.bearer(.admin), body: ByteBuffer(string: bomb))
            #expect(response.status == .unprocessableContent)
            let problems = response.json["problems"] as? [String] ?? []
            #expect(problems.first?.hasPrefix("uploaded:2: YAML aliases (*a) are not supported") == true, "\(problems)")
        }
        await harness.stop()
        await backend.kill()
    }

    @Test("an admin change whose audit record cannot be written is not applied, and its record never appears later")
    func notAppliedWithoutItsRecord() async throws {
        let backend = try await TestBackend.start("A")
        let port = try Ports.free()
        let yaml = "services:\n" + serviceYAML("SVC", port: port, backends: [backend])
        let harness = try await AdminHarness.start(yaml: yaml) { directory in
            // Every write to the audit log fails with ENOSPC.
            try FileManager.default.createSymbolicLink(
                atPath: directory.appendingPathComponent("audit.jsonl").path, withDestinationPath: "/dev/full")
        }
        let auditPath = harness.directory.appendingPathComponent("audit.jsonl").path
        let next = "services:\n" + serviceYAML("SVC", port: port, backends: [backend], weight: 7)
        try await harness.application.test(.router) { client in
            let admin = Self.bearer(.admin)
            let drain = try await client.execute(
                uri: "/api/v1/services/SVC/servers/A/state", method: .post, headers: admin,
                body: ByteBuffer(string: #"{"state": "drain"}"#))
            #expect(drain.status == .serviceUnavailable, "\(drain.text)")
            let weight = try await client.execute(
                uri: "/api/v1/services/SVC/servers/A/weight", method: .put, headers: admin, body: ByteBuffer(string: #"{"weight": 5}"#))
            #expect(weight.status == .serviceUnavailable)
            let upload = try await client.execute(uri: "/api/v1/config", method: .post, headers: admin, body: ByteBuffer(string: next))
            #expect(upload.json["applied"] as? Bool == false, "\(upload.text)")
            #expect((upload.json["message"] as? String)?.contains("audit record cannot be written") == true, "\(upload.text)")
        }
        let server = await harness.gateway.service("SVC")?.pool.snapshot().first
        #expect(server?.adminState == .online)
        #expect(server?.weight == 100)
        #expect(try String(contentsOfFile: harness.configPath, encoding: .utf8) == yaml, "the upload was put back")

        // The disk has room again: the buffered refusal is written, the withdrawn "applied" records are not.
        try FileManager.default.removeItem(atPath: auditPath)
        var probe = AuditLog.record(event: "test.probe")
        probe.field("n", 1)
        try await harness.audit.writeAndWait(probe)
        let lines = try String(contentsOfFile: auditPath, encoding: .utf8).split(separator: "\n")
        let changes = lines.filter { $0.contains(#""event":"admin.change""#) }
        #expect(changes.allSatisfy { !$0.contains(#""result":"applied""#) && !$0.contains("server.state") }, "\(changes)")
        #expect(changes.count == 1 && changes.first?.contains(#""result":"refused""#) == true, "\(changes)")
        await harness.stop()
        await backend.kill()
    }
}

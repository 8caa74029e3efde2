import Foundation
import NIOCore
import PacsgateAdmin
import PacsgateTestSupport
import Testing

/// The real `pacsgate` executable with an admin section: `curl /metrics`, `pacsgate ctl`, SIGHUP, `hash-password`.
@Suite("pacsgate run with admin", .serialized)
struct ExecutableTests {
    /// A running `pacsgate run` process, stopped by `stop()`.
    struct Gateway {
        let process: Process
        let directory: URL
        let configPath: String
        let adminURL: String
        let log: URL

        func stop() throws -> Int32 {
            if self.process.isRunning {
                self.process.terminate()
                self.process.waitUntilExit()
            }
            try? FileManager.default.removeItem(at: self.directory)
            return self.process.terminationStatus
        }

        var logText: String { (try? String(contentsOf: self.log, encoding: .utf8)) ?? "" }
    }

    static func yaml(port: Int, adminPort: Int, backends: [TestBackend], weight: Int, directory: URL) -> String {
        TestEngine.configurationLine + "services:\n" + serviceYAML("SVC", port: port, backends: backends, weight: weight)
            + Self.tail(adminPort: adminPort, directory: directory.path)
    }

    /// The top-level keys after `services`: the audit log and state in `directory`, and an admin section on
    /// `adminPort` with the test user and an `operate` token.
    static func tail(adminPort: Int, directory: String) -> String {
        """
        audit: { path: "\(directory)/audit.jsonl" }
        state_dir: "\(directory)"
        admin:
          listen: "127.0.0.1:\(adminPort)"
          users:
            - { name: alice, password_hash: "\(AdminHarness.passwordHash)" }
          tokens:
            - { name: ci, token_hash: "\(APIToken.Digest(of: AdminHarness.token))", scope: operate }

        """
    }

    static func start(backends: [TestBackend]) async throws -> (Gateway, Int) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pacsgate-exec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try Ports.free()
        let adminPort = try Ports.free()
        let configPath = directory.appendingPathComponent("pacsgate.yaml").path
        try Self.yaml(port: port, adminPort: adminPort, backends: backends, weight: 100, directory: directory)
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        let check = try await ExternalTools.run(try GatewayUnderTest.executable, ["check-config", configPath])
        #expect(check.status == 0, "check-config: \(check.standardError)")
        let log = directory.appendingPathComponent("stderr.log")
        let process = try GatewayUnderTest.detachedProcess(config: configPath, log: log.path)
        let gateway = Gateway(
            process: process, directory: directory, configPath: configPath, adminURL: "http://127.0.0.1:\(adminPort)", log: log)
        let up = await eventually(timeout: .seconds(30)) {
            (try? await Self.curl(gateway, "/api/v1/overview").status) == 0
        }
        if !up {
            _ = try? gateway.stop()
            throw ExternalTools.Failure(description: "pacsgate run did not answer on \(gateway.adminURL): \(gateway.logText)")
        }
        return (gateway, port)
    }

    static func curl(_ gateway: Gateway, _ path: String) async throws -> ExternalTools.Output {
        try await ExternalTools.run(
            "/usr/bin/curl", ["-sS", "--fail", "--max-time", "10", "-H", "Authorization: Bearer \(AdminHarness.token)", gateway.adminURL + path])
    }

    static func ctl(_ gateway: Gateway, _ arguments: [String]) async throws -> ExternalTools.Output {
        try await ExternalTools.run(
            try GatewayUnderTest.executable, ["ctl", "--admin", gateway.adminURL] + arguments,
            environment: ["PACSGATE_TOKEN": AdminHarness.token])
    }

    @Test("curl /metrics parses with prometheus_client; the core's and the admin's counters move with traffic")
    func curlMetrics() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else {
            Issue.record("curl is missing: apt-get install curl")
            return
        }
        let a = try await TestBackend.start("A", mode: .echo)
        let (gateway, port) = try await Self.start(backends: [a])
        defer { _ = try? gateway.stop() }
        let first = try await Self.curl(gateway, "/metrics")
        #expect(first.status == 0, "\(first.standardError)")
        let before = try await ExternalTools.parsePrometheus(first.standardOutput)
        for index in 0..<5 {
            let payload = Array("message \(index)".utf8)
            #expect(try await TestClient.exchange(port: port, payload: payload) == payload)
        }
        // Bytes are counted when a connection closes; the gateway may still be closing the last one.
        var after: [String: Double] = [:]
        _ = await eventually(timeout: .seconds(10)) {
            guard let text = try? await Self.curl(gateway, "/metrics").standardOutput,
                let samples = try? await ExternalTools.parsePrometheus(text)
            else { return false }
            after = samples
            return samples[#"pacsgate_connections_active{service="SVC"}"#] == 0
        }
        let connections = #"pacsgate_connections_total{service="SVC"}"#
        let bytesUp = #"pacsgate_bytes_up_total{service="SVC"}"#
        let server = #"pacsgate_server_connections_total{server="A",service="SVC"}"#
        #expect((after[connections] ?? 0) - (before[connections] ?? 0) == 5, "core counter (swift-metrics → Prometheus): \(after[connections] ?? -1)")
        #expect((after[bytesUp] ?? 0) - (before[bytesUp] ?? 0) == Double((0..<5).map { "message \($0)".utf8.count }.reduce(0, +)))
        #expect((after[server] ?? 0) - (before[server] ?? 0) == 5, "admin counter from the pool")
        #expect(try gateway.stop() == 0)
        await a.kill()
    }

    @Test("pacsgate ctl status, drain and reload; SIGHUP reloads the file")
    func ctlAndSighup() async throws {
        let a = try await TestBackend.start("A")
        let b = try await TestBackend.start("B")
        let (gateway, port) = try await Self.start(backends: [a, b])
        defer { _ = try? gateway.stop() }

        let status = try await Self.ctl(gateway, ["status"])
        #expect(status.status == 0, "\(status.standardError)")
        #expect(status.standardOutput.contains("SERVICE/SERVER"))
        #expect(status.standardOutput.contains("▲  SVC"))
        #expect(status.standardOutput.split(separator: "\n").contains { $0.contains("  A ") && $0.contains("online") })

        let drain = try await Self.ctl(gateway, ["drain", "SVC", "A"])
        #expect(drain.status == 0, "\(drain.standardError)")
        #expect(drain.standardOutput.contains("online → drain"))
        for _ in 0..<4 { #expect(try await TestClient.identify(port: port) == "B") }
        let drained = try await Self.ctl(gateway, ["status"])
        #expect(drained.standardOutput.split(separator: "\n").contains { $0.contains("  A ") && $0.contains("drain") })

        let wrong = try await ExternalTools.run(
            try GatewayUnderTest.executable, ["ctl", "halt", "SVC", "B", "--admin", gateway.adminURL, "--token", "wrong-token-wrong-token"])
        #expect(wrong.status == 1)
        #expect(wrong.standardError.contains("401"))
        let missing = try await Self.ctl(gateway, ["online", "SVC", "NOPE"])
        #expect(missing.status == 1)
        #expect(missing.standardError.contains("404"))

        // SIGHUP: a new weight in the file reaches the pool.
        try Self.yaml(port: port, adminPort: Int(gateway.adminURL.split(separator: ":").last ?? "") ?? 0, backends: [a, b], weight: 42, directory: gateway.directory)
            .write(toFile: gateway.configPath, atomically: true, encoding: .utf8)
        kill(gateway.process.processIdentifier, SIGHUP)
        let reloaded = await eventually(timeout: .seconds(20)) {
            (try? await Self.ctl(gateway, ["status"]).standardOutput.split(separator: "\n").contains { $0.contains("  B ") && $0.contains(" 42 ") }) == true
        }
        #expect(reloaded, "SIGHUP did not apply the new weight: \(gateway.logText.suffix(2000))")

        // ctl reload with a broken file: refused, the running configuration stays.
        try "services: []\n".write(toFile: gateway.configPath, atomically: true, encoding: .utf8)
        let refused = try await Self.ctl(gateway, ["reload"])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("422"))
        #expect(refused.standardError.contains("'services' is empty"))
        #expect(try await TestClient.identify(port: port) == "B")

        let audit = try String(contentsOf: gateway.directory.appendingPathComponent("audit.jsonl"), encoding: .utf8)
        #expect(audit.contains(#""event":"admin.change","user":"token:ci","what":"server.state""#))
        #expect(audit.contains(#""user":"SIGHUP","what":"reload""#))
        #expect(try gateway.stop() == 0)
        await a.kill()
        await b.kill()
    }

    @Test("hash-password prints a bcrypt hash that verifies, and --token a token with its digest")
    func hashPassword() async throws {
        let hashed = try await ExternalTools.run(try GatewayUnderTest.executable, ["hash-password", "--cost", "10"], input: "a long enough password\n")
        #expect(hashed.status == 0, "\(hashed.standardError)")
        let hash = hashed.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(PasswordHasher.isWellFormedHash(hash))
        #expect(hash.hasPrefix("$2b$10$"))
        #expect(await PasswordHasher.verify("a long enough password", hash: hash))
        #expect(await !PasswordHasher.verify("a long enough passwore", hash: hash))
        let short = try await ExternalTools.run(try GatewayUnderTest.executable, ["hash-password"], input: "short\n")
        #expect(short.status == 1)
        #expect(short.standardError.contains("at least 10"))

        let token = try await ExternalTools.run(try GatewayUnderTest.executable, ["hash-password", "--token"])
        let lines = token.standardOutput.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        let plain = try #require(lines.first { $0.first == "token:" }?.last.map(String.init))
        let digest = try #require(lines.first { $0.first == "token_hash:" }?.last.map(String.init))
        #expect(APIToken.Digest(text: digest) == APIToken.Digest(of: plain))
    }
}

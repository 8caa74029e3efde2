import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PacsgateAdmin
import PacsgateCore
import PacsgateTestSupport
import ServiceLifecycle
import Testing

/// The admin server against clients that hold connections open, stall in the TLS handshake or offer weak ciphers,
/// and `pacsgate ctl --cacert` against a certificate for another name.
@Suite("Admin server limits", .serialized)
struct AdminServerLimitsTests {
    /// A running admin server over a one-service gateway.
    struct Running {
        let harness: AdminHarness
        let backend: TestBackend
        let group: ServiceGroup
        let task: Task<Void, any Error>
        let base: String
        var port: Int { Int(self.base.split(separator: ":").last ?? "") ?? 0 }

        func stop() async {
            await self.group.triggerGracefulShutdown()
            _ = try? await self.task.value
            await self.harness.stop()
            await self.backend.kill()
        }
    }

    static func start(_ admin: AdminConfiguration, tls: AdminCredentials.TLSMaterial? = nil) async throws -> Running {
        let backend = try await TestBackend.start("A")
        let harness = try await AdminHarness.start(
            yaml: "services:\n" + serviceYAML("SVC", port: try Ports.free(), backends: [backend]), admin: admin)
        let url = NIOLockedValueBox<String?>(nil)
        let server = try AdminServer(
            configuration: admin, gateway: harness.gateway, manager: harness.manager, metrics: AdminMetrics(), tls: tls,
            logger: AdminHarness.logger, onRunning: { address in url.withLockedValue { $0 = address } })
        let group = ServiceGroup(services: [server], logger: AdminHarness.logger)
        let task = Task { try await group.run() }
        guard await eventually(timeout: .seconds(20), { url.withLockedValue { $0 } != nil }), let base = url.withLockedValue({ $0 })
        else {
            throw HarnessError("the admin server did not start")
        }
        return Running(harness: harness, backend: backend, group: group, task: task, base: base)
    }

    static let request = ByteBuffer(string: "GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

    @Test("a connection that sends nothing is closed after idle_timeout; the defaults are 64, 60 s and 10 s")
    func idleTimeout() async throws {
        #expect(AdminConfiguration().maxConnections == 64)
        #expect(AdminConfiguration().idleTimeout == .seconds(60))
        #expect(AdminConfiguration().handshakeTimeout == .seconds(10))
        var admin = AdminHarness.defaultAdmin
        admin.idleTimeout = .seconds(1)
        let running = try await Self.start(admin)
        try await withTestScope(directoryPrefix: "pacsgate-admin-limits", missingPeerAdvice: "run scripts/install-test-deps.sh") { scope in
            let silent = try await RawConnection.connect(port: running.port, scope: scope)
            #expect(await silent.waitForEOF(timeout: .seconds(10)), "an idle connection stayed open")
        }
        await running.stop()
    }

    @Test("beyond max_connections a new connection waits in the backlog until one closes")
    func connectionCap() async throws {
        var admin = AdminHarness.defaultAdmin
        admin.maxConnections = 2
        let running = try await Self.start(admin)
        try await withTestScope(directoryPrefix: "pacsgate-admin-limits", missingPeerAdvice: "run scripts/install-test-deps.sh") { scope in
            let first = try await RawConnection.connect(port: running.port, scope: scope)
            let second = try await RawConnection.connect(port: running.port, scope: scope)
            try await first.send(Self.request)
            try await second.send(Self.request)
            #expect(await first.waitForBytes(12), "the first is served")
            #expect(await second.waitForBytes(12), "the second is served")
            let third = try await RawConnection.connect(port: running.port, scope: scope)
            try await third.send(Self.request)
            #expect(!(await third.waitForBytes(1, timeout: .seconds(2))), "a third connection was served beyond the cap")
            await first.close()
            #expect(await third.waitForBytes(12), "the waiting connection is served once one closes")
        }
        await running.stop()
    }

    /// A self-signed certificate and key made by openssl (`-x509` makes it its own CA, as BoringSSL needs of a
    /// pinned certificate).
    static func openSSLCertificate(key: String, name: String, in directory: String) async throws -> AdminCredentials.TLSMaterial {
        let keyFile = "\(directory)/\(name)-key.pem"
        let certificateFile = "\(directory)/\(name)-cert.pem"
        let made = try await ExternalTools.run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", key, "-nodes", "-keyout", keyFile, "-out", certificateFile, "-days", "2", "-subj",
                "/CN=\(name)", "-addext", "subjectAltName=DNS:\(name)",
            ] + (key.hasPrefix("ec") ? ["-pkeyopt", "ec_paramgen_curve:P-256"] : []))
        #expect(made.status == 0, "\(made.standardError)")
        return AdminCredentials.TLSMaterial(
            certificatePEM: try String(contentsOfFile: certificateFile, encoding: .utf8),
            keyPEM: try String(contentsOfFile: keyFile, encoding: .utf8), origin: certificateFile)
    }

    /// Whether openssl completes a TLS 1.2 handshake offering only `cipher`.
    static func handshakes(port: Int, cipher: String) async throws -> Bool {
        let result = try await ExternalTools.run(
            "/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(port)", "-tls1_2", "-cipher", cipher, "-brief"], input: "")
        return result.standardError.contains("CONNECTION ESTABLISHED") || result.standardOutput.contains("CONNECTION ESTABLISHED")
    }

    @Test("HTTPS offers only ECDHE with AES-GCM or ChaCha20 (no RSA key exchange, no CBC); a stalled handshake is cut")
    func tlsDefaultsAndHandshakeTimeout() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pacsgate-ciphers-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var admin = AdminHarness.defaultAdmin
        admin.tls = .on
        admin.handshakeTimeout = .seconds(1)
        let rsa = try await Self.start(admin, tls: try await Self.openSSLCertificate(key: "rsa:2048", name: "admin.example", in: directory))
        #expect(try await Self.handshakes(port: rsa.port, cipher: "ECDHE-RSA-AES128-GCM-SHA256"))
        #expect(try await Self.handshakes(port: rsa.port, cipher: "ECDHE-RSA-CHACHA20-POLY1305"))
        #expect(!(try await Self.handshakes(port: rsa.port, cipher: "AES128-GCM-SHA256")), "RSA key exchange")
        #expect(!(try await Self.handshakes(port: rsa.port, cipher: "AES256-SHA")), "RSA key exchange with CBC")
        #expect(!(try await Self.handshakes(port: rsa.port, cipher: "ECDHE-RSA-AES128-SHA")), "CBC")
        try await withTestScope(directoryPrefix: "pacsgate-admin-limits", missingPeerAdvice: "run scripts/install-test-deps.sh") { scope in
            let stalled = try await RawConnection.connect(port: rsa.port, scope: scope)
            #expect(await stalled.waitForEOF(timeout: .seconds(10)), "a connection that never starts its handshake stayed open")
        }
        await rsa.stop()
        let ec = try await Self.start(admin, tls: try await Self.openSSLCertificate(key: "ec", name: "admin.example", in: directory))
        #expect(try await Self.handshakes(port: ec.port, cipher: "ECDHE-ECDSA-AES256-GCM-SHA384"))
        #expect(!(try await Self.handshakes(port: ec.port, cipher: "ECDHE-ECDSA-AES128-SHA")), "CBC")
        await ec.stop()
    }

    @Test("ctl --cacert checks the host name: a pinned certificate for another name is refused")
    func caCertChecksTheHostName() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pacsgate-cacert-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var admin = AdminHarness.defaultAdmin
        admin.tls = .on
        let material = try await Self.openSSLCertificate(key: "ec", name: "other.example", in: directory)
        let running = try await Self.start(admin, tls: material)
        let client = try AdminClient(baseURL: running.base, token: AdminHarness.token, verification: .certificateFile(material.origin))
        let error = await #expect(throws: AdminClient.Failure.self) { try await client.send(.GET, "/api/v1/overview") }
        #expect(error?.description.lowercased().contains("hostname") == true || error?.description.contains("name") == true, "\(String(describing: error))")
        await running.stop()
    }
}

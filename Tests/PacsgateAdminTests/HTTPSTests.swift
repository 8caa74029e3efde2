import Foundation
import Logging
import NIOConcurrencyHelpers
import PacsgateAdmin
import PacsgateCore
import PacsgateTestSupport
import ServiceLifecycle
import Testing

/// The admin server off loopback speaks HTTPS with a self-signed certificate generated once into the state directory.
@Suite("Admin over HTTPS")
struct HTTPSTests {
    @Test("a generated certificate is kept in the state directory and reused; ctl's client verifies it; cookies are Secure")
    func selfSigned() async throws {
        let a = try await TestBackend.start("A")
        var admin = AdminHarness.defaultAdmin
        admin.tls = .on
        #expect(admin.usesTLS)
        let harness = try await AdminHarness.start(yaml: "services:\n" + serviceYAML("SVC", port: try Ports.free(), backends: [a]), admin: admin)
        let state = harness.directory.appendingPathComponent("state").path
        let material = try AdminCredentials.tlsMaterial(admin, stateDirectory: state, logger: AdminHarness.logger)
        let certificateFile = "\(state)/admin-cert.pem"
        #expect(material.origin == certificateFile)
        #expect(material.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
        let keyMode = try FileManager.default.attributesOfItem(atPath: "\(state)/admin-key.pem")[.posixPermissions] as? NSNumber
        #expect(keyMode?.intValue == 0o600, "the private key is readable by its owner only")
        let again = try AdminCredentials.tlsMaterial(admin, stateDirectory: state, logger: AdminHarness.logger)
        #expect(again.certificatePEM == material.certificatePEM, "a restart keeps the certificate")

        let url = NIOLockedValueBox<String?>(nil)
        let server = try AdminServer(
            configuration: admin, gateway: harness.gateway, manager: harness.manager, metrics: AdminMetrics(), tls: material,
            logger: AdminHarness.logger, onRunning: { address in url.withLockedValue { $0 = address } })
        let group = ServiceGroup(services: [server], logger: AdminHarness.logger)
        let running = Task { try await group.run() }
        #expect(await eventually(timeout: .seconds(20)) { url.withLockedValue { $0 } != nil })
        let base = try #require(url.withLockedValue { $0 })
        #expect(base.hasPrefix("https://127.0.0.1:"))

        let verified = try AdminClient(baseURL: base, token: AdminHarness.token, verification: .certificateFile(certificateFile))
        let overview = try await verified.send(.GET, "/api/v1/overview")
        #expect(overview.status == 200)
        #expect(try StatusTable.decode(overview.body).services.map(\.label) == ["SVC"])
        let login = try await verified.send(.GET, "/login")
        #expect(login.status == 200)
        // Against the system trust store the self-signed certificate is refused.
        let untrusted = try AdminClient(baseURL: base, token: AdminHarness.token, verification: .system)
        await #expect(throws: AdminClient.Failure.self) { try await untrusted.send(.GET, "/api/v1/overview") }

        // Cookies over HTTPS are Secure and pinned to the origin with the __Host- prefix (checked through curl).
        let curl = try await ExternalTools.run("/usr/bin/curl", ["-sS", "-k", "-D", "-", "-o", "/dev/null", base + "/login"])
        let cookie = curl.standardOutput.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") } ?? ""
        #expect(cookie.contains("__Host-pacsgate-login="))
        #expect(cookie.contains("Secure"))
        #expect(curl.standardOutput.lowercased().contains("strict-transport-security"))

        await group.triggerGracefulShutdown()
        try await running.value
        await harness.stop()
        await a.kill()
    }

    @Test("no users and no tokens: one user is generated, kept hashed in the state directory, its password given once")
    func generatedUser() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pacsgate-user-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (first, created) = try AdminCredentials.ensureUser(AdminConfiguration(), stateDirectory: directory)
        let password = try #require(created?.newPassword)
        #expect(first.users.map(\.name) == ["admin"])
        let stored = try String(contentsOfFile: "\(directory)/admin-user", encoding: .utf8)
        #expect(!stored.contains(password), "only the hash is stored")
        let mode = try FileManager.default.attributesOfItem(atPath: "\(directory)/admin-user")[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        let (second, reused) = try AdminCredentials.ensureUser(AdminConfiguration(), stateDirectory: directory)
        #expect(reused?.newPassword == nil, "the password is shown once")
        #expect(second.users == first.users)
        // Configured users mean nothing is generated.
        let (configured, none) = try AdminCredentials.ensureUser(AdminHarness.defaultAdmin, stateDirectory: directory)
        #expect(none == nil)
        #expect(configured.users.map(\.name) == ["alice"])
    }
}

import Foundation
import NIOPosix
import PacsgateCore
import PacsgateTLS
import Testing

@Suite("The tls health check against real servers", .timeLimit(.minutes(5)))
struct TLSHealthCheckTests {
    /// Builds the check from a `health_check:` mapping, as the configuration loader does.
    static func check(
        _ keys: String,
        servers: String = "{ label: A, address: \"127.0.0.1:9\" }"
    ) throws -> any HealthCheck {
        let configuration = try TLSTestGateway.loadConfiguration(
            """
            services:
              - label: HTTPS
                listen: "127.0.0.1:1"
                protocol: tls
                health_check: { type: tls\(keys.isEmpty ? "" : ", " + keys) }
                servers: [\(servers)]
            """
        )
        return try #require(configuration.services.first?.healthCheck.check)
    }

    static func endpoint(_ port: Int) -> Endpoint { Endpoint(host: "127.0.0.1", port: port) }

    @Test("a handshake reports the TLS version and when the server's certificate expires")
    func handshake() async throws {
        try await TestEnvironment.with { environment in
            let pair = try await TestPKI(environment: environment).selfSigned("a", dnsNames: ["a.mach7.test"])
            let server = try await environment.startOpenSSLServer(label: "A", pair: pair)
            let result = try await Self.check("").check(
                Self.endpoint(server.port),
                timeout: .seconds(10),
                group: MultiThreadedEventLoopGroup.singleton
            )
            #expect(result.succeeded, "\(result)")
            #expect(result.detail.hasPrefix("TLS1.3 handshake ok; certificate expires "), "\(result)")
            #expect(result.detail.contains("(in 1 day)") || result.detail.contains("(in 2 days)"), "\(result)")
        }
    }

    @Test("GET path must answer the expected status")
    func httpStatus() async throws {
        try await TestEnvironment.with { environment in
            let pair = try await TestPKI(environment: environment).selfSigned("a", dnsNames: ["a.mach7.test"])
            let server = try await environment.startOpenSSLServer(label: "A", pair: pair, alpn: "http/1.1")
            let group = MultiThreadedEventLoopGroup.singleton
            let ok = try await Self.check("path: /id.txt, server_name: a.mach7.test").check(
                Self.endpoint(server.port),
                timeout: .seconds(10),
                group: group
            )
            #expect(ok.succeeded, "\(ok)")
            #expect(ok.detail.hasSuffix("GET /id.txt → 200"), "\(ok)")

            let wrong = try await Self.check("path: /id.txt, expect_status: 204").check(
                Self.endpoint(server.port),
                timeout: .seconds(10),
                group: group
            )
            #expect(!wrong.succeeded)
            #expect(wrong.detail.hasSuffix("GET /id.txt → 200, expected 204"), "\(wrong)")
        }
    }

    @Test("verify: full fails against an untrusted certificate and succeeds with its CA")
    func verification() async throws {
        try await TestEnvironment.with { environment in
            let pki = TestPKI(environment: environment)
            let ca = try await pki.certificateAuthority("ca")
            let pair = try await pki.issue("node", by: ca, dnsNames: ["node1.mach7.test"])
            let server = try await environment.startOpenSSLServer(label: "A", pair: pair)
            let group = MultiThreadedEventLoopGroup.singleton
            let untrusted = try await Self.check("verify: full, server_name: node1.mach7.test").check(
                Self.endpoint(server.port),
                timeout: .seconds(10),
                group: group
            )
            #expect(!untrusted.succeeded)
            #expect(untrusted.detail.contains("certificate verify failed"), "\(untrusted)")

            let trusted = try await Self.check(
                "verify: full, server_name: node1.mach7.test, ca_file: \(ca.certificate)"
            )
            .check(Self.endpoint(server.port), timeout: .seconds(10), group: group)
            #expect(trusted.succeeded, "\(trusted)")
        }
    }

    @Test("a server that does not speak TLS, or is not there, fails the check")
    func failures() async throws {
        let silent = try await RecordingBackend.start("plain")
        let group = MultiThreadedEventLoopGroup.singleton
        let timedOut = try await Self.check("").check(Self.endpoint(silent.port), timeout: .seconds(1), group: group)
        #expect(!timedOut.succeeded)
        #expect(timedOut.detail == "no answer within 1s", "\(timedOut)")
        let port = silent.port
        await silent.stop()
        let refused = try await Self.check("").check(Self.endpoint(port), timeout: .seconds(5), group: group)
        #expect(!refused.succeeded)
        #expect(refused.detail == "connection refused", "\(refused)")
    }

    @Test("keys are validated with their line")
    func configurationErrors() throws {
        let outcome = ConfigurationLoaderHelper.load(
            """
            services:
              - label: HTTPS
                listen: "127.0.0.1:1"
                protocol: tls
                health_check:
                  type: tls
                  path: no-slash
                  expect_status: 999
                  verify: sometimes
                servers: [{ label: A, address: "127.0.0.1:9" }]
            """
        )
        #expect(outcome.contains("7: service 'HTTPS' health_check: 'path' must start with /"), "\(outcome)")
        #expect(
            outcome.contains("8: service 'HTTPS' health_check: 'expect_status' must be a whole number from 100 to 599"),
            "\(outcome)"
        )
        #expect(outcome.contains("9: service 'HTTPS' health_check: 'verify' must be one of full | none"), "\(outcome)")
    }
}

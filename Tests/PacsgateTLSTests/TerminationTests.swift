import Foundation
import PacsgateCore
import PacsgateTLS
import Testing

/// Must show 4 and 5: terminate and re-encrypt with verification against a test CA; a wrong CA refuses and logs;
/// the fallback page when every server is halted. Also certificate choice by SNI.
@Suite("Terminate: re-encryption, verification, fallback page", .timeLimit(.minutes(5)))
struct TerminationTests {
    /// The gateway's own certificate (viewer.mach7.test), a backend CA and a node certificate it signed, a second
    /// unrelated CA, and an `openssl s_server` node N1 using the signed certificate.
    struct Site: Sendable {
        let gatewayCertificate: TestPKI.Pair
        let backendCA: TestPKI.Pair
        let otherCA: TestPKI.Pair
        let node: OpenSSLServer

        static func start(in environment: TestEnvironment) async throws -> Site {
            let pki = TestPKI(environment: environment)
            let gatewayCertificate = try await pki.selfSigned("gateway", dnsNames: ["viewer.mach7.test"])
            let backendCA = try await pki.certificateAuthority("backend-ca")
            let otherCA = try await pki.certificateAuthority("other-ca")
            let nodeCertificate = try await pki.issue(
                "node1",
                by: backendCA,
                dnsNames: ["node1.mach7.test"]
            )
            let node = try await environment.startOpenSSLServer(label: "N1", pair: nodeCertificate, alpn: "http/1.1")
            return Site(gatewayCertificate: gatewayCertificate, backendCA: backendCA, otherCA: otherCA, node: node)
        }

        func yaml(
            caFile: String,
            serverName: String = "node1.mach7.test",
            label: String = "HTTPS",
            extra: String = ""
        ) -> String {
            """
            services:
              - label: \(label)
                listen: "127.0.0.1:1"
                protocol: tls
                mode: terminate
                certificate: \(self.gatewayCertificate.certificate)
                key: \(self.gatewayCertificate.key)
            \(extra)
                servers:
                  - \(self.node.yaml("reencrypt: true, verify: full, ca_file: \(caFile), server_name: \(serverName)"))
            """
        }
    }

    @Test("termination runs on NIO: engine auto picks it, engine native is refused with its line")
    func terminationEngine() async throws {
        try await TestEnvironment.with { environment in
            let site = try await Site.start(in: environment)
            let yaml = site.yaml(caFile: site.backendCA.certificate)
            let engine = try await withGateway(yaml: yaml) { gateway in try await gateway.runtime().engine }
            #expect(engine == .nio)
            let native = yaml.replacingOccurrences(of: "    protocol: tls\n", with: "    protocol: tls\n    engine: native\n")
            let refused = ConfigurationLoaderHelper.load(native)
            #expect(
                refused.contains(
                    "5: service 'HTTPS': 'engine: native' cannot terminate TLS (NIOSSL runs on the NIO engine); use 'auto' or 'nio'"),
                "\(refused)")
        }
    }

    @Test("curl → gateway (its certificate) → server (its own certificate, verified against the test CA)")
    func reencrypt() async throws {
        try await TestEnvironment.with { environment in
            let site = try await Site.start(in: environment)
            try await withGateway(yaml: site.yaml(caFile: site.backendCA.certificate)) { gateway in
                let port = try await gateway.port()
                // curl trusts only the gateway's certificate, so this succeeds only if the gateway terminated TLS.
                let output = try await environment.curl(
                    "viewer.mach7.test",
                    port: port,
                    ["--cacert", site.gatewayCertificate.certificate]
                )
                #expect(output.status == 0, "\(output.summary)")
                #expect(output.out.hasPrefix("N1\n"), "\(output.summary)")
                #expect(output.out.hasSuffix("HTTP=200"), "\(output.summary)")

                let record = try #require(try await gateway.waitForAuditRecords(1).first)
                #expect(record["mode"] == "terminate")
                #expect(record["outcome"] == "forwarded")
                #expect(record["sni"] == "viewer.mach7.test")
                #expect(record["alpn_negotiated"] == "http/1.1")
                #expect(record["tls_version"] == "TLS1.3")
                #expect(record.fields["reencrypt"] as? Bool == true)
                #expect(record.server == "N1@127.0.0.1:\(site.node.port)")
                #expect((record.int("bytes_down") ?? 0) > 0)
            }
        }
    }

    @Test("verify: full with the wrong CA: no byte reaches the server, the client gets 503, the failure is logged")
    func wrongCA() async throws {
        try await TestEnvironment.with { environment in
            let site = try await Site.start(in: environment)
            try await withGateway(yaml: site.yaml(caFile: site.otherCA.certificate, label: "WRONGCA")) { gateway in
                let port = try await gateway.port("WRONGCA")
                let output = try await environment.curl(
                    "viewer.mach7.test",
                    port: port,
                    ["--cacert", site.gatewayCertificate.certificate]
                )
                #expect(output.out.hasSuffix("HTTP=503"), "\(output.summary)")
                #expect(!output.out.contains("N1"), "\(output.summary)")

                let failures = gateway.logs.lines(message: "TLS handshake with the server failed")
                #expect(failures.count == 1, "\(gateway.logs.all)")
                #expect(failures.first?.metadata["error"]?.contains("certificate verify failed") == true, "\(failures)")
                #expect(failures.first?.metadata["conn.server"] == "N1@127.0.0.1:\(site.node.port)")
                let refused = gateway.logs.lines(
                    message: "refused TLS connection",
                    metadata: ["tls.refusal": "unavailable"]
                )
                #expect(refused.count == 1, "\(gateway.logs.all)")

                let record = try #require(try await gateway.waitForAuditRecords(1).first)
                #expect(record["outcome"] == "unavailable")
                #expect(record.isNull("server") || record.server?.hasPrefix("N1@") == true)
                let service = try #require(
                    try await gateway.runtime("WRONGCA").configuration.protocolHandler as? TLSServiceProtocol
                )
                #expect(service.counters.serverHandshakeFailures == 1)
                #expect(service.counters.refused(.unavailable) == 1)
                #expect(site.node.servedRequests == 0)
            }
        }
    }

    @Test("a server whose certificate does not name server_name is refused under verify: full")
    func wrongName() async throws {
        try await TestEnvironment.with { environment in
            let site = try await Site.start(in: environment)
            let yaml = site.yaml(caFile: site.backendCA.certificate, serverName: "node2.mach7.test")
            try await withGateway(yaml: yaml) { gateway in
                let output = try await environment.curl(
                    "viewer.mach7.test",
                    port: try await gateway.port(),
                    ["--cacert", site.gatewayCertificate.certificate]
                )
                #expect(output.out.hasSuffix("HTTP=503"), "\(output.summary)")
                #expect(gateway.logs.lines(message: "TLS handshake with the server failed").count == 1)
                #expect(site.node.servedRequests == 0)
            }
        }
    }

    @Test("the configured fallback page is served while every server is halted, and forwarding resumes after")
    func fallbackPage() async throws {
        try await TestEnvironment.with { environment in
            let site = try await Site.start(in: environment)
            let page = try environment.write(
                "maintenance.html",
                "<html><body><h1>PACS viewer maintenance</h1><p>Back at 06:00.</p></body></html>\n"
            )
            let yaml = site.yaml(
                caFile: site.backendCA.certificate,
                label: "FALLBACK",
                extra: "    fallback_page: \(page)"
            )
            try await withGateway(yaml: yaml) { gateway in
                let port = try await gateway.port("FALLBACK")
                try await gateway.gateway.change(service: "FALLBACK", server: "N1", to: .state(.halt))
                let halted = try await environment.curl(
                    "viewer.mach7.test",
                    port: port,
                    ["--cacert", site.gatewayCertificate.certificate, "-i"]
                )
                #expect(halted.status == 0, "\(halted.summary)")
                #expect(halted.out.hasPrefix("HTTP/1.1 503 Service Unavailable"), "\(halted.summary)")
                #expect(halted.out.contains("Retry-After: 30"), "\(halted.summary)")
                #expect(halted.out.contains("PACS viewer maintenance"), "\(halted.summary)")
                #expect(site.node.servedRequests == 0)

                let record = try #require(try await gateway.waitForAuditRecords(1).first)
                #expect(record["outcome"] == "unavailable")
                #expect(record["refusal"] == "unavailable")
                let entry = try #require(gateway.logs.lines(message: "refused TLS connection").first)
                #expect(entry.metadata["tls.fallback_page"] == "served")
                let service = try #require(
                    try await gateway.runtime("FALLBACK").configuration.protocolHandler as? TLSServiceProtocol
                )
                #expect(service.counters.fallbackPages == 1)

                try await gateway.gateway.change(service: "FALLBACK", server: "N1", to: .state(.online))
                let online = try await environment.curl(
                    "viewer.mach7.test",
                    port: port,
                    ["--cacert", site.gatewayCertificate.certificate]
                )
                #expect(online.out.hasPrefix("N1\n"), "\(online.summary)")
            }
        }
    }

    @Test("several certificates: each name gets its own, others the default; plaintext HTTP still gets a 400")
    func certificatePerName() async throws {
        try await TestEnvironment.with { environment in
            let pki = TestPKI(environment: environment)
            let viewer = try await pki.selfSigned("viewer", dnsNames: ["viewer.mach7.test"])
            let api = try await pki.selfSigned("api", dnsNames: ["api.mach7.test"])
            let nodeCertificate = try await pki.selfSigned("node", dnsNames: ["node1.mach7.test"])
            let node = try await environment.startOpenSSLServer(label: "N1", pair: nodeCertificate, alpn: "http/1.1")
            let yaml = """
                services:
                  - label: HTTPS
                    listen: "127.0.0.1:1"
                    protocol: tls
                    mode: terminate
                    certificates:
                      - { certificate: \(viewer.certificate), key: \(viewer.key) }
                      - { certificate: \(api.certificate), key: \(api.key) }
                    servers:
                      - \(node.yaml("reencrypt: true, verify: none"))
                """
            try await withGateway(yaml: yaml) { gateway in
                let port = try await gateway.port()
                let toAPI = try await environment.curl("api.mach7.test", port: port, ["--cacert", api.certificate])
                #expect(toAPI.out.hasPrefix("N1\n"), "\(toAPI.summary)")
                let toViewer = try await environment.curl(
                    "viewer.mach7.test",
                    port: port,
                    ["--cacert", viewer.certificate]
                )
                #expect(toViewer.out.hasPrefix("N1\n"), "\(toViewer.summary)")
                // No SNI (connecting by IP): the first certificate.
                let byIP = try await environment.run(
                    .openssl,
                    ["s_client", "-connect", "127.0.0.1:\(port)", "-noservername"],
                    input: Data()
                )
                #expect(byIP.out.contains("subject=CN = viewer.mach7.test"), "\(byIP.summary)")

                let plaintext = try await environment.run(
                    .curl,
                    ["-sS", "--max-time", "20", "-w", "\nHTTP=%{http_code}", "http://127.0.0.1:\(port)/"]
                )
                #expect(plaintext.out.hasSuffix("HTTP=400"), "\(plaintext.summary)")
                #expect(
                    gateway.logs.lines(message: "refused TLS connection", metadata: ["tls.refusal": "plaintext_http"])
                        .count == 1
                )
            }
        }
    }

    @Test(
        "a client that does not trust the gateway's certificate: the failed handshake is audited, no server contacted"
    )
    func clientRejectsCertificate() async throws {
        try await TestEnvironment.with { environment in
            let site = try await Site.start(in: environment)
            try await withGateway(yaml: site.yaml(caFile: site.backendCA.certificate, label: "UNTRUSTED")) { gateway in
                // curl with the other CA: it refuses the gateway's self-signed certificate and aborts the handshake.
                let output = try await environment.curl(
                    "viewer.mach7.test",
                    port: try await gateway.port("UNTRUSTED"),
                    ["--cacert", site.otherCA.certificate]
                )
                #expect(output.status != 0, "\(output.summary)")
                let record = try #require(try await gateway.waitForAuditRecords(1).first)
                #expect(record["outcome"] == "handshake_failed", "\(record)")
                #expect(record["reason"]?.hasPrefix("TLS handshake failed: ") == true, "\(record)")
                #expect(record["sni"] == "viewer.mach7.test")
                #expect(record.isNull("server"))
                #expect(site.node.servedRequests == 0)
            }
        }
    }
}

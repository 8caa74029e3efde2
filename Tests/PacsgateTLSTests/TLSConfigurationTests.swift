import Foundation
import PacsgateCore
import PacsgateTLS
import Testing

@Suite("TLS service configuration")
struct TLSConfigurationTests {
    static let servers = """
            servers:
              - { label: HTTPS1, address: "127.0.0.1:8443" }
              - { label: HTTPS2, address: "127.0.0.1:8444" }
        """

    static func service(_ keys: String, servers: String = Self.servers) -> String {
        """
        services:
          - label: HTTPS
            listen: "127.0.0.1:443"
            protocol: tls
        \(keys)
        \(servers)
        """
    }

    @Test("passthrough is the default; routes, default pool and policy are read")
    func passthroughDefaults() throws {
        let configuration = try TLSTestGateway.loadConfiguration(
            Self.service(
                """
                    sni_routes:
                      viewer.mach7.test: HTTPS1
                      "*.api.mach7.test": [HTTPS1, HTTPS2]
                    default_servers: [HTTPS2]
                    unknown_sni: refuse
                    max_hello_bytes: 32KiB
                """
            )
        )
        let service = try #require(configuration.services.first?.protocolHandler as? TLSServiceProtocol)
        #expect(service.mode == .passthrough)
        #expect(service.certificates == nil)
        #expect(service.serverOptions.isEmpty)
    }

    @Test(
        "mistakes are reported with their line",
        arguments: [
            (
                "    sni_routes:\n      viewer.mach7.test: HTTPS9\n",
                "6: service 'HTTPS': sni_routes 'viewer.mach7.test': no server labelled 'HTTPS9' (servers: HTTPS1, HTTPS2)"
            ),
            (
                "    sni_routes:\n      \"viewer.*.org\": HTTPS1\n",
                "6: service 'HTTPS': SNI pattern \"viewer.*.org\": '*' must be the whole leftmost label, as in *.example.org"
            ),
            (
                "    sni_routes:\n      a.mach7.test: HTTPS1\n      A.mach7.test.: HTTPS2\n",
                "7: service 'HTTPS': SNI pattern \"A.mach7.test.\" appears more than once"
            ),
            (
                "    default_servers: [HTTPS1, NOPE]\n",
                "5: service 'HTTPS': 'default_servers': no server labelled 'NOPE'"
            ),
            (
                "    unknown_sni: drop\n",
                "5: service 'HTTPS': 'unknown_sni' must be one of default | refuse, found 'drop'"
            ),
            ("    max_hello_bytes: 1MiB\n", "5: service 'HTTPS': bad size '1MiB' for 'max_hello_bytes'"),
            (
                "    mode: offload\n",
                "5: service 'HTTPS': 'mode' must be one of passthrough | terminate, found 'offload'"
            ),
            ("    certificate: /x.pem\n", "5: service 'HTTPS': 'certificate' applies only with 'mode: terminate'"),
            (
                "    fallback_page: <p>down</p>\n",
                "5: service 'HTTPS': 'fallback_page' applies only with 'mode: terminate'"
            ),
            ("    mode: terminate\n", "2: service 'HTTPS': 'mode: terminate' needs 'certificate' and 'key'"),
        ]
    )
    func mistakes(keys: String, expected: String) {
        let problems = ConfigurationLoaderHelper.load(Self.service(keys))
        #expect(problems.contains(expected), "\(problems)")
    }

    @Test("server keys: only with terminate, verify and friends only with reencrypt, unknown keys still reported")
    func serverKeys() {
        let passthrough = ConfigurationLoaderHelper.load(
            Self.service(
                "",
                servers: """
                        servers:
                          - { label: HTTPS1, address: "127.0.0.1:8443", reencrypt: true }
                          - { label: HTTPS2, address: "127.0.0.1:8444", colour: blue }
                    """
            )
        )
        #expect(
            passthrough.contains(
                "7: service 'HTTPS' server 'HTTPS1': 'reencrypt' applies only with 'mode: terminate'"
            ),
            "\(passthrough)"
        )
        #expect(passthrough.contains("8: service 'HTTPS' server 'HTTPS2': unknown key 'colour'"), "\(passthrough)")

        let badVerify = ConfigurationLoaderHelper.load(
            Self.service(
                "    mode: terminate\n    certificate: /nonexistent.pem\n    key: /nonexistent.key",
                servers: """
                        servers:
                          - { label: HTTPS1, address: "127.0.0.1:8443", verify: full }
                          - { label: HTTPS2, address: "127.0.0.1:8444", reencrypt: yes, verify: maybe }
                    """
            )
        )
        #expect(
            badVerify.contains("9: service 'HTTPS' server 'HTTPS1': 'verify' applies only with 'reencrypt: true'"),
            "\(badVerify)"
        )
        #expect(
            badVerify.contains(
                "10: service 'HTTPS' server 'HTTPS2': 'verify' must be one of full | none, found 'maybe'"
            ),
            "\(badVerify)"
        )
        #expect(badVerify.contains("6: certificate '/nonexistent.pem' cannot read a PEM certificate"), "\(badVerify)")
    }

    @Test("certificates are loaded and checked against their keys; several are chosen by name")
    func certificates() async throws {
        try await TestEnvironment.with { environment in
            let pki = TestPKI(environment: environment)
            let viewer = try await pki.selfSigned("viewer", dnsNames: ["viewer.mach7.test"])
            let api = try await pki.selfSigned("api", dnsNames: ["api.mach7.test", "*.api.mach7.test"])
            let ca = try await pki.certificateAuthority("ca")
            let page = try environment.write("page.html", "<h1>Down for maintenance</h1>")

            let configuration = try TLSTestGateway.loadConfiguration(
                Self.service(
                    """
                        mode: terminate
                        certificates:
                          - { certificate: \(viewer.certificate), key: \(viewer.key) }
                          - { certificate: \(api.certificate), key: \(api.key) }
                          - { certificate: \(viewer.certificate), key: \(viewer.key), server_names: [legacy.mach7.test] }
                        fallback_page: \(page)
                    """,
                    servers: """
                            servers:
                              - { label: HTTPS1, address: "127.0.0.1:8443", reencrypt: true, ca_file: \(ca.certificate), server_name: node1.mach7.test }
                              - { label: HTTPS2, address: "127.0.0.1:8444", reencrypt: true, verify: none }
                        """
                )
            )
            let service = try #require(configuration.services.first?.protocolHandler as? TLSServiceProtocol)
            #expect(service.mode == .terminate)
            let certificates = try #require(service.certificates)
            #expect(certificates.entries.count == 3)
            #expect(certificates.entries[1].serverNames == ["api.mach7.test", "*.api.mach7.test"])
            #expect(certificates.entry(for: "x.api.mach7.test").serverNames == certificates.entries[1].serverNames)
            #expect(certificates.entry(for: "LEGACY.mach7.test").serverNames == ["legacy.mach7.test"])
            #expect(certificates.entry(for: "unknown.mach7.test").serverNames == ["viewer.mach7.test"])
            #expect(certificates.entry(for: nil).serverNames == ["viewer.mach7.test"])
            #expect(
                service.serverOptions["HTTPS1"]
                    == TLSServerOptions(
                        reencrypt: true,
                        verify: .full,
                        caFile: ca.certificate,
                        serverName: try ServerName("node1.mach7.test")
                    )
            )
            #expect(service.serverOptions["HTTPS2"]?.verify == ServerCertificateVerification.none)

            let mismatched = ConfigurationLoaderHelper.load(
                Self.service("    mode: terminate\n    certificate: \(viewer.certificate)\n    key: \(api.key)")
            )
            #expect(mismatched.contains("does not match the certificate in \(viewer.certificate)"), "\(mismatched)")

            let missingCA = ConfigurationLoaderHelper.load(
                Self.service(
                    "    mode: terminate\n    certificate: \(viewer.certificate)\n    key: \(viewer.key)",
                    servers: """
                            servers:
                              - { label: HTTPS1, address: "127.0.0.1:8443", reencrypt: true, ca_file: /nonexistent-ca.pem }
                        """
                )
            )
            #expect(
                missingCA.contains(
                    "9: service 'HTTPS' server 'HTTPS1': '/nonexistent-ca.pem' cannot read PEM CA certificates"
                ),
                "\(missingCA)"
            )

            let missingPage = ConfigurationLoaderHelper.load(
                Self.service(
                    "    mode: terminate\n    certificate: \(viewer.certificate)\n    key: \(viewer.key)\n    fallback_page: /nonexistent.html"
                )
            )
            #expect(
                missingPage.contains("8: service 'HTTPS': cannot read 'fallback_page' file '/nonexistent.html'"),
                "\(missingPage)"
            )
        }
    }

    @Test("the fallback page is a complete 503 response, inline or the built-in one")
    func fallbackPageResponse() {
        let page = FallbackPage(html: "<p>Down</p>")
        let text = String(buffer: page.response)
        #expect(text.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(text.contains("\r\nContent-Length: 11\r\n"))
        #expect(text.contains("\r\nConnection: close\r\n\r\n<p>Down</p>"))
        #expect(String(buffer: FallbackPage.builtIn.response).contains("<h1>Service unavailable</h1>"))
    }
}

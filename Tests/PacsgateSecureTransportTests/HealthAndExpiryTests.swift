import Foundation
import PacsgateAdmin
import PacsgateCore
import PacsgateTestSupport
import Testing

/// Health checks over TLS (`dicom-echo`, `mllp`, with the gateway's client certificate) to nodes that only speak TLS,
/// and certificate expiry — the gateway's own and the nodes' — in the check's reason and in the metrics.
@Suite("Health checks over TLS and certificate expiry", .timeLimit(.minutes(5)))
struct HealthAndExpiryTests {
    @Test("dicom-echo and mllp over TLS pass against TLS-only nodes and name the node's certificate expiry")
    func checks() async throws {
        try await withSecureScope { scope in
            let site = try await SecureSite.make(in: scope)
            let dicomNode = try await TLSPeers.storescp("storescp-tls", site: site, scope: scope)
            let hl7Node = try await TLSPeers.receiver("receiver-tls", site: site, scope: scope)
            let plainNode = try await RealSCP.storescp("storescp-plain", scope: scope)
            let gateway = try await SecureGateway.start(
                services: [
                    serviceYAML(
                        "DICOM-TLS", protocol: "dicom",
                        lines: [
                            site.tlsBlock(),
                            "    health_check: { type: dicom-echo, calling_ae: GW-HEALTH, called_ae: MACH7, interval: 500ms, timeout: 5s }",
                        ],
                        servers: [site.reencrypted("DICOM1", port: dicomNode.port), plainNode.server("DICOM2")]),
                    serviceYAML(
                        "HL7-TLS", protocol: "hl7",
                        lines: [site.tlsBlock(), "    health_check: { type: mllp, interval: 500ms, timeout: 5s }"],
                        servers: [site.reencrypted("HL71", port: hl7Node.port)]),
                ].joined(separator: "\n"),
                scope: scope
            )
            let notAfter = try await Self.notAfter(site.node.certificate)
            let day = String(notAfter.iso8601.prefix(10))
            for (service, server, passed) in [
                ("DICOM-TLS", "DICOM1", "C-ECHO status 0x0000"), ("HL7-TLS", "HL71", "HL7 ACK AA"),
            ] {
                let runtime = try await gateway.runtime(service)
                let checked = await eventually {
                    runtime.pool.snapshot().first { $0.label == server }?.lastCheck?.succeeded == true
                }
                let snapshot = try #require(runtime.pool.snapshot().first { $0.label == server })
                #expect(checked, "\(service)/\(server): \(String(describing: snapshot.lastCheck))")
                let check = try #require(snapshot.lastCheck)
                #expect(check.detail.hasPrefix("\(passed); TLS1."), "\(check.detail)")
                #expect(check.detail.contains(", server certificate expires \(day) (in "), "\(check.detail)")
                #expect(check.certificateExpiry == notAfter)
            }
            // The plain node of the same service is checked in plaintext, and says nothing of TLS.
            let plain = try await gateway.runtime("DICOM-TLS")
            #expect(await eventually { plain.pool.snapshot().first { $0.label == "DICOM2" }?.lastCheck?.succeeded == true })
            let plainCheck = try #require(plain.pool.snapshot().first { $0.label == "DICOM2" }?.lastCheck)
            #expect(plainCheck.detail == "C-ECHO status 0x0000")
            #expect(plainCheck.certificateExpiry == nil)
            #expect(dicomNode.associationsReceived >= 1, "the TLS node saw the gateway's echo")

            // Metrics: the gateway's certificate per service, and the node's from the last check.
            let metrics = AdminMetrics().render(
                services: [try await gateway.runtime("DICOM-TLS"), try await gateway.runtime("HL7-TLS")],
                activity: ActivityState(), audit: .ok)
            let gatewayExpiry = try await Self.notAfter(site.gateway.certificate).millisecondsSinceEpoch / 1000
            #expect(
                metrics.contains(
                    "pacsgate_tls_certificate_expiry_timestamp_seconds{service=\"DICOM-TLS\",subject=\"O=Radiology,CN=pacsgate.test\"} \(gatewayExpiry)"),
                "\(metrics)")
            #expect(
                metrics.contains(
                    "pacsgate_server_certificate_expiry_timestamp_seconds{service=\"HL7-TLS\",server=\"HL71\"} \(notAfter.millisecondsSinceEpoch / 1000)"),
                "\(metrics)")
            #expect(metrics.contains("pacsgate_tls_crl_next_update_timestamp_seconds{service=\"DICOM-TLS\"}"), "\(metrics)")
            #expect(!metrics.contains("pacsgate_server_certificate_expiry_timestamp_seconds{service=\"DICOM-TLS\",server=\"DICOM2\"}"))
        }
    }

    @Test("a TLS node whose certificate the CA did not issue fails the check with the TLS reason")
    func wrongCA() async throws {
        try await withSecureScope { scope in
            let site = try await SecureSite.make(in: scope)
            let node = try await TLSPeers.storescp("storescp-tls", site: site, scope: scope)
            let gateway = try await SecureGateway.start(
                services: serviceYAML(
                    "DICOM-TLS", protocol: "dicom",
                    lines: [
                        site.tlsBlock(),
                        "    health_check: { type: dicom-echo, called_ae: MACH7, interval: 500ms, timeout: 5s }",
                    ],
                    servers: [
                        "{ label: DICOM1, address: \"127.0.0.1:\(node.port)\", reencrypt: true, ca_file: \(site.otherCA.certificate), server_name: mach7-node1 }"
                    ]),
                scope: scope
            )
            let runtime = try await gateway.runtime("DICOM-TLS")
            #expect(await eventually { runtime.pool.snapshot().first?.lastCheck != nil })
            let check = try #require(runtime.pool.snapshot().first?.lastCheck)
            #expect(!check.succeeded)
            #expect(check.detail == "TLS handshake failed: certificate verify failed", "\(check.detail)")
            #expect(node.associationsReceived == 0)
        }
    }

    /// The end of a certificate's validity, as openssl reads it.
    static func notAfter(_ certificate: String) async throws -> WallClock.Instant {
        let output = try await TestCA.openssl(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in", certificate])
        // notAfter=2026-12-09 06:15:41Z
        let text = output.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "notAfter=", with: "")
        let parts = text.split(whereSeparator: { "- :Z".contains($0) }).compactMap { Int($0) }
        try #require(parts.count == 6, "cannot read \(output)")
        return WallClock.Instant(year: parts[0], month: parts[1], day: parts[2], hour: parts[3], minute: parts[4], second: parts[5])
    }
}

import Foundation
import PacsgateCore
import PacsgateTestSupport
import Testing

/// Must show 2: refused during the handshake, audited, nothing forwarded — no client certificate, an expired one,
/// one from another CA, a revoked one (CRL), TLS 1.0 and 1.1.
@Suite("TLS handshakes the gateway refuses", .timeLimit(.minutes(5)))
struct HandshakeRefusalTests {
    @Test("each hostile client is refused in the handshake with a reason in its record; the node sees nothing")
    func hostileClients() async throws {
        try await withSecureScope { scope in
            let site = try await SecureSite.make(in: scope)
            let node = try await TLSPeers.storescp("storescp-tls", site: site, scope: scope)
            let gateway = try await SecureGateway.start(
                services: serviceYAML(
                    "DICOM-TLS", protocol: "dicom", lines: [site.tlsBlock()],
                    servers: [site.reencrypted("DICOM1", port: node.port)]),
                scope: scope
            )
            let port = String(try await gateway.port("DICOM-TLS"))
            let dcmtkCases: [(String, TestCA.Pair?, String)] = [
                ("no certificate", nil, "no client certificate (client_auth: required)"),
                ("expired", site.expired, "certificate expired on 2020-01-02"),
                ("other CA", site.rogue, "certificate not issued by a CA of client_ca_file (issuer CN=Other CA)"),
                ("revoked", site.revoked, "certificate revoked on "),
            ]
            for (name, pair, _) in dcmtkCases {
                let echo = try await Peers.run(
                    Peers.echoscu, site.dcmtkClient(pair) + ["-aet", "CT_SCANNER1", "-aec", "MACH7", "127.0.0.1", port],
                    name: "echoscu-\(name.replacingOccurrences(of: " ", with: "-"))", scope: scope)
                #expect(echo.status != 0, "\(name) was let through: \(echo.output)")
                #expect(!echo.output.contains("Association Accepted"), "\(echo.output)")
            }
            // TLS 1.0 and 1.1 (openssl's default security level refuses to offer them: lower it for the client).
            for version in ["-tls1", "-tls1_1"] {
                let hello = try await ToolRunner.run(
                    "/usr/bin/openssl",
                    [
                        "s_client", "-connect", "127.0.0.1:\(port)", version, "-cipher", "DEFAULT:@SECLEVEL=0",
                        "-cert", site.ct1.certificate, "-key", site.ct1.key,
                    ],
                    input: "")
                #expect(hello.status != 0, "\(version) handshake succeeded: \(hello.standardOutput)")
                #expect(
                    hello.standardError.contains("alert protocol version"),
                    "\(version): \(hello.standardError)\(hello.standardOutput)")
            }

            let records = try await gateway.records("tls.connection", count: 6)
            for (name, pair, reason) in dcmtkCases {
                // Matched by reason: each record is written when its connection has ended.
                let matching = records.filter { $0.string("reason")?.hasPrefix(reason) == true }
                #expect(matching.count == 1, "\(name): \(records)")
                guard let record = matching.first else { continue }
                #expect(record.string("outcome") == "handshake_failed", "\(name): \(record)")
                #expect(record.string("refusal") == "client_handshake_failed")
                #expect(record.string("reason")?.hasPrefix(reason) == true, "\(name): \(record)")
                #expect(record.string("protocol") == "dicom")
                #expect(record.isNull("server"), "nothing forwarded: \(record)")
                if let pair {
                    let identity = try #require(record.object("client_certificate"), "\(name): \(record)")
                    #expect(identity.string("sha256") == (try await TestCA.fingerprint(pair.certificate)), "\(name)")
                } else {
                    #expect(record.isNull("client_certificate"))
                }
            }
            let versions = records.filter {
                $0.string("reason") == "TLS version refused: the client offered neither TLS 1.2 nor TLS 1.3 (unsupported protocol)"
            }
            #expect(versions.count == 2, "\(records)")
            #expect(versions.allSatisfy { $0.string("outcome") == "handshake_failed" && $0.isNull("server") })
            #expect(node.associationsReceived == 0, "the node saw: \(node.process.output)")
            #expect(try gateway.records("dicom.association").isEmpty)
            let server = try #require(try await gateway.runtime("DICOM-TLS").pool.snapshot().first)
            #expect(server.totalConnections == 0, "no connection was forwarded")
            let logged = gateway.logs.all.filter { $0.message == "TLS handshake with the client failed; nothing forwarded" }
            #expect(logged.count == 6)
            #expect(logged.first?.level == .notice)
        }
    }

    @Test("client_auth: optional lets a client without a certificate in (client_certificate null) but still refuses a bad one")
    func optional() async throws {
        try await withSecureScope { scope in
            let site = try await SecureSite.make(in: scope)
            let node = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await SecureGateway.start(
                services: serviceYAML(
                    "DICOM-TLS", protocol: "dicom", lines: [site.tlsBlock(clientAuth: "optional")],
                    servers: [node.server("DICOM1")]),
                scope: scope
            )
            let port = String(try await gateway.port("DICOM-TLS"))
            let anonymous = try await Peers.run(
                Peers.echoscu, site.dcmtkClient(nil) + ["-aet", "CT_SCANNER1", "-aec", "MACH7", "127.0.0.1", port],
                name: "echoscu-anonymous", scope: scope)
            #expect(anonymous.status == 0, "\(anonymous.output)")
            let rogue = try await Peers.run(
                Peers.echoscu, site.dcmtkClient(site.rogue) + ["-aet", "CT_SCANNER1", "-aec", "MACH7", "127.0.0.1", port],
                name: "echoscu-rogue", scope: scope)
            #expect(rogue.status != 0)
            let association = try #require(try await gateway.records("dicom.association", count: 1).first)
            #expect(association.isNull("client_certificate"), "\(association)")
            #expect(association.object("tls")?.string("version") != nil)
            let refused = try #require(try await gateway.records("tls.connection", count: 1).first)
            #expect(refused.string("reason") == "certificate not issued by a CA of client_ca_file (issuer CN=Other CA)")
            #expect(node.associationsReceived == 1)
        }
    }

    @Test("at maxconn a TLS connection is refused before its handshake and recorded as unavailable")
    func maxconn() async throws {
        try await withSecureScope { scope in
            let site = try await SecureSite.make(in: scope)
            let node = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await SecureGateway.start(
                services: serviceYAML(
                    "DICOM-TLS", protocol: "dicom", lines: [site.tlsBlock(), "    maxconn: 1"],
                    servers: [node.server("DICOM1")]),
                scope: scope
            )
            let port = try await gateway.port("DICOM-TLS")
            // One client holds the only slot: a TLS session that sends nothing after its handshake.
            let holder = try await ChildProcess.start(
                Peers.env,
                [
                    "python3", "-c",
                    """
                    import socket, ssl, sys, time
                    context = ssl.create_default_context(cafile=sys.argv[1])
                    context.load_cert_chain(sys.argv[2], sys.argv[3])
                    tls = context.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[4]))), server_hostname="pacsgate.test")
                    print("HELD", flush=True)
                    time.sleep(60)
                    """,
                    site.ca.certificate, site.ct1.certificate, site.ct1.key, String(port),
                ],
                name: "holder", directory: scope.directory, scope: scope)
            try #require(await eventually { holder.output.contains("HELD") }, "\(holder.output)")
            let refused = try await Peers.run(
                Peers.echoscu,
                site.dcmtkClient(site.ct1) + ["-aet", "CT_SCANNER1", "-aec", "MACH7", "127.0.0.1", String(port)],
                name: "echoscu-over-maxconn", scope: scope)
            #expect(refused.status != 0)
            let record = try #require(try await gateway.records("tls.connection", count: 1).first)
            #expect(record.string("outcome") == "unavailable", "\(record)")
            #expect(record.string("refusal") == "unavailable")
            #expect(record.string("reason") == "refused before the TLS handshake: service at maxconn")
            #expect(node.associationsReceived == 0)
            #expect(gateway.logs.all.contains { $0.message == "TLS connection refused before its handshake" })
        }
    }
}

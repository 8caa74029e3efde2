import Foundation
import PacsgateCore
import PacsgateTLS
import Testing

/// Must show 1: real clients (`openssl s_client`, `curl`) through the gateway to two real TLS servers
/// (`openssl s_server`), routed by SNI, with SNI and ALPN in the audit line.
@Suite("Passthrough: SNI routing with real peers", .timeLimit(.minutes(5)))
struct PassthroughRoutingTests {
    @Test("openssl s_client -servername A / B reaches its own server; the audit line carries SNI and ALPN")
    func opensslClient() async throws {
        try await TestEnvironment.with { environment in
            let servers = try await TwoServers.start(in: environment)
            try await withGateway(yaml: servers.passthroughYAML()) { gateway in
                let port = try await gateway.port()

                let toA = try await environment.sClient(port: port, serverName: "a.mach7.test", alpn: "h2,http/1.1")
                #expect(toA.out.contains("subject=CN = a.mach7.test"), "\(toA.summary)")
                #expect(toA.out.contains("ALPN protocol: h2"), "\(toA.summary)")
                #expect(toA.out.contains("Content-type: text/plain\r\n\r\nA\n"), "\(toA.summary)")

                let toB = try await environment.sClient(port: port, serverName: "b.mach7.test", alpn: "http/1.1")
                #expect(toB.out.contains("subject=CN = b.mach7.test"), "\(toB.summary)")
                #expect(toB.out.contains("ALPN protocol: http/1.1"), "\(toB.summary)")
                #expect(toB.out.contains("Content-type: text/plain\r\n\r\nB\n"), "\(toB.summary)")

                let records = try await gateway.waitForAuditRecords(2)
                let a = try #require(records.first { $0["sni"] == "a.mach7.test" }, "\(records)")
                #expect(a.list("alpn") == ["h2", "http/1.1"])
                #expect(a.server == "A@127.0.0.1:\(servers.a.port)")
                #expect(a["route"] == "a.mach7.test")
                #expect(a["outcome"] == "forwarded")
                #expect(a["mode"] == "passthrough")
                #expect(a.list("tls_versions")?.first == "TLS1.3")
                #expect((a.int("bytes_up") ?? 0) > 0 && (a.int("bytes_down") ?? 0) > 0)
                #expect(a.int("duration_ms") != nil)
                #expect(a.isNull("refusal"))

                let b = try #require(records.first { $0["sni"] == "b.mach7.test" }, "\(records)")
                #expect(b.list("alpn") == ["http/1.1"])
                #expect(b.server == "B@127.0.0.1:\(servers.b.port)")
                #expect(b["outcome"] == "forwarded")
            }
        }
    }

    @Test("curl --resolve for A and B verifies each server's own certificate through the gateway")
    func curlClient() async throws {
        try await TestEnvironment.with { environment in
            let servers = try await TwoServers.start(in: environment)
            try await withGateway(yaml: servers.passthroughYAML()) { gateway in
                let port = try await gateway.port()
                // --cacert with the server's own certificate: only server A's certificate verifies for a.mach7.test.
                let a = try await environment.curl(
                    "a.mach7.test",
                    port: port,
                    ["--cacert", servers.certificateA.certificate]
                )
                #expect(a.status == 0, "\(a.summary)")
                #expect(a.out.hasPrefix("A\n"), "\(a.summary)")
                #expect(a.out.hasSuffix("HTTP=200"), "\(a.summary)")

                // A wildcard route: x.b.mach7.test matches *.b.mach7.test and B's certificate covers it.
                let b = try await environment.curl(
                    "x.b.mach7.test",
                    port: port,
                    ["--cacert", servers.certificateB.certificate]
                )
                #expect(b.status == 0, "\(b.summary)")
                #expect(b.out.hasPrefix("B\n"), "\(b.summary)")

                let records = try await gateway.waitForAuditRecords(2)
                #expect(records.map { $0["sni"] } == ["a.mach7.test", "x.b.mach7.test"])
                #expect(records.map { $0["route"] } == ["a.mach7.test", "*.b.mach7.test"])
                #expect(records.allSatisfy { $0.list("alpn") == ["http/1.1"] })
                #expect(records.map { $0.server?.split(separator: "@").first.map(String.init) } == ["A", "B"])
            }
        }
    }

    @Test("the audit line is in the file before the connection is released")
    func auditDurableBeforeRelease() async throws {
        try await TestEnvironment.with { environment in
            let servers = try await TwoServers.start(in: environment)
            let auditPath = environment.path("audit.jsonl")
            try await withGateway(yaml: servers.passthroughYAML(), audit: AuditConfiguration(path: auditPath)) {
                gateway in
                let port = try await gateway.port()
                let runtime = try await gateway.runtime()
                for round in 1...3 {
                    let output = try await environment.curl("b.mach7.test", port: port, ["-k"])
                    #expect(output.status == 0, "\(output.summary)")
                    try await gateway.waitUntilIdle()
                    // Released means the record is already written and synced: no waiting here.
                    let lines = try String(contentsOfFile: auditPath, encoding: .utf8)
                        .split(separator: "\n").filter { $0.contains(#""event":"tls.connection""#) }
                    #expect(lines.count == round, "after \(runtime.stats.totalConnections) connections: \(lines)")
                }
            }
        }
    }

    @Test("an unknown name goes to the default pool, or is refused with unrecognized_name when configured")
    func unknownServerName() async throws {
        try await TestEnvironment.with { environment in
            let servers = try await TwoServers.start(in: environment)
            try await withGateway(yaml: servers.passthroughYAML(defaultServer: "B")) { gateway in
                let output = try await environment.curl("other.mach7.test", port: try await gateway.port(), ["-k"])
                #expect(output.out.hasPrefix("B\n"), "\(output.summary)")
                let record = try #require(try await gateway.waitForAuditRecords(1).first)
                #expect(record["route"] == "default")
                #expect(record["sni"] == "other.mach7.test")
            }
            try await withGateway(yaml: servers.passthroughYAML(unknownSNI: "refuse")) { gateway in
                let output = try await environment.sClient(
                    port: try await gateway.port(),
                    serverName: "other.mach7.test",
                    alpn: nil
                )
                #expect(output.err.contains("unrecognized name"), "\(output.summary)")
                let record = try #require(try await gateway.waitForAuditRecords(1).first)
                #expect(record["outcome"] == "rejected")
                #expect(record["refusal"] == "unknown_sni")
                #expect(record.isNull("server"))
                #expect(
                    !gateway.logs.lines(message: "refused TLS connection", metadata: ["tls.refusal": "unknown_sni"])
                        .isEmpty
                )
            }
            #expect(servers.a.servedRequests + servers.b.servedRequests == 1)
        }
    }
}

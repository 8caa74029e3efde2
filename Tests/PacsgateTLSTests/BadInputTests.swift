import Foundation
import NIOCore
import PacsgateTLS
import Testing

/// Must show 3: bad input on a TLS service — plaintext HTTP, garbage, a truncated hello then close, a length
/// overrun — is closed cleanly, logged, counted, audited, and never reaches a server.
@Suite("Passthrough: bad input", .timeLimit(.minutes(5)))
struct BadInputTests {
    /// One service in front of a recording backend that must never see a connection. Each test uses its own service
    /// label, so the process-wide counters of that label count only its connections.
    static func run(_ label: String, _ body: (TLSTestGateway, Int, RecordingBackend) async throws -> Void) async throws
    {
        let backend = try await RecordingBackend.start("A")
        let yaml = """
            services:
              - label: \(label)
                listen: "127.0.0.1:1"
                protocol: tls
                peek_timeout: 10s
                servers:
                  - \(backend.yaml())
            """
        do {
            try await withGateway(yaml: yaml) { gateway in
                try await body(gateway, try await gateway.port(label), backend)
                // Checked after the body: nothing ever connected to the server.
                #expect(
                    backend.connections.isEmpty,
                    "the server was contacted: \(backend.connections.count) connections"
                )
            }
        } catch {
            await backend.stop()
            throw error
        }
        await backend.stop()
    }

    /// Asserts the one refusal's log entry, counter and audit record.
    static func expectRefused(
        _ gateway: TLSTestGateway,
        _ label: String,
        kind: TLSRefusalKind,
        outcome: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let record = try #require(try await gateway.waitForAuditRecords(1).first, sourceLocation: sourceLocation)
        #expect(record["outcome"] == outcome, "\(record)", sourceLocation: sourceLocation)
        #expect(record["refusal"] == kind.rawValue, "\(record)", sourceLocation: sourceLocation)
        #expect(record.isNull("server"), sourceLocation: sourceLocation)
        let logged = gateway.logs.lines(message: "refused TLS connection", metadata: ["tls.refusal": kind.rawValue])
        #expect(logged.count == 1, "\(gateway.logs.all)", sourceLocation: sourceLocation)
        let service = try #require(
            try await gateway.runtime(label).configuration.protocolHandler as? TLSServiceProtocol,
            sourceLocation: sourceLocation
        )
        #expect(service.counters.refused(kind) == 1, sourceLocation: sourceLocation)
        #expect(try await gateway.runtime(label).stats.refusedConnections == 1, sourceLocation: sourceLocation)
    }

    @Test("curl http:// to the TLS port gets a plaintext 400 and the refusal is logged as plaintext HTTP")
    func plaintextHTTP() async throws {
        try await TestEnvironment.with { environment in
            try await Self.run("PLAIN") { gateway, port, _ in
                let output = try await environment.run(
                    .curl,
                    ["-sS", "--max-time", "20", "-w", "\nHTTP=%{http_code}", "http://127.0.0.1:\(port)/studies"]
                )
                #expect(output.status == 0, "\(output.summary)")
                #expect(output.out.contains("This port speaks TLS"), "\(output.summary)")
                #expect(output.out.hasSuffix("HTTP=400"), "\(output.summary)")
                try await Self.expectRefused(gateway, "PLAIN", kind: .plaintextHTTP, outcome: "rejected")
                let entry = try #require(gateway.logs.lines(message: "refused TLS connection").first)
                #expect(entry.metadata["reason"] == "client sent a plaintext HTTP request to a TLS port")
            }
        }
    }

    @Test("garbage is closed without an answer (it is not TLS, so no alert)")
    func garbage() async throws {
        try await Self.run("GARBAGE") { gateway, port, _ in
            let result = try await RawClient.exchange(port: port, chunks: [Array("HELO pacs.example.org\r\n".utf8)])
            #expect(result.end == .closed)
            #expect(result.received.isEmpty)
            try await Self.expectRefused(gateway, "GARBAGE", kind: .notTLS, outcome: "rejected")
        }
    }

    @Test("a truncated ClientHello followed by a close is closed cleanly as incomplete")
    func truncatedThenClose() async throws {
        let hello = try Fixture.opensslSNIALPN.bytes()
        try await Self.run("TRUNCATED") { gateway, port, _ in
            let result = try await RawClient.exchange(port: port, chunks: [Array(hello.prefix(100))], halfClose: true)
            #expect(result.end == .closed)
            #expect(result.received.isEmpty)
            try await Self.expectRefused(gateway, "TRUNCATED", kind: .incompleteHello, outcome: "incomplete")
            let record = try #require(gateway.auditRecords().first)
            #expect(record["reason"] == "client closed the connection after 100 bytes of its ClientHello")
        }
    }

    @Test("a length overrun is answered with a decode_error alert and closed")
    func lengthOverrun() async throws {
        // A server_name list that claims 20 more bytes than its extension holds.
        var sni = sniExtension("a.mach7.test")
        sni[5] &+= 20
        let hello = HelloBuilder(extensions: sni).bytes
        try await Self.run("OVERRUN") { gateway, port, _ in
            let result = try await RawClient.exchange(port: port, chunks: [hello])
            #expect(result.end == .closed)
            #expect(result.received == [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, TLSAlert.decodeError.rawValue])
            try await Self.expectRefused(gateway, "OVERRUN", kind: .malformedHello, outcome: "rejected")
            let record = try #require(gateway.auditRecords().first)
            #expect(record["reason"]?.contains("overruns") == true, "\(record)")
        }
    }

    @Test("a ClientHello over max_hello_bytes is refused with handshake_failure as soon as its length is read")
    func oversized() async throws {
        let hello = try Fixture.opensslPadded10K.bytes()
        let backend = try await RecordingBackend.start("A")
        let yaml = """
            services:
              - label: OVERSIZE
                listen: "127.0.0.1:1"
                protocol: tls
                max_hello_bytes: 4KiB
                servers:
                  - \(backend.yaml())
            """
        try await withGateway(yaml: yaml) { gateway in
            let result = try await RawClient.exchange(
                port: try await gateway.port("OVERSIZE"),
                chunks: [Array(hello.prefix(16))]
            )
            #expect(result.end == .closed)
            #expect(result.received == [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, TLSAlert.handshakeFailure.rawValue])
            try await Self.expectRefused(gateway, "OVERSIZE", kind: .helloTooLarge, outcome: "rejected")
        }
        #expect(backend.connections.isEmpty)
        await backend.stop()
    }
}

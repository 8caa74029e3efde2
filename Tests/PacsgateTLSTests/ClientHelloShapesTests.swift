import Foundation
import NIOCore
import PacsgateTLS
import Testing
import PacsgateTestSupport

/// Must show 2: ClientHellos in 1-byte chunks, split across two records, without SNI, and of 10 KiB — each routed
/// correctly, with the bytes reaching the server unchanged.
@Suite("Passthrough: ClientHello shapes", .timeLimit(.minutes(5)))
struct ClientHelloShapesTests {
    struct Shape: Sendable, CustomTestStringConvertible {
        var name: String
        var arguments: [String]
        var expectedServer: String
        var expectedSNI: String?
        var minimumHelloBytes = 0
        var expectedRecords = 1
        var testDescription: String { self.name }
    }

    static let shapes: [Shape] = [
        Shape(
            name: "written one byte at a time",
            arguments: ["--sni", "b.mach7.test", "--alpn", "h2,http/1.1", "--chunk", "1"],
            expectedServer: "B",
            expectedSNI: "b.mach7.test"
        ),
        Shape(
            name: "split across two TLS records",
            arguments: ["--sni", "b.mach7.test", "--alpn", "http/1.1", "--records", "2"],
            expectedServer: "B",
            expectedSNI: "b.mach7.test",
            expectedRecords: 2
        ),
        Shape(name: "without SNI", arguments: ["--alpn", "http/1.1"], expectedServer: "A", expectedSNI: nil),
        Shape(
            name: "of 10 KiB (300 extra ALPN ids)",
            arguments: ["--sni", "b.mach7.test", "--alpn", "http/1.1", "--alpn-filler", "300"],
            expectedServer: "B",
            expectedSNI: "b.mach7.test",
            minimumHelloBytes: 10 * 1024
        ),
        Shape(
            name: "of 10 KiB in 8-byte chunks over three records",
            arguments: [
                "--sni", "b.mach7.test", "--alpn", "http/1.1", "--alpn-filler", "300", "--chunk", "8", "--records", "3",
            ],
            expectedServer: "B",
            expectedSNI: "b.mach7.test",
            minimumHelloBytes: 10 * 1024,
            expectedRecords: 3
        ),
    ]

    @Test("a real handshake completes through the gateway and reaches the routed server", arguments: shapes)
    func realHandshake(_ shape: Shape) async throws {
        try await TestEnvironment.with { environment in
            let servers = try await TwoServers.start(in: environment)
            try await withGateway(yaml: servers.passthroughYAML(defaultServer: "A")) { gateway in
                let port = try await gateway.port()
                let output = try await environment.run(
                    .python,
                    [try tlsClientScript(), String(port)] + shape.arguments,
                    timeout: .seconds(120)
                )
                #expect(output.status == 0, "\(output.summary)")
                let lines = output.out.split(separator: "\n").map(String.init)
                #expect(lines.last == shape.expectedServer, "\(output.summary)")
                let hello = try #require(lines.first { $0.hasPrefix("HELLO_BYTES=") }, "\(output.summary)")
                let fields = hello.split(separator: " ").compactMap {
                    $0.split(separator: "=").last.flatMap { Int($0) }
                }
                #expect(
                    fields.count == 2 && fields[0] >= shape.minimumHelloBytes && fields[1] == shape.expectedRecords,
                    "\(hello)"
                )

                let record = try #require(try await gateway.waitForAuditRecords(1).first)
                #expect(record["sni"] == shape.expectedSNI)
                #expect(record["outcome"] == "forwarded")
                #expect(record.server?.hasPrefix("\(shape.expectedServer)@") == true, "\(record)")
                #expect(record["route"] == (shape.expectedSNI == nil ? "default" : shape.expectedSNI))
                if shape.minimumHelloBytes > 0 { #expect(record.list("alpn")?.count == 301) }
            }
        }
    }

    @Test(
        "captured ClientHellos reach the routed server byte for byte, whole and in small pieces",
        arguments: [
            (Fixture.opensslTwoRecords, "A"), (Fixture.opensslPadded10K, "A"), (Fixture.pythonNoSNI, "B"),
            (Fixture.opensslFragmented, "A"), (Fixture.pythonLargeALPN, "B"),
        ]
    )
    func byteForByte(_ fixture: Fixture, expected: String) async throws {
        let hello = try fixture.bytes()
        let a = try await RecordingBackend.start("A")
        let b = try await RecordingBackend.start("B")
        do {
            try await self.sendThrough(hello, expected: expected, a: a, b: b)
        } catch {
            await a.stop()
            await b.stop()
            throw error
        }
        await a.stop()
        await b.stop()
    }

    private func sendThrough(_ hello: [UInt8], expected: String, a: RecordingBackend, b: RecordingBackend) async throws
    {
        let yaml = """
            services:
              - label: HTTPS
                listen: "127.0.0.1:1"
                protocol: tls
                sni_routes: { a.mach7.test: A }
                default_servers: [B]
                servers:
                  - \(a.yaml())
                  - \(b.yaml())
            """
        try await withGateway(yaml: yaml) { gateway in
            let port = try await gateway.port()
            let pieces = stride(from: 0, to: hello.count, by: 97).map { Array(hello[$0..<min($0 + 97, hello.count)]) }
            for (round, chunks) in [[hello], pieces].enumerated() {
                let result = try await RawClient.exchange(
                    port: port,
                    chunks: chunks,
                    pause: .milliseconds(1),
                    halfClose: true
                )
                #expect(result.end == .closed, "round \(round): \(result.end)")
                let target = expected == "A" ? a : b
                let other = expected == "A" ? b : a
                #expect(
                    await eventually {
                        target.connections.count == round + 1 && target.connections.last?.count == hello.count
                    }
                )
                #expect(target.connections.last?.elementsEqual(hello) == true, "round \(round): bytes changed")
                #expect(other.connections.isEmpty)
            }
        }
    }
}

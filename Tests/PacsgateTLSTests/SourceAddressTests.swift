import Foundation
import PacsgateCore
import PacsgateTestSupport
import Testing

/// `source:` (issue 20): the server leg binds the configured local address before it connects, per service and
/// overridden per server, for plain TCP and TLS passthrough — a real listener records the address each connection
/// came from. On loopback (127.0.0.0/8 is all local), on both engines (scripts/test.sh).
@Suite("source: the server leg's local address", .serialized, .timeLimit(.minutes(2)))
struct SourceAddressTests {
    /// Accepts connections on 127.0.0.1, appends each peer's address to `OUT` and closes it; its port goes to stdout.
    static let listenerScript = #"""
        import socket, sys
        out = sys.argv[1]
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        print(listener.getsockname()[1], flush=True)
        while True:
            connection, peer = listener.accept()
            with open(out, "a") as f:
                f.write(peer[0] + "\n")
            connection.close()
        """#

    @Test("a TCP and a TLS passthrough service bind their source address; a server's own source overrides it")
    func sourceAddresses() async throws {
        try await TestEnvironment.with { environment in
            let script = try environment.write("listener.py", Self.listenerScript)
            let peers = environment.path("peers.txt")
            let listener = try environment.launch(.python, [script, peers], logName: "listener")
            let output = try await listener.waitForOutput(containing: "\n")
            let port = try #require(Int(output.trimmingCharacters(in: .whitespacesAndNewlines)), "\(output)")
            let yaml = """
                services:
                  - label: TCP
                    listen: "127.0.0.1:1"
                    source: 127.0.0.3
                    servers:
                      - { label: A, address: "127.0.0.1:\(port)" }
                  - label: TLS
                    listen: "127.0.0.1:2"
                    protocol: tls
                    source: 127.0.0.3
                    servers:
                      - { label: B, address: "127.0.0.1:\(port)", source: 127.0.0.4 }
                """
            try await withGateway(yaml: yaml) { gateway in
                var expected: [String] = []
                let tcp = try await environment.run(
                    .python,
                    ["-c", "import socket; s = socket.create_connection(('127.0.0.1', \(try await gateway.port("TCP")))); s.recv(1)"])
                #expect(tcp.status == 0, "\(tcp.summary)")
                expected.append("127.0.0.3")
                #expect(await eventually { Self.lines(peers) == expected }, "\(Self.lines(peers))")

                // TLS passthrough: the ClientHello picks the server, which the listener closes at once.
                _ = try await environment.sClient(port: try await gateway.port("TLS"), serverName: "a.mach7.test", alpn: nil)
                expected.append("127.0.0.4")
                #expect(await eventually { Self.lines(peers) == expected }, "\(Self.lines(peers))")
            }
        }
    }

    static func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}

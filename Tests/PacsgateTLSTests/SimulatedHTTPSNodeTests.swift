import Foundation
import NIOCore
import NIOPosix
import PacsgateDemo
import PacsgateTLS
import Testing
import PacsgateTestSupport

@Suite("Simulated HTTPS node", .timeLimit(.minutes(5)))
struct SimulatedHTTPSNodeTests {
    @Test("answers curl over HTTPS with a page naming the node; its generated certificate is on disk")
    func answersWithItsName() async throws {
        try await TestEnvironment.with { environment in
            let node = try SimulatedHTTPSNode(name: "HTTPS1", stateDirectory: environment.directory)
            let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try node.configure(channel) }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            do {
                let port = try #require(listener.localAddress?.port)
                let certificate = environment.path("tls/HTTPS1.crt")
                // Verified against the certificate it wrote: the generated certificate is the one it serves.
                let output = try await environment.curl(
                    "https1.mach7.demo",
                    port: port,
                    path: "/",
                    ["--cacert", certificate]
                )
                #expect(output.status == 0, "\(output.summary)")
                #expect(output.out.contains("<h1>Mach7 node HTTPS1</h1>"), "\(output.summary)")
                #expect(output.out.hasSuffix("HTTP=200"))

                let subject = try await environment.run(
                    .openssl,
                    ["x509", "-in", certificate, "-noout", "-subject", "-ext", "subjectAltName"]
                )
                #expect(subject.out.contains("CN = HTTPS1"), "\(subject.summary)")
                #expect(subject.out.contains("DNS:localhost"), "\(subject.summary)")
                let attributes = try FileManager.default.attributesOfItem(atPath: environment.path("tls/HTTPS1.key"))
                #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

                // Keep-alive: two requests on one connection.
                let twice = try await environment.run(
                    .curl,
                    [
                        "-sS", "-k", "--http1.1", "https://127.0.0.1:\(port)/a", "https://127.0.0.1:\(port)/b",
                        "-w", "%{num_connects}\n",
                    ]
                )
                #expect(twice.out.components(separatedBy: "Mach7 node HTTPS1").count == 3, "\(twice.summary)")
                // One new connection for the first request, none for the second.
                #expect(
                    twice.out.split(separator: "\n").filter { $0.allSatisfy(\.isNumber) } == ["1", "0"],
                    "\(twice.summary)"
                )
            } catch {
                try? await listener.close()
                throw error
            }
            try await listener.close()
        }
    }

    @Test("two simulated nodes behind a passthrough service: round robin reaches both, the tls check reports them up")
    func behindTheGateway() async throws {
        try await TestEnvironment.with { environment in
            var listeners: [any Channel] = []
            var entries: [String] = []
            for name in ["HTTPS1", "HTTPS2"] {
                let node = try SimulatedHTTPSNode(name: name, stateDirectory: environment.directory)
                let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .childChannelOption(.allowRemoteHalfClosure, value: true)
                    .childChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture { try node.configure(channel) }
                    }
                    .bind(host: "127.0.0.1", port: 0).get()
                listeners.append(listener)
                entries.append("{ label: \(name), address: \"127.0.0.1:\(listener.localAddress?.port ?? 0)\" }")
            }
            let yaml = """
                services:
                  - label: DEMO
                    listen: "127.0.0.1:1"
                    protocol: tls
                    balance: roundrobin
                    health_check: { type: tls, interval: 200ms, timeout: 2s, rise: 1, fall: 1, path: / }
                    servers: [\(entries.joined(separator: ", "))]
                """
            do {
                try await withGateway(yaml: yaml) { gateway in
                    let runtime = try await gateway.runtime("DEMO")
                    let up = await eventually {
                        runtime.pool.snapshot().allSatisfy { $0.health == .up && $0.lastCheck?.succeeded == true }
                    }
                    #expect(up, "\(runtime.pool.snapshot())")
                    for server in runtime.pool.snapshot() {
                        let detail = server.lastCheck?.detail ?? ""
                        #expect(detail.hasPrefix("TLS1.3 handshake ok; certificate expires "), "\(detail)")
                        // Valid for 30 days from start: 29 or 30 whole days left, depending on the second.
                        #expect(
                            detail.hasSuffix("(in 29 days); GET / → 200")
                                || detail.hasSuffix("(in 30 days); GET / → 200"),
                            "\(detail)"
                        )
                    }
                    let port = try await gateway.port("DEMO")
                    var seen: Set<String> = []
                    for _ in 0..<2 {
                        let output = try await environment.curl("localhost", port: port, path: "/", ["-k"])
                        for name in ["HTTPS1", "HTTPS2"] where output.out.contains("Mach7 node \(name)") {
                            seen.insert(name)
                        }
                    }
                    #expect(seen == ["HTTPS1", "HTTPS2"])
                }
            } catch {
                for listener in listeners { try? await listener.close() }
                throw error
            }
            for listener in listeners { try await listener.close() }
        }
    }
}

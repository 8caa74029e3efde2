import NIOCore
import PacsgateTestSupport
import Testing
@testable import PacsgateCore

/// Applying a new configuration to a running gateway.
@Suite("Reload")
struct ReloadTests {
    @Test("reload: services added and removed, weights applied, open connections and persistence kept")
    func apply() async throws {
        let a = try await TestBackend.start("A")
        let b = try await TestBackend.start("B")
        let first = TestGateway.service(servers: [a.server(), b.server()], persistence: "source-ip")
        let gateway = try await TestGateway.start([first])
        let port = try await gateway.port()
        let stuckTo = try await TestClient.identify(port: port, from: "127.0.0.70")
        let open = try await TestClient.connect(port: port, from: "127.0.0.71")
        try await open.executeThenClose { inbound, outbound in
            var lines = inbound.makeAsyncIterator()
            let openOn = try #require(try await lines.next().map { String(buffer: $0) })

            // Reload: B's weight to 0 (no new clients), a second service added.
            var changed = first
            changed.servers[1].weight = 0
            var extra = TestGateway.service("EXTRA", servers: [a.server()])
            extra.listen = Endpoint(host: "127.0.0.1", port: 0)
            let report = try await gateway.gateway.apply(GatewayConfiguration(services: [changed, extra]))
            #expect(report.added == ["EXTRA"])
            #expect(report.changed == ["SVC"])
            #expect(report.removed.isEmpty)
            #expect(await gateway.gateway.listenAddress(of: "SVC")?.port == port, "an unchanged listener is kept")

            // New clients avoid B; the stuck client keeps its server even if it is B (persistence survives).
            for host in 80...85 { #expect(try await TestClient.identify(port: port, from: "127.0.0.\(host)") == "A") }
            #expect(try await TestClient.identify(port: port, from: "127.0.0.70") == stuckTo)
            let extraPort = try await gateway.port("EXTRA")
            #expect(try await TestClient.identify(port: extraPort) == "A")

            // Remove EXTRA again: it stops listening.
            _ = try await gateway.gateway.apply(GatewayConfiguration(services: [changed]))
            #expect(await gateway.gateway.listenAddress(of: "EXTRA") == nil)
            #expect((try? await TestClient.identify(port: extraPort)) == nil)

            // The connection opened before the reloads still works on its server.
            try await outbound.write(ByteBuffer(string: "after reload"))
            outbound.finish()
            var text = ""
            while let chunk = try await lines.next() { text += String(buffer: chunk) }
            #expect(text == "after reload")
            #expect(["A\n", "B\n"].contains(openOn))
        }
        await gateway.stop()
        await a.kill()
        await b.kill()
    }

    @Test("a reload whose new listener cannot bind changes nothing")
    func bindFailureChangesNothing() async throws {
        let a = try await TestBackend.start("A")
        let first = TestGateway.service(servers: [a.server()])
        let gateway = try await TestGateway.start([first])
        let port = try await gateway.port()
        var clash = TestGateway.service("CLASH", servers: [a.server()])
        clash.listen = Endpoint(host: "127.0.0.1", port: a.port)  // already taken by the backend
        var reweighted = first
        reweighted.servers[0].weight = 7
        await #expect(throws: (any Error).self) {
            try await gateway.gateway.apply(GatewayConfiguration(services: [reweighted, clash]))
        }
        let runtime = try await gateway.runtime()
        #expect(runtime.pool.snapshot().first?.weight == 100)
        #expect(await gateway.gateway.listenAddress(of: "CLASH") == nil)
        #expect(try await TestClient.identify(port: port) == "A")
        await gateway.stop()
        await a.kill()
    }
}

import NIOCore
import PacsgateTestSupport
import Testing
@testable import PacsgateCore

/// Weighted round-robin, source-IP persistence, drain/halt and maxconn against real backends.
@Suite("Balancing and server states")
struct BalancingTests {
    @Test("weighted round-robin 100/50 over 1,000 connections splits 2:1 within ±5%")
    func weightedRoundRobin() async throws {
        let a = try await TestBackend.start("A")
        let b = try await TestBackend.start("B")
        let gateway = try await TestGateway.start([TestGateway.service(servers: [a.server(weight: 100), b.server(weight: 50)])])
        let port = try await gateway.port()
        var counts: [String: Int] = [:]
        for _ in 0..<1000 {
            counts[try await TestClient.identify(port: port), default: 0] += 1
        }
        let shareA = Double(counts["A", default: 0]) / 1000
        #expect(abs(shareA - 2.0 / 3.0) <= 0.05, "A got \(counts["A", default: 0]), B got \(counts["B", default: 0])")
        #expect(counts["A", default: 0] + counts["B", default: 0] == 1000)
        await gateway.stop()
        await a.kill()
        await b.kill()
    }

    @Test("source-IP persistence: one client stays on one server; when it dies the client moves and stays")
    func sourceIPPersistence() async throws {
        let a = try await TestBackend.start("A")
        let b = try await TestBackend.start("B")
        let health = HealthCheckConfiguration(
            type: "connect", interval: .milliseconds(100), timeout: .seconds(2), rise: 2, fall: 2,
            check: ConnectHealthCheck())
        let gateway = try await TestGateway.start([
            TestGateway.service(servers: [a.server(), b.server()], persistence: "source-ip", healthCheck: health)
        ])
        let port = try await gateway.port()
        var seen: Set<String> = []
        for _ in 0..<50 { seen.insert(try await TestClient.identify(port: port, from: "127.0.0.7")) }
        #expect(seen.count == 1, "one client landed on \(seen.sorted())")
        let first = try #require(seen.first)
        // Other clients are spread by round-robin, so the stickiness above is not an accident of the balancer.
        var others: Set<String> = []
        for host in 8...11 { others.insert(try await TestClient.identify(port: port, from: "127.0.0.\(host)")) }
        #expect(others.count == 2)

        let (dead, survivor) = first == "A" ? (a, "B") : (b, "A")
        await dead.kill()
        var after: [String] = []
        for _ in 0..<20 { after.append(try await TestClient.identify(port: port, from: "127.0.0.7")) }
        #expect(after.allSatisfy { $0 == survivor }, "after the kill: \(after)")
        // The table now points at the survivor, and stays there when the dead server comes back.
        try await dead.restart()
        let runtime = try await gateway.runtime()
        #expect(await eventually { runtime.pool.snapshot().allSatisfy { $0.health == .up } })
        for _ in 0..<20 { #expect(try await TestClient.identify(port: port, from: "127.0.0.7") == survivor) }
        await gateway.stop()
        await a.kill()
        await b.kill()
    }

    @Test("drain: no new clients, stuck clients still admitted, open connections continue")
    func drain() async throws {
        let a = try await TestBackend.start("A")
        let b = try await TestBackend.start("B")
        let gateway = try await TestGateway.start([
            TestGateway.service(servers: [a.server(), b.server()], persistence: "source-ip")
        ])
        let port = try await gateway.port()
        // Find a client stuck to A and keep one connection to A open.
        let sticky = try await Self.clientStuck(to: "A", port: port)
        let open = try await TestClient.connect(port: port, from: sticky)
        try await open.executeThenClose { inbound, outbound in
            var lines = inbound.makeAsyncIterator()
            // The open connection is on A before the state changes.
            #expect(try await lines.next().map { String(buffer: $0) } == "A\n")
            try await gateway.gateway.change(service: "SVC", server: "A", to: .state(.drain))
            for host in 50...60 {
                #expect(try await TestClient.identify(port: port, from: "127.0.0.\(host)") == "B")
            }
            #expect(try await TestClient.identify(port: port, from: sticky) == "A")
            try await outbound.write(ByteBuffer(string: "still here"))
            outbound.finish()
            var text = ""
            while let chunk = try await lines.next() { text += String(buffer: chunk) }
            #expect(text == "still here")
        }
        await gateway.stop()
        await a.kill()
        await b.kill()
    }

    @Test("halt: no new connections at all, stuck clients move, open connections continue")
    func halt() async throws {
        let a = try await TestBackend.start("A")
        let b = try await TestBackend.start("B")
        let gateway = try await TestGateway.start([
            TestGateway.service(servers: [a.server(), b.server()], persistence: "source-ip")
        ])
        let port = try await gateway.port()
        let sticky = try await Self.clientStuck(to: "A", port: port)
        let open = try await TestClient.connect(port: port, from: sticky)
        try await open.executeThenClose { inbound, outbound in
            var lines = inbound.makeAsyncIterator()
            #expect(try await lines.next().map { String(buffer: $0) } == "A\n")
            try await gateway.gateway.change(service: "SVC", server: "A", to: .state(.halt))
            #expect(try await TestClient.identify(port: port, from: sticky) == "B")
            #expect(try await TestClient.identify(port: port, from: sticky) == "B")
            try await outbound.write(ByteBuffer(string: "still here"))
            outbound.finish()
            var text = ""
            while let chunk = try await lines.next() { text += String(buffer: chunk) }
            #expect(text == "still here")
        }
        try await gateway.gateway.change(service: "SVC", server: "A", to: .state(.online))
        #expect(try await TestClient.identify(port: port, from: sticky) == "B", "re-stuck to B")
        await gateway.stop()
        await a.kill()
        await b.kill()
    }

    /// A client address (127.0.0.20 … .40) whose first connection landed on `server`, so it is stuck there.
    static func clientStuck(to server: String, port: Int) async throws -> String {
        for host in 20...40 {
            let source = "127.0.0.\(host)"
            if try await TestClient.identify(port: port, from: source) == server { return source }
        }
        throw TestClient.Failure(description: "no client landed on \(server)")
    }

    @Test("maxconn: connections beyond the limit are refused cleanly and counted; the service recovers at once")
    func maxConnections() async throws {
        let a = try await TestBackend.start("A", mode: .echo)
        let gateway = try await TestGateway.start([TestGateway.service(servers: [a.server()], maxConnections: 2)])
        let port = try await gateway.port()
        let runtime = try await gateway.runtime()
        let first = try await TestClient.connect(port: port)
        let second = try await TestClient.connect(port: port)
        #expect(await eventually { runtime.stats.activeConnections == 2 && a.stats.accepted == 2 })
        let third = try await TestClient.connect(port: port)
        let refusedBytes = try await third.executeThenClose { inbound, _ in try await TestClient.readAll(inbound) }
        #expect(refusedBytes.isEmpty)
        #expect(runtime.stats.refusedConnections == 1)
        #expect(a.stats.accepted == 2, "the refused connection must not reach the server")
        try await first.executeThenClose { _, outbound in outbound.finish() }
        #expect(await eventually { runtime.stats.activeConnections == 1 })
        let echoed = try await TestClient.exchange(port: port, payload: Array("ok".utf8))
        #expect(echoed == Array("ok".utf8))
        try await second.executeThenClose { _, outbound in outbound.finish() }
        await gateway.stop()
        await a.kill()
    }

    @Test("weight 0 takes a server out of new selections")
    func weightZero() async throws {
        let a = try await TestBackend.start("A")
        let b = try await TestBackend.start("B")
        let gateway = try await TestGateway.start([TestGateway.service(servers: [a.server(weight: 0), b.server()])])
        let port = try await gateway.port()
        for _ in 0..<20 { #expect(try await TestClient.identify(port: port) == "B") }
        try await gateway.gateway.change(service: "SVC", server: "A", to: .weight(100))
        var seen: Set<String> = []
        for _ in 0..<4 { seen.insert(try await TestClient.identify(port: port)) }
        #expect(seen == ["A", "B"])
        await gateway.stop()
        await a.kill()
        await b.kill()
    }

    @Test("a server that refuses connections is skipped: the next healthy server takes the client")
    func connectFailover() async throws {
        let a = try await TestBackend.start("A")
        let b = try await TestBackend.start("B")
        await a.kill()
        let gateway = try await TestGateway.start([TestGateway.service(servers: [a.server(), b.server()])])
        let port = try await gateway.port()
        for _ in 0..<6 { #expect(try await TestClient.identify(port: port) == "B") }
        let runtime = try await gateway.runtime()
        #expect(runtime.pool.snapshot().first { $0.label == "A" }?.connectFailures == 3)
        await gateway.stop()
        await b.kill()
    }
}

import NIOCore
import PacsgateTestSupport
import Testing
@testable import PacsgateCore

/// The connect health check takes a killed server down after `fall` failed checks and back up after `rise`.
@Suite("Health checks")
struct HealthCheckTests {
    @Test("a killed server is marked down after exactly `fall` failed checks and up again after `rise` good ones")
    func riseAndFall() async throws {
        let a = try await TestBackend.start("A")
        let b = try await TestBackend.start("B")
        let interval = Duration.milliseconds(200)
        let health = HealthCheckConfiguration(
            type: "connect", interval: interval, timeout: .seconds(2), rise: 2, fall: 3, check: ConnectHealthCheck())
        let gateway = try await TestGateway.start([TestGateway.service(servers: [a.server(), b.server()], healthCheck: health)])
        let runtime = try await gateway.runtime()
        func server(_ label: String) -> ServerSnapshot? { runtime.pool.snapshot().first { $0.label == label } }
        #expect(await eventually { (server("A")?.checksPassed ?? 0) >= 2 })

        let clock = ContinuousClock()
        let failedBefore = try #require(server("A")).checksFailed
        let killedAt = clock.now
        await a.kill()
        #expect(await eventually { server("A")?.health == .down })
        let downAfter = clock.now - killedAt
        let snapshot = try #require(server("A"))
        #expect(snapshot.checksFailed - failedBefore == 3, "down after \(snapshot.checksFailed - failedBefore) failed checks")
        #expect(snapshot.lastCheck?.succeeded == false)
        #expect(snapshot.lastCheck?.detail == "connection refused")
        print("health: server marked down \(downAfter) after the kill (fall 3 × interval \(interval))")

        // While down it gets no connections.
        let port = try await gateway.port()
        for _ in 0..<6 { #expect(try await TestClient.identify(port: port) == "B") }

        let passedBefore = snapshot.checksPassed
        try await a.restart()
        #expect(await eventually { server("A")?.health == .up })
        #expect(try #require(server("A")).checksPassed - passedBefore == 2)
        var seen: Set<String> = []
        for _ in 0..<4 { seen.insert(try await TestClient.identify(port: port)) }
        #expect(seen == ["A", "B"])
        await gateway.stop()
        await a.kill()
        await b.kill()
    }

    @Test("a server that accepts but never answers fails a probe that expects an answer")
    func timeoutIsAFailure() async throws {
        let silent = try await TestBackend.start("S", mode: .silent)
        struct ExpectsGreeting: HealthProbe {
            mutating func start() -> ProbeStep { .needMore }
            mutating func receive(_ data: inout ByteBuffer) -> ProbeStep { .done(.success("greeted")) }
        }
        let result = await ProbeConnection.run(
            server: Endpoint(host: "127.0.0.1", port: silent.port), timeout: .milliseconds(200),
            group: MultiThreadedEventLoopGroupSingleton.group, probe: ExpectsGreeting())
        #expect(result.succeeded == false)
        #expect(result.detail == "no answer within 200ms")
        await silent.kill()
    }
}

import NIOPosix
enum MultiThreadedEventLoopGroupSingleton {
    static var group: any EventLoopGroup { MultiThreadedEventLoopGroup.singleton }
}

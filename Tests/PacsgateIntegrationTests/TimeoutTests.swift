import NIOCore
import PacsgateTestSupport
import Testing
@testable import PacsgateCore

/// Idle and connect timeouts end connections with a reason.
@Suite("Timeouts")
struct TimeoutTests {
    @Test("a forwarded connection idle for idle_timeout is closed; traffic keeps it open")
    func idleTimeout() async throws {
        let backend = try await TestBackend.start("ECHO", mode: .echo)
        let gateway = try await TestGateway.start([
            TestGateway.service(
                servers: [backend.server()], timeouts: ServiceTimeouts(connect: .seconds(30), idle: .seconds(5)))
        ])
        let runtime = try await gateway.runtime()
        let client = try await TestClient.connect(port: try await gateway.port())
        try await client.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            // Traffic every second for 7 s: longer than the idle timeout in total, but never idle for it.
            for _ in 0..<7 {
                try await outbound.write(ByteBuffer(string: "tick"))
                var echoed = ""
                while echoed.count < 4, let chunk = try await iterator.next() { echoed += String(buffer: chunk) }
                #expect(echoed == "tick")
                try await Task.sleep(for: .seconds(1))
            }
            // Now idle: the gateway ends the connection.
            let clock = ContinuousClock()
            let idleStart = clock.now
            #expect(try await iterator.next() == nil)
            print("idle: connection closed \(clock.now - idleStart) after the last byte (idle_timeout 5s)")
        }
        #expect(await eventually { runtime.stats.activeConnections == 0 })
        #expect(backend.stats.received == 28)
        await gateway.stop()
        await backend.kill()
    }
}

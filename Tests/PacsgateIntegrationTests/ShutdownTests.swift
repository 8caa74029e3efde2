import NIOCore
import NIOPosix
import PacsgateTestSupport
import Testing
@testable import PacsgateCore

/// Graceful shutdown stops accepting and lets a transfer in flight finish.
@Suite("Graceful shutdown")
struct ShutdownTests {
    @Test("a transfer in flight completes intact while the gateway shuts down; new connections are refused")
    func transferCompletes() async throws {
        // 16 MiB: the shutdown starts after the first MiB, so 15 MiB are still in flight while the listener closes and
        // the gateway drains (a debug build moves this in a few seconds; 48 MiB took a minute and a half).
        let size = 16 << 20
        let backend = try await TestBackend.start("SRC", mode: .source(count: size))
        let gateway = try await TestGateway.start([TestGateway.service(servers: [backend.server()])])
        let port = try await gateway.port()
        let client = try await TestClient.connect(port: port)
        let (received, shutdown) = try await client.executeThenClose { inbound, _ -> ([UInt8], Task<Void, Never>?) in
            var received: [UInt8] = []
            var shutdown: Task<Void, Never>?
            for try await var chunk in inbound {
                received.append(contentsOf: chunk.readBytes(length: chunk.readableBytes) ?? [])
                if shutdown == nil, received.count > 1 << 20 {
                    shutdown = Task { await gateway.gateway.shutdown(grace: .seconds(60)) }
                    // The listener is closed promptly: a new connection is refused.
                    #expect(
                        await eventually {
                            guard let probe = try? await TestClient.connect(port: port) else { return true }
                            try? await probe.channel.close()
                            return false
                        })
                }
                // Read slowly so the transfer is still running during the shutdown.
                if received.count % (4 << 20) < 65_536 { try await Task.sleep(for: .milliseconds(20)) }
            }
            return (received, shutdown)
        }
        // The server has sent everything and closed; the gateway passed the end on and waits for the client's side of
        // the connection, which closes when the closure returns. Awaiting the shutdown inside the closure would hold
        // the connection half-open for the whole grace period.
        await shutdown?.value
        #expect(received.count == size)
        #expect(received.elementsEqual(Pattern.bytes(offset: 0, count: size)), "bytes differ from the pattern")
        await gateway.audit.shutdown()
        await backend.kill()
    }

    @Test("after the grace period remaining connections are closed")
    func graceExpires() async throws {
        let backend = try await TestBackend.start("S", mode: .silent)
        let gateway = try await TestGateway.start([TestGateway.service(servers: [backend.server()])])
        let runtime = try await gateway.runtime()
        let client = try await TestClient.connect(port: try await gateway.port())
        #expect(await eventually { runtime.connections.count == 1 })
        let clock = ContinuousClock()
        let started = clock.now
        await gateway.gateway.shutdown(grace: .milliseconds(300))
        #expect(runtime.connections.count == 0)
        #expect(clock.now - started >= .milliseconds(300))
        let leftover = try await client.executeThenClose { inbound, _ in try await TestClient.readAll(inbound) }
        #expect(leftover.isEmpty)
        await gateway.audit.shutdown()
        await backend.kill()
    }
}

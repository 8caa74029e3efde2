import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PacsgateCore
import PacsgateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Connection floods against `maxconn` and `maxconn_per_client`.
@Suite("Load limits", .timeLimit(.minutes(3)))
struct LoadLimitTests {
    /// Connects, and reports whether the gateway closed the connection without sending a byte (a refusal), within
    /// `timeout`. A connection still open then is closed by us and reported as not refused.
    static func attempt(port: Int, timeout: Duration = .seconds(20)) async throws -> Bool {
        let received = NIOLockedValueBox(0)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteCounter(received: received))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let timer = channel.eventLoop.scheduleTask(in: .seconds(timeout.components.seconds)) {
            channel.close(mode: .all, promise: nil)
        }
        let closedByPeer = NIOLockedValueBox(true)
        timer.futureResult.whenSuccess { closedByPeer.withLockedValue { $0 = false } }
        try? await channel.closeFuture.get()
        timer.cancel()
        return closedByPeer.withLockedValue { $0 } && received.withLockedValue { $0 } == 0
    }

    private final class ByteCounter: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<Int>
        init(received: NIOLockedValueBox<Int>) { self.received = received }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let count = self.unwrapInboundIn(data).readableBytes
            self.received.withLockedValue { $0 += count }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    /// Whether this test process runs under AddressSanitizer (its runtime is linked in).
    /// Built with `--sanitize=address` or `--sanitize=thread` (scripts/sanitize.sh): both add shadow memory.
    static let underSanitizer: Bool =
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil
        || dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil

    /// Raises this process's open-file limit to what the test needs (scripts/test.sh raises the shell's too).
    static func raiseFileLimit(to wanted: rlim_t) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < wanted else { return }
        limit.rlim_cur = min(wanted, limit.rlim_max)
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    @Test("20,000 connection attempts against maxconn 1000: the excess is refused, memory bounded, instant recovery")
    func floodAgainstMaxconn() async throws {
        Self.raiseFileLimit(to: 16_384)
        try await withTestScope { scope in
            let backend = try await CountingListener.start(scope: scope)
            let gateway = try await RelGateway.start(
                services: """
                      - label: TCP
                        listen: "127.0.0.1:8000"
                        maxconn: 1000
                        servers:
                          - \(backend.server("B1"))
                    """,
                scope: scope
            )
            let port = try await gateway.port("TCP")
            let runtime = try await gateway.runtime("TCP")

            var held: [RawConnection] = []
            for _ in 0..<1000 { held.append(try await RawConnection.connect(port: port, scope: scope)) }
            #expect(await eventually(timeout: .seconds(60)) { backend.connections == 1000 }, "\(backend.connections)")
            let rssBefore = residentKiB()

            let peak = NIOLockedValueBox(0)
            var refused = 0
            let wave = 500
            for _ in 0..<(19_000 / wave) {
                refused += try await withThrowingTaskGroup(of: Bool.self) { group in
                    for _ in 0..<wave { group.addTask { try await Self.attempt(port: port) } }
                    var count = 0
                    for try await wasRefused in group where wasRefused { count += 1 }
                    return count
                }
                peak.withLockedValue { $0 = max($0, runtime.connections.count) }
            }
            let rssAfter = residentKiB()
            #expect(refused == 19_000, "every attempt over maxconn is refused (closed without a byte)")
            #expect(runtime.stats.refusedConnections == 19_000)
            #expect(backend.connections == 1000, "no refused connection reached the backend")
            #expect(peak.withLockedValue { $0 } <= 1000 + wave, "the registry holds no more than maxconn + one wave")
            // Bounded: 19,000 refusals may not cost more than 64 MiB of this process (gateway and clients). Under
            // AddressSanitizer (scripts/sanitize.sh) freed memory sits in ASan's quarantine (256 MiB by default) and
            // shadow memory comes on top; ThreadSanitizer adds its own shadow: the bound is then 1 GiB.
            let limit = Self.underSanitizer ? 1024 * 1024 : 64 * 1024
            #expect(rssAfter - rssBefore < limit, "RSS grew from \(rssBefore) KiB to \(rssAfter) KiB")
            #expect(runtime.connections.count == 1000)

            // Recovers at once: with one slot free, the next connection is forwarded.
            await held.removeFirst().close()
            #expect(await eventually(timeout: .seconds(10)) { runtime.connections.count == 999 })
            let next = try await RawConnection.connect(port: port, scope: scope)
            #expect(await eventually(timeout: .seconds(10)) { backend.connections == 1001 }, "not forwarded")
            #expect(!next.sawEOF)
            await next.close()
            for connection in held { await connection.close() }
            #expect(try await gateway.drained("TCP", timeout: .seconds(30)), "gauges back to zero")
        }
    }

    @Test("maxconn_per_client: the fourth connection from one address is refused, other addresses are not")
    func perClientLimit() async throws {
        try await withTestScope { scope in
            let backend = try await CountingListener.start(scope: scope)
            let gateway = try await RelGateway.start(
                services: """
                      - label: TCP
                        listen: "127.0.0.1:8000"
                        maxconn_per_client: 3
                        servers:
                          - \(backend.server("B1"))
                    """,
                scope: scope
            )
            let port = try await gateway.port("TCP")
            var held: [RawConnection] = []
            for _ in 0..<3 { held.append(try await RawConnection.connect(port: port, from: "127.0.0.2", scope: scope)) }
            #expect(await eventually { backend.connections == 3 })
            let fourth = try await RawConnection.connect(port: port, from: "127.0.0.2", scope: scope)
            #expect(await fourth.waitForEOF(), "the fourth connection from 127.0.0.2 must be refused")
            #expect(fourth.received.isEmpty)
            let other = try await RawConnection.connect(port: port, from: "127.0.0.3", scope: scope)
            #expect(await eventually { backend.connections == 4 }, "127.0.0.3 has its own allowance")
            #expect(!other.sawEOF)
            #expect(try await gateway.runtime("TCP").stats.refusedConnections == 1)
            // A slot freed is usable again by the same address.
            await held[0].close()
            #expect(await eventually { (try? await gateway.runtime("TCP").connections.count) == 3 })
            let again = try await RawConnection.connect(port: port, from: "127.0.0.2", scope: scope)
            #expect(await eventually { backend.connections == 5 })
            #expect(!again.sawEOF)
        }
    }
}

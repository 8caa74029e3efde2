import NIOCore
import NIOPosix
import PacsgateTestSupport
import Testing
@testable import PacsgateCore

/// A peer that stops reading must not make the gateway buffer without bound.
@Suite("Backpressure")
struct BackpressureTests {
    /// Most bytes the gateway may hold for one slow leg: the write-buffer high-water mark plus what one `read()`
    /// can bring in before writability is checked again (NIO's default of 4 reads of at most 256 KiB).
    static let bound = 512 * 1024 + 4 * 256 * 1024

    @Test("a client that does not read: the gateway's buffer stays bounded while the server is held back")
    func nonReadingClient() async throws {
        let backend = try await TestBackend.start("SRC", mode: .source(count: 512 << 20))
        let gateway = try await TestGateway.start([TestGateway.service(servers: [backend.server()])])
        let runtime = try await gateway.runtime()
        let client = try await TestClient.connect(port: try await gateway.port(), autoRead: false)
        // Let the server push until every buffer on the way is full.
        var lastSent = -1
        for _ in 0..<100 {
            try await Task.sleep(for: .milliseconds(50))
            let sent = backend.stats.sent
            if sent == lastSent { break }
            lastSent = sent
        }
        let buffered = await runtime.connections.bufferedBytes()
        #expect(buffered <= Self.bound, "gateway buffered \(buffered) bytes")
        #expect(backend.stats.sent < 64 << 20, "the server was not held back: it sent \(backend.stats.sent) bytes")
        try await client.executeThenClose { _, _ in }
        await gateway.stop()
        await backend.kill()
    }

    @Test("a server that does not read: the gateway's buffer stays bounded while the client is held back")
    func nonReadingServer() async throws {
        let backend = try await TestBackend.start("S", mode: .silent)
        let gateway = try await TestGateway.start([TestGateway.service(servers: [backend.server()])])
        let runtime = try await gateway.runtime()
        let writer = GreedyWriter()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(writer) }
            }
            .connect(host: "127.0.0.1", port: try await gateway.port()).get()
        // Wait until the client can write no more: every buffer on the way is full.
        var last = -1
        while true {
            try await Task.sleep(for: .milliseconds(300))
            let now = try await channel.eventLoop.submit { writer.written }.get()
            if now == last { break }
            last = now
        }
        let buffered = await runtime.connections.bufferedBytes()
        #expect(buffered <= Self.bound, "gateway buffered \(buffered) bytes")
        #expect(last < 64 << 20, "the client was not held back: it wrote \(last) bytes")
        #expect(backend.stats.received == 0)
        try await channel.close()
        await gateway.stop()
        await backend.kill()
    }
}

/// Writes 64 KiB chunks whenever the channel is writable, counting completed writes.
private final class GreedyWriter: ChannelInboundHandler, @unchecked Sendable {
    // Only touched on the channel's event loop.
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    var written = 0

    func channelActive(context: ChannelHandlerContext) {
        self.pump(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.pump(context: context)
    }

    private func pump(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        while context.channel.isWritable {
            let chunk = ByteBuffer(repeating: 0x41, count: 64 * 1024)
            context.writeAndFlush(self.wrapOutboundOut(chunk)).whenSuccess { loopBound.value.written += chunk.readableBytes }
        }
    }
}

import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PacsgateTestSupport

@testable import PacsgateHL7

/// A raw TCP client for sending exact (also malformed) MLLP bytes and reading the exact answer.
final class MLLPTestClient: Sendable {
    private struct State {
        var received = ByteBuffer()
        var closed = false
    }

    private let channel: any Channel
    private let state: NIOLockedValueBox<State>

    private init(channel: any Channel, state: NIOLockedValueBox<State>) {
        self.channel = channel
        self.state = state
    }

    static func connect(port: Int) async throws -> MLLPTestClient {
        let state = NIOLockedValueBox(State())
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(state: state))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return MLLPTestClient(channel: channel, state: state)
    }

    /// Writes `bytes` in one write.
    func send(_ bytes: ByteBuffer) async throws {
        try await self.channel.writeAndFlush(bytes)
    }

    /// Writes `bytes` one byte per write, pausing between writes so the gateway reads them separately.
    func sendBytewise(_ bytes: ByteBuffer, pause: Duration = .milliseconds(2)) async throws {
        for byte in bytes.readableBytesView {
            try await self.channel.writeAndFlush(ByteBuffer(bytes: [byte]))
            try await Task.sleep(for: pause)
        }
    }

    /// Everything received so far.
    var received: ByteBuffer { self.state.withLockedValue { $0.received } }

    /// Whether the gateway closed (or half-closed) the connection.
    var isClosed: Bool { self.state.withLockedValue { $0.closed } }

    /// Waits until `count` complete MLLP frames have arrived; returns them (exact bytes, SB to CR).
    func frames(_ count: Int, timeout: Duration = .seconds(30)) async throws -> [ByteBuffer] {
        var frames: [ByteBuffer] = []
        let complete = await eventually(timeout: timeout) {
            frames = Self.split(self.received)
            return frames.count >= count || (self.isClosed && frames.count < count)
        }
        guard complete, frames.count >= count else {
            throw PeerFailure(
                "expected \(count) frame(s), got \(frames.count) (closed: \(self.isClosed)); received "
                    + String(decoding: self.received.readableBytesView, as: UTF8.self).debugDescription
            )
        }
        return frames
    }

    /// Waits until the gateway closes the connection.
    func awaitClose(timeout: Duration = .seconds(30)) async -> Bool {
        await eventually(timeout: timeout) { self.isClosed }
    }

    func close() async {
        try? await self.channel.close()
    }

    /// Splits a byte stream into complete frames with the real scanner.
    static func split(_ stream: ByteBuffer) -> [ByteBuffer] {
        var scanner = MLLPFrameScanner()
        var chunk = stream
        var frames: [ByteBuffer] = []
        while let event = scanner.next(from: &chunk) {
            if case .frame(let frame) = event { frames.append(frame.bytes) }
        }
        return frames
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer

        private let state: NIOLockedValueBox<State>

        init(state: NIOLockedValueBox<State>) {
            self.state = state
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = self.unwrapInboundIn(data)
            self.state.withLockedValue { _ = $0.received.writeBuffer(&bytes) }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? ChannelEvent, case .inputClosed = event {
                self.state.withLockedValue { $0.closed = true }
                context.close(promise: nil)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.state.withLockedValue { $0.closed = true }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}

extension ByteBuffer {
    /// Readable bytes as text with control bytes visible, for failure messages.
    var visible: String {
        String(decoding: self.readableBytesView, as: UTF8.self).debugDescription
    }
}

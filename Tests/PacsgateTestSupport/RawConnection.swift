import NIOConcurrencyHelpers
package import NIOCore
import NIOPosix

/// A raw TCP client on loopback that writes exact bytes and records exactly what comes back and when the other
/// side closed: for the bad-input cases no real DICOM peer would produce.
///
/// `Sendable`: the channel is thread-safe and what it recorded sits in a `NIOLockedValueBox`.
package final class RawConnection: Sendable {
    private struct State {
        var received: [UInt8] = []
        var eof = false
        var closed = false
    }

    private let channel: any Channel
    private let state: NIOLockedValueBox<State>

    private init(channel: any Channel, state: NIOLockedValueBox<State>) {
        self.channel = channel
        self.state = state
    }

    /// Connects to `port` on 127.0.0.1, from `source` (e.g. `127.0.0.2`) when given.
    package static func connect(port: Int, from source: String? = nil, scope: TestScope) async throws -> RawConnection {
        let state = NIOLockedValueBox(State())
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Recorder(state: state))
                }
            }
        if let source {
            bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0))
        }
        let channel = try await bootstrap.connect(host: "127.0.0.1", port: port).get()
        await scope.onCleanup { try? await channel.close() }
        return RawConnection(channel: channel, state: state)
    }

    /// Writes bytes.
    package func send(_ bytes: ByteBuffer) async throws {
        try await self.channel.writeAndFlush(bytes)
    }

    /// Sends FIN (half-close), as a client does after its last PDU.
    package func finishOutput() async throws {
        try await self.channel.close(mode: .output)
    }

    /// Closes the connection.
    package func close() async {
        try? await self.channel.close()
    }

    /// Everything received so far.
    package var received: [UInt8] { self.state.withLockedValue { $0.received } }
    /// Whether the gateway closed its side (FIN or full close).
    package var sawEOF: Bool { self.state.withLockedValue { $0.eof || $0.closed } }

    /// Waits for the other side's FIN or close; returns whether it came within `timeout`.
    package func waitForEOF(timeout: Duration = .seconds(20)) async -> Bool {
        await eventually(timeout: timeout) { self.sawEOF }
    }

    /// Waits until at least `count` bytes arrived.
    package func waitForBytes(_ count: Int, timeout: Duration = .seconds(20)) async -> Bool {
        await eventually(timeout: timeout) { self.received.count >= count }
    }

    private final class Recorder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let state: NIOLockedValueBox<State>

        init(state: NIOLockedValueBox<State>) {
            self.state = state
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = Array(self.unwrapInboundIn(data).readableBytesView)
            self.state.withLockedValue { $0.received.append(contentsOf: bytes) }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? ChannelEvent, case .inputClosed = event {
                self.state.withLockedValue { $0.eof = true }
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

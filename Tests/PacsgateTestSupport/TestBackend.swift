import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A real TCP server on loopback standing in for a Mach7 node in integration tests.
///
/// `Sendable`: all mutable state sits in `NIOLockedValueBox`es; the configuration is immutable.
package final class TestBackend: Sendable {
    /// How the backend treats each accepted connection.
    package enum Mode: Sendable {
        /// Echo everything; answer the client's FIN with our own after the echo is out.
        case echo
        /// Send `label\n` on accept, then echo.
        case identify
        /// Send `count` bytes of a deterministic pattern (respecting backpressure), then FIN; count what arrives.
        case source(count: Int)
        /// Read and count; never write.
        case sink
        /// Send "hello", half-close at once, keep counting what the client sends.
        case halfCloseFirst
        /// Accept and never read or answer (a hung Mach7 node).
        case silent
    }

    /// What the backend saw and did, over all its connections.
    package struct Stats: Sendable {
        package var accepted = 0
        package var received = 0
        package var receivedAfterOwnFIN = 0
        package var sent = 0
        package var clientFINs = 0
    }

    package let label: String
    package let mode: Mode
    private let host: String
    private let state = NIOLockedValueBox<(listener: (any Channel)?, children: [ObjectIdentifier: any Channel], port: Int)>(
        (nil, [:], 0))
    private let statsBox = NIOLockedValueBox(Stats())

    private init(label: String, mode: Mode, host: String) {
        self.label = label
        self.mode = mode
        self.host = host
    }

    /// Starts a backend on `host` and a free port (or `port`).
    package static func start(_ label: String, mode: Mode = .identify, host: String = "127.0.0.1", port: Int = 0) async throws -> TestBackend {
        let backend = TestBackend(label: label, mode: mode, host: host)
        try await backend.bind(port: port)
        return backend
    }

    package var port: Int { self.state.withLockedValue { $0.port } }
    package var stats: Stats { self.statsBox.withLockedValue { $0 } }

    /// The server entry for a service configuration.
    package func server(weight: Int = 100) -> ServerConfigurationStub { ServerConfigurationStub(label: self.label, host: self.host, port: self.port, weight: weight) }

    private func bind(port: Int) async throws {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 4096)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if case .silent = self.mode { try channel.syncOptions?.setOption(.autoRead, value: false) }
                    try channel.pipeline.syncOperations.addHandler(BackendHandler(backend: self))
                }
            }
        let listener = try await bootstrap.bind(host: self.host, port: port).get()
        self.state.withLockedValue {
            $0.listener = listener
            $0.port = listener.localAddress?.port ?? 0
        }
    }

    /// Kills the server: closes the listener and every open connection (a crashed Mach7 node).
    package func kill() async {
        let (listener, children) = self.state.withLockedValue { state -> ((any Channel)?, [any Channel]) in
            defer {
                state.listener = nil
                state.children = [:]
            }
            return (state.listener, Array(state.children.values))
        }
        try? await listener?.close()
        for child in children { try? await child.close() }
    }

    /// Starts again on the same port.
    package func restart() async throws {
        try await self.bind(port: self.port)
    }

    fileprivate func register(_ channel: any Channel) {
        self.state.withLockedValue { $0.children[ObjectIdentifier(channel)] = channel }
        self.statsBox.withLockedValue { $0.accepted += 1 }
    }

    fileprivate func unregister(_ channel: any Channel) {
        self.state.withLockedValue { _ = $0.children.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    fileprivate func record(_ update: (inout Stats) -> Void) {
        self.statsBox.withLockedValue(update)
    }
}

/// A backend's entry for a service configuration (label, address, weight), built by ``TestBackend/server(weight:)``.
package struct ServerConfigurationStub: Sendable {
    package var label: String
    package var host: String
    package var port: Int
    package var weight: Int
}

private final class BackendHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let backend: TestBackend
    private var remaining = 0
    private var outputClosed = false

    init(backend: TestBackend) {
        self.backend = backend
    }

    func channelActive(context: ChannelHandlerContext) {
        self.backend.register(context.channel)
        switch self.backend.mode {
        case .identify:
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: "\(self.backend.label)\n")), promise: nil)
        case .source(let count):
            self.remaining = count
            self.pump(context: context)
        case .halfCloseFirst:
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: "hello")), promise: nil)
            context.close(mode: .output, promise: nil)
            self.outputClosed = true
        case .echo, .sink, .silent:
            break
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.backend.unregister(context.channel)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = self.unwrapInboundIn(data)
        let count = bytes.readableBytes
        let afterFIN = self.outputClosed
        self.backend.record {
            $0.received += count
            if afterFIN { $0.receivedAfterOwnFIN += count }
        }
        switch self.backend.mode {
        case .echo, .identify:
            context.write(self.wrapOutboundOut(bytes), promise: nil)
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .source = self.backend.mode, context.channel.isWritable { self.pump(context: context) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, case .inputClosed = event else { return }
        self.backend.record { $0.clientFINs += 1 }
        switch self.backend.mode {
        case .echo, .identify:
            // Once the peer's FIN is in, NIO turns close(mode: .output) into a full close that drops queued writes;
            // a zero-length write completes after everything queued before it.
            let channel = context.channel
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer())).whenComplete { _ in channel.close(promise: nil) }
        default:
            if self.outputClosed { context.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Writes the source pattern while the channel is writable.
    private func pump(context: ChannelHandlerContext) {
        while self.remaining > 0, context.channel.isWritable {
            let chunk = min(self.remaining, 64 * 1024)
            let offset = self.backendOffset
            var buffer = context.channel.allocator.buffer(capacity: chunk)
            buffer.writeBytes(Pattern.bytes(offset: offset, count: chunk))
            self.remaining -= chunk
            self.backend.record { $0.sent += chunk }
            context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
        }
        if self.remaining == 0, !self.outputClosed {
            self.outputClosed = true
            context.close(mode: .output, promise: nil)
        }
    }

    private var backendOffset: Int {
        if case .source(let count) = self.backend.mode { return count - self.remaining }
        return 0
    }
}

/// A deterministic byte pattern (offset-dependent, so a dropped or repeated chunk is caught).
package enum Pattern {
    /// `count` bytes of the pattern starting at stream offset `offset`.
    package static func bytes(offset: Int, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: (($0 + offset) &* 2_654_435_761) >> 13) }
    }
}

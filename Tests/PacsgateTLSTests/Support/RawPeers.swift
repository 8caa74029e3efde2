import NIOCore
import NIOPosix
import Synchronization

/// A raw TCP client for byte-level tests: writes chunks (optionally with pauses, so they arrive as separate reads),
/// then reads until the peer closes.
enum RawClient {
    /// How the gateway ended the connection.
    enum End: Equatable, Sendable {
        /// A clean close (FIN).
        case closed
        /// A reset or another I/O error.
        case failed(String)
        /// Still open when the test stopped waiting.
        case stillOpen
    }

    struct Result: Sendable {
        var received: [UInt8]
        var end: End
    }

    /// Sends `chunks` with `pause` between them, half-closes if `halfClose`, and collects the answer until the
    /// gateway closes or `timeout` passes.
    static func exchange(
        port: Int,
        chunks: [[UInt8]],
        pause: Duration = .zero,
        halfClose: Bool = false,
        timeout: Duration = .seconds(20)
    ) async throws -> Result {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: Result?.self) { group in
                group.addTask {
                    for (index, chunk) in chunks.enumerated() {
                        if index > 0, pause > .zero { try await Task.sleep(for: pause) }
                        do {
                            try await outbound.write(ByteBuffer(bytes: chunk))
                        } catch {
                            break  // the gateway closed early; the reader reports how
                        }
                    }
                    if halfClose { outbound.finish() }
                    return nil
                }
                group.addTask {
                    var received: [UInt8] = []
                    do {
                        for try await var chunk in inbound {
                            received += chunk.readBytes(length: chunk.readableBytes) ?? []
                        }
                        return Result(received: received, end: .closed)
                    } catch {
                        return Result(received: received, end: .failed("\(error)"))
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return Result(received: [], end: .stillOpen)
                }
                var result: Result?
                while let next = try await group.next() {
                    if let next {
                        result = next
                        break
                    }
                }
                group.cancelAll()
                return result ?? Result(received: [], end: .stillOpen)
            }
        }
    }
}

/// A plain TCP server standing in for a server that must (or must not) be reached: counts connections and records
/// the bytes of each.
final class RecordingBackend: Sendable {
    let label: String
    private let state = Mutex<(listener: (any Channel)?, port: Int, connections: [[UInt8]])>((nil, 0, []))

    private init(label: String) {
        self.label = label
    }

    static func start(_ label: String) async throws -> RecordingBackend {
        let backend = RecordingBackend(label: label)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(backend: backend))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        backend.state.withLock {
            $0.listener = listener
            $0.port = listener.localAddress?.port ?? 0
        }
        return backend
    }

    var port: Int { self.state.withLock { $0.port } }
    /// Bytes received on each accepted connection, in accept order.
    var connections: [[UInt8]] { self.state.withLock { $0.connections } }

    func yaml() -> String { "{ label: \(self.label), address: \"127.0.0.1:\(self.port)\" }" }

    fileprivate func accepted() -> Int {
        self.state.withLock {
            $0.connections.append([])
            return $0.connections.count - 1
        }
    }

    fileprivate func received(_ bytes: [UInt8], on index: Int) {
        self.state.withLock { $0.connections[index] += bytes }
    }

    func stop() async {
        let listener = self.state.withLock { $0.listener }
        try? await listener?.close()
    }
}

private final class RecordingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let backend: RecordingBackend
    private var index = 0

    init(backend: RecordingBackend) {
        self.backend = backend
    }

    func channelActive(context: ChannelHandlerContext) {
        self.index = self.backend.accepted()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        self.backend.received(bytes.readBytes(length: bytes.readableBytes) ?? [], on: self.index)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

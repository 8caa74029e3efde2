import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import PacsgateTestSupport
import Testing

@testable import PacsgateCore

/// A ``ProxyConnection`` on `EmbeddedChannel`s, as swift-nio tests its own handlers: the client leg is an embedded
/// channel with a ``ClientLegHandler``, the server leg one with the connection's ``BackendHandler``, both on one
/// `EmbeddedEventLoop`. A plain TCP service (no inspector) with one server, logging into a ``LogRecorder``.
final class EmbeddedProxy {
    /// Hands out connects that finish when the test says so.
    final class ManualConnector: BackendConnector {
        struct Request {
            var promise: EventLoopPromise<any Channel>
            var handler: NIOLoopBound<BackendHandler>
        }
        let requests = NIOLockedValueBox<[Request]>([])

        func connect(
            to endpoint: Endpoint, on eventLoop: any EventLoop, timeout: TimeAmount,
            handler: NIOLoopBound<BackendHandler>
        ) -> EventLoopFuture<any Channel> {
            let promise = eventLoop.makePromise(of: (any Channel).self)
            self.requests.withLockedValue { $0.append(Request(promise: promise, handler: handler)) }
            return promise.futureResult
        }
    }

    /// Stands for a leg's socket, nearest the head of its pipeline: counts the `read()`s let through and records a
    /// shut output (FIN). `EmbeddedChannel` closes fully on any close mode, so an output close stops here and the
    /// channel stays open, as a half-closed socket does; a full close goes on.
    final class SocketRecorder: ChannelOutboundHandler {
        typealias OutboundIn = NIOAny
        private(set) var reads = 0
        private(set) var outputClosed = false

        func read(context: ChannelHandlerContext) {
            self.reads += 1
            context.read()
        }

        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            guard mode == .output else {
                context.close(mode: mode, promise: promise)
                return
            }
            self.outputClosed = true
            promise?.succeed(())
        }
    }

    let loop: EmbeddedEventLoop
    let log: LogRecorder
    let connector: ManualConnector
    let runtime: ServiceRuntime
    let client: EmbeddedChannel
    let clientSocket = SocketRecorder()
    let server: EmbeddedChannel
    let serverSocket = SocketRecorder()

    /// The client leg, connected; its connection asked for the server leg (``connectServer()`` completes it).
    init() throws {
        let service = ServiceConfiguration(
            label: "EMBEDDED", listen: Endpoint(host: "127.0.0.1", port: 1),
            servers: [ServerConfiguration(label: "S1", endpoint: Endpoint(host: "127.0.0.1", port: 2))])
        let log = LogRecorder()
        let logger = log.logger()
        let connector = ManualConnector()
        let loop = EmbeddedEventLoop()
        self.loop = loop
        self.log = log
        self.connector = connector
        self.runtime = ServiceRuntime(
            configuration: service, audit: AuditLog(configuration: AuditConfiguration(), logger: logger),
            logger: logger, connector: connector)
        self.client = EmbeddedChannel(loop: loop)
        self.server = EmbeddedChannel(loop: loop)
        try self.client.pipeline.syncOperations.addHandler(self.clientSocket)
        try self.client.pipeline.syncOperations.addHandler(
            ClientLegHandler(service: self.runtime, snapshot: self.runtime.snapshot))
        try self.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
    }

    /// Completes the connect of the server leg: the connection starts forwarding.
    func connectServer() throws {
        let request = try #require(self.connector.requests.withLockedValue { $0.first })
        try self.server.pipeline.syncOperations.addHandler(self.serverSocket)
        try self.server.pipeline.syncOperations.addHandler(request.handler.value)
        try self.server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        request.promise.succeed(self.server)
    }

    /// A proxy already forwarding.
    static func forwarding() throws -> EmbeddedProxy {
        let proxy = try EmbeddedProxy()
        try proxy.connectServer()
        return proxy
    }

    /// Everything written to `channel` so far, as text.
    func written(to channel: EmbeddedChannel) throws -> String {
        var all = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&part) }
        return String(buffer: all)
    }

    /// The end reason of the connection's "connection closed" line, nil while it has not closed.
    var endReason: String? {
        self.log.lines(message: "connection closed").first?.metadata["conn.end"]
    }

    /// Closes whatever is still open.
    func finish() {
        _ = try? self.client.finish()
        _ = try? self.server.finish()
    }
}

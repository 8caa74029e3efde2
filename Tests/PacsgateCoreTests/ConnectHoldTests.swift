import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import PacsgateCore

/// While the server leg connects, the client is read on until ``ProxyConnection/connectHoldLimit`` bytes are held,
/// then reading waits for the connect; everything held is written to the server, in order, once it is up.
@Suite struct ConnectHoldTests {
    /// Hands out connects that finish when the test says so.
    final class ManualConnector: BackendConnector {
        struct Request {
            var promise: EventLoopPromise<any Channel>
            var handler: NIOLoopBound<BackendHandler>
        }
        let requests = NIOLockedValueBox<[Request]>([])

        func connect(
            to endpoint: Endpoint, on eventLoop: any EventLoop, timeout: TimeAmount, handler: NIOLoopBound<BackendHandler>
        ) -> EventLoopFuture<any Channel> {
            let promise = eventLoop.makePromise(of: (any Channel).self)
            self.requests.withLockedValue { $0.append(Request(promise: promise, handler: handler)) }
            return promise.futureResult
        }
    }

    /// Counts the `read()` requests the proxy lets through to the socket.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = NIOAny
        var reads = 0

        func read(context: ChannelHandlerContext) {
            self.reads += 1
            context.read()
        }
    }

    private static func bytes(_ count: Int, _ value: UInt8) -> ByteBuffer {
        ByteBuffer(repeating: value, count: count)
    }

    @Test func clientIsReadWhileConnectingUpToTheLimitThenWaits() throws {
        let loop = EmbeddedEventLoop()
        let connector = ManualConnector()
        let service = ServiceConfiguration(
            label: "HOLD", listen: Endpoint(host: "127.0.0.1", port: 1),
            servers: [ServerConfiguration(label: "S1", endpoint: Endpoint(host: "127.0.0.1", port: 2))])
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let runtime = ServiceRuntime(
            configuration: service, audit: AuditLog(configuration: AuditConfiguration(), logger: logger), logger: logger,
            connector: connector)
        let counter = ReadCounter()
        let client = EmbeddedChannel(loop: loop)
        try client.pipeline.syncOperations.addHandler(counter)
        try client.pipeline.syncOperations.addHandler(ProxyConnection(service: runtime, snapshot: runtime.snapshot))
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
        let request = try #require(connector.requests.withLockedValue { $0.first })

        // Connecting: the first bytes are held and the client is still read.
        try client.writeInbound(Self.bytes(1000, 1))
        let before = counter.reads
        client.read()
        #expect(counter.reads == before + 1, "a read was withheld with only 1,000 bytes held")

        // Past the limit: the next read waits for the connect.
        try client.writeInbound(Self.bytes(ProxyConnection.connectHoldLimit, 2))
        client.read()
        #expect(counter.reads == before + 1, "the client was read on with more than the limit held")

        // Connected: everything held goes to the server in order, and the waiting read is let through.
        let server = EmbeddedChannel(loop: loop)
        try server.pipeline.syncOperations.addHandler(request.handler.value)
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        request.promise.succeed(server)
        var written = ByteBuffer()
        while var part = try server.readOutbound(as: ByteBuffer.self) { written.writeBuffer(&part) }
        var expected = Self.bytes(1000, 1)
        expected.writeImmutableBuffer(Self.bytes(ProxyConnection.connectHoldLimit, 2))
        #expect(written == expected)
        #expect(counter.reads == before + 2)

        _ = try? client.finish()
        _ = try? server.finish()
    }
}

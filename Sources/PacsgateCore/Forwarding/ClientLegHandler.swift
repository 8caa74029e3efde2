import NIOCore

/// The handler of the client channel: hands its events to the connection (``ProxyConnection``), which writes through
/// this handler's context. The server channel's counterpart is ``BackendHandler``.
final class ClientLegHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let connection: ProxyConnection

    /// The handler of a new connection of `service`, with the configuration current at accept time.
    init(service: ServiceRuntime, snapshot: ServiceSnapshot) {
        self.connection = ProxyConnection(service: service, snapshot: snapshot)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.connection.clientAdded(context)
    }

    func channelActive(context: ChannelHandlerContext) {
        self.connection.clientActive(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.connection.clientRead(self.unwrapInboundIn(data), context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.connection.clientReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            self.connection.clientInputClosed(context: context)
        } else if let request = event as? GatewayCloseRequest {
            self.connection.terminate(request.reason)
        } else if let proxied = event as? ProxiedClientAddress {
            self.connection.clientAddressProxied(proxied.address)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.connection.legClosed(.client)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.connection.legFailed(.client, error)
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.connection.clientWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        self.connection.readClient(context: context)
    }
}

@available(*, unavailable)
extension ClientLegHandler: Sendable {}

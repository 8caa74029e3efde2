public import NIOCore

/// The handler of the server channel: hands everything to its ``ProxyConnection`` (the client channel's counterpart is
/// ``ClientLegHandler``).
public final class BackendHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private var connection: ProxyConnection?

    init(connection: ProxyConnection) {
        self.connection = connection
    }

    /// Stops handing events to the connection (the leg was given up before forwarding started).
    func detach() {
        self.connection = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.connection?.serverRead(self.unwrapInboundIn(data))
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        self.connection?.serverReadComplete()
    }

    public func read(context: ChannelHandlerContext) {
        if let connection { connection.serverRead(context: context) } else { context.read() }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.connection?.serverWritabilityChanged(context.channel.isWritable)
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            self.connection?.serverInputClosed()
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.connection?.legFailed(.server, error)
        context.close(promise: nil)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let connection = self.connection
        self.connection = nil
        connection?.legClosed(.server)
    }
}

@available(*, unavailable)
extension BackendHandler: Sendable {}

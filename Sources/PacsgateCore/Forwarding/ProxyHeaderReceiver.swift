import NIOCore

/// The NIO engine's ``ProxyHeaderGate`` (`accept_proxy:`): sits in front of a connection's ``ClientLegHandler`` and
/// keeps the connection from it until the gate has decided. Accepted, it tells the connection the client address
/// (``ProxiedClientAddress``) before the connection sees it active, hands on the bytes after the header, and leaves
/// the pipeline; refused, it logs, audits and closes, and the connection never starts (nothing reaches a server).
final class ProxyHeaderReceiver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        /// Reading the first bytes; the connection has not seen the channel active.
        case waiting(ProxyHeaderGate)
        /// Handed to the connection (this handler is leaving the pipeline).
        case passed
        /// Refused and closing; nothing is passed on, the channel's close included.
        case refused
    }

    private let service: ServiceRuntime
    private let peekTimeout: TimeAmount
    private let networks: [ClientNetwork]
    private var state = State.refused
    private var received: ByteBuffer?
    private var timer: Scheduled<Void>?

    init(service: ServiceRuntime, snapshot: ServiceSnapshot) {
        self.service = service
        self.peekTimeout = snapshot.peekTimeout
        self.networks = snapshot.configuration.acceptProxy
    }

    private var decided: Bool {
        if case .passed = self.state { return true }
        return false
    }

    func channelActive(context: ChannelHandlerContext) {
        // Held back from the connection until the gate decides.
        self.state = .waiting(ProxyHeaderGate(source: context.channel.remoteAddress, networks: self.networks))
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.timer = context.eventLoop.scheduleTask(in: self.peekTimeout) {
            let (receiver, context) = bound.value
            receiver.timedOut(context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .waiting(let gate) = self.state else {
            if self.decided { context.fireChannelRead(data) }
            return
        }
        var bytes = self.unwrapInboundIn(data)
        if var held = self.received {
            held.writeBuffer(&bytes)
            bytes = held
        }
        self.received = bytes
        switch gate.examine(bytes) {
        case .needMore:
            break
        case .proxied(let client, let length):
            bytes.moveReaderIndex(forwardBy: length)
            self.received = bytes
            self.pass(client: client, context: context)
        case .plain:
            self.pass(client: nil, context: context)
        case .refuse(let reason):
            self.refuse(reason, context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.decided { context.fireChannelReadComplete() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Unless passed on, the connection never started: nothing to tell it.
        guard self.decided else {
            self.timer?.cancel()
            return
        }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .waiting(let gate) = self.state, let event = event as? ChannelEvent, case .inputClosed = event {
            if let reason = gate.closedEarly(received: self.received?.readableBytes ?? 0) {
                self.refuse(reason, context: context)
                return
            }
            self.pass(client: nil, context: context, then: event)
            return
        }
        if self.decided { context.fireUserInboundEventTriggered(event) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if self.decided {
            context.fireErrorCaught(error)
        } else {
            context.close(promise: nil)
        }
    }

    private func timedOut(context: ChannelHandlerContext) {
        guard case .waiting(let gate) = self.state else { return }
        let received = self.received?.readableBytes ?? 0
        if let reason = gate.timedOut(received: received) {
            self.refuse(reason, context: context)
        } else {
            self.pass(client: nil, context: context)
        }
    }

    /// Starts the connection (with `event` after the bytes that followed the header), then leaves the pipeline.
    private func pass(client: SocketAddress?, context: ChannelHandlerContext, then event: Any? = nil) {
        self.state = .passed
        self.timer?.cancel()
        if let client { context.fireUserInboundEventTriggered(ProxiedClientAddress(address: client)) }
        context.fireChannelActive()
        if let rest = self.received, rest.readableBytes > 0, context.channel.isActive {
            context.fireChannelRead(self.wrapInboundOut(rest))
            context.fireChannelReadComplete()
        }
        self.received = nil
        if let event { context.fireUserInboundEventTriggered(event) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func refuse(_ reason: String, context: ChannelHandlerContext) {
        self.state = .refused
        self.timer?.cancel()
        self.service.proxyHeaderRefused(
            client: context.channel.remoteAddress, reason: reason, received: self.received?.readableBytes ?? 0)
        self.received = nil
        context.close(promise: nil)
    }
}

/// Inbound user event from ``ProxyHeaderReceiver``, just before the connection sees its channel active: the
/// client address a trusted PROXY header gave.
struct ProxiedClientAddress {
    let address: SocketAddress
}

import NIOCore
import NIOSSL
import NIOTLS

/// The TLS handshake of a re-encrypted server leg, without I/O.
///
/// Until the handshake completes, the leg belongs to the gateway's connect logic: errors and the channel going away
/// fail the connect (the core then tries the next server) and must not reach the core's forwarding handler. Once
/// ready, events pass through, except a FIN without TLS `close_notify`, which is an ordinary end of input.
struct ServerHandshakeStateMachine {
    enum State: Equatable {
        case handshaking
        case ready
        case failed
    }

    enum Action: Equatable {
        /// The leg is ready: succeed the connect.
        case succeed
        /// Fail the connect with this description.
        case fail(String)
        /// Hand the event on to the core.
        case propagate
        /// Drop the event.
        case swallow
    }

    private(set) var state: State = .handshaking

    mutating func handshakeCompleted() -> Action {
        guard case .handshaking = self.state else { return .swallow }
        self.state = .ready
        return .succeed
    }

    mutating func errorCaught(_ description: String, isUncleanShutdown: Bool) -> Action {
        switch self.state {
        case .handshaking:
            self.state = .failed
            return .fail(description)
        case .ready:
            return isUncleanShutdown ? .swallow : .propagate
        case .failed:
            return .swallow
        }
    }

    /// The channel went inactive, or its input closed.
    mutating func closed() -> Action {
        switch self.state {
        case .handshaking:
            self.state = .failed
            return .fail("the server closed the connection during the TLS handshake")
        case .ready:
            return .propagate
        case .failed:
            return .swallow
        }
    }

    mutating func timedOut(after timeout: TimeAmount) -> Action {
        guard case .handshaking = self.state else { return .swallow }
        self.state = .failed
        return .fail("no TLS handshake within \(timeout.nanoseconds / 1_000_000) ms")
    }
}

/// Sits between a server leg's TLS client handler and the core's handler; see ``ServerHandshakeStateMachine``.
final class ServerHandshakeWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var machine = ServerHandshakeStateMachine()
    private let promise: EventLoopPromise<Void>
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(promise: EventLoopPromise<Void>, timeout: TimeAmount) {
        self.promise = promise
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let timeout = self.timeout
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.complete(self.machine.timedOut(after: timeout))
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Never leave the connect waiting.
        self.complete(self.machine.closed())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            self.complete(self.machine.handshakeCompleted())
        } else if let channelEvent = event as? ChannelEvent, case .inputClosed = channelEvent,
            self.machine.state != .ready
        {
            self.complete(self.machine.closed())
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        var unclean = false
        if let tlsError = error as? NIOSSLError, case .uncleanShutdown = tlsError { unclean = true }
        let action = self.machine.errorCaught(TLSErrorText.describe(error), isUncleanShutdown: unclean)
        if case .propagate = action {
            context.fireErrorCaught(error)
        } else {
            self.complete(action)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let action = self.machine.closed()
        if case .propagate = action {
            context.fireChannelInactive()
        } else {
            self.complete(action)
        }
    }

    /// Completes the connect for `.succeed` and `.fail`; the machine yields each at most once.
    private func complete(_ action: ServerHandshakeStateMachine.Action) {
        switch action {
        case .succeed:
            self.timer?.cancel()
            self.promise.succeed(())
        case .fail(let description):
            self.timer?.cancel()
            self.promise.fail(ServerTLSError(detail: description))
        case .propagate, .swallow:
            break
        }
    }
}

@available(*, unavailable)
extension ServerHandshakeWatcher: Sendable {}

import NIOCore

/// What the link's async side reads from a connection: first the authenticated session, then its frames.
enum LinkInbound: Sendable {
    /// The handshake is through: seal with `sealer`, open with `opener`.
    case established(PeerIdentity, sealer: FrameSealer, opener: FrameOpener)
    /// A sealed frame of the session.
    case frame(HAFrame)
}

/// How a connection's handshake ended without a session; the link's async side reads it as the stream's error.
struct HandshakeEnded: Error, Equatable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        /// Bytes that did not authenticate or parse, a dialler refused on its unproven hello, or a stranger that did not
        /// finish in time: counted as rejected, logged and audited (summed per address), never shown as the pair's
        /// state.
        case rejected
        /// An authenticated refusal: the peer holds the secret but the pair is misconfigured (both primary, the same
        /// node name, no common version). Logged at `error`.
        case refused
        /// The connection closed or timed out for want of an answer (the network, the peer stopping).
        case closed
    }

    var kind: Kind
    var description: String

    init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    init(_ failure: HandshakeStateMachine.HandshakeFailure) {
        switch failure {
        case .rejected, .refusedUnproven: self.init(.rejected, "\(failure)")
        case .refusedByPeer, .refusedPeer: self.init(.refused, "\(failure)")
        }
    }
}

/// Runs the handshake (``HandshakeStateMachine``) on the connection's event loop, between the frame decoder and the
/// link's async side, and switches the decoder's frame limit (``HAFrameLimit``) the moment the session is
/// authenticated.
///
/// Why here and not in the task that reads the frames: `ByteToMessageHandler` hands each decoded frame to this handler
/// and decodes the next one only after it returns. So the limit changes exactly between the CONFIRM (or, on the
/// dialler, the WELCOME) and the first session frame, even when the peer's STATUS, its whole configuration and the
/// first snapshot frames arrive in the same read as the CONFIRM; and nothing a stranger sends is ever decoded under
/// the session limit. The Noise messages cost one X25519 agreement each (microseconds) on the event loop.
///
/// The handshake must finish within `timeout`, or the connection is closed.
final class HandshakeHandler: ChannelInboundHandler {
    typealias InboundIn = HAFrame
    typealias InboundOut = LinkInbound
    typealias OutboundOut = HAFrame

    private enum Phase {
        case idle
        case handshaking(Scheduled<Void>)
        case established
        case ended
    }

    private var machine: HandshakeStateMachine
    private let limit: HAFrameLimit
    private let timeout: TimeAmount
    private var phase = Phase.idle

    init(machine: HandshakeStateMachine, limit: HAFrameLimit, timeout: TimeAmount) {
        self.machine = machine
        self.limit = limit
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.begin(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.begin(context: context)
        context.fireChannelActive()
    }

    /// Starts the clock and, on the dialler, sends the hello.
    private func begin(context: ChannelHandlerContext) {
        guard case .idle = self.phase else { return }
        let timeout = self.timeout
        let side = self.machine.side
        let timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.end(
                context: context,
                HandshakeEnded(
                    side == .responder ? .rejected : .closed,
                    "no handshake within \(timeout.nanoseconds / 1_000_000) ms (stopped \(self.machine.stateName))"))
        }
        self.phase = .handshaking(timer)
        if let hello = self.machine.start() {
            context.writeAndFlush(Self.wrapOutboundOut(hello), promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch self.phase {
        case .established:
            context.fireChannelRead(Self.wrapInboundOut(.frame(frame)))
        case .ended:
            break
        case .idle, .handshaking:
            switch self.machine.received(frame) {
            case .send(let answer):
                context.writeAndFlush(Self.wrapOutboundOut(answer), promise: nil)
            case .established(let peer, let sealer, let opener, let confirm):
                if case .handshaking(let timer) = self.phase { timer.cancel() }
                self.phase = .established
                // Before returning to the decoder: the next frame it decodes may be a large session frame.
                self.limit.sessionEstablished()
                if let confirm { context.writeAndFlush(Self.wrapOutboundOut(confirm), promise: nil) }
                context.fireChannelRead(Self.wrapInboundOut(.established(peer, sealer: sealer, opener: opener)))
            case .close(let answer, let reason):
                let written = answer.map { context.writeAndFlush(Self.wrapOutboundOut($0)) }
                self.end(context: context, HandshakeEnded(reason), after: written)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .handshaking = self.phase {
            if self.machine.awaitsConfirmation {
                // A dialler that closes after our welcome could not open it: it does not hold this secret.
                self.end(
                    context: context,
                    HandshakeEnded(.rejected, "the dialler closed after the welcome without proving the secret (another secret?)"))
            } else {
                self.end(context: context, HandshakeEnded(.closed, "closed during the handshake (\(self.machine.stateName))"))
            }
        }
        context.fireChannelInactive()
    }

    /// Reports `ended` to the async side (as the inbound stream's error) and closes the connection (once `written`,
    /// a refusal's answer, is out).
    private func end(context: ChannelHandlerContext, _ ended: HandshakeEnded, after written: EventLoopFuture<Void>? = nil) {
        if case .handshaking(let timer) = self.phase { timer.cancel() }
        if case .ended = self.phase { return }
        self.phase = .ended
        context.fireErrorCaught(ended)
        if let written {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension HandshakeHandler: Sendable {}

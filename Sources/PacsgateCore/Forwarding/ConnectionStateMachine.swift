package import NIOCore

/// The life of one proxied connection, without I/O: each event returns the action the handler must perform.
///
/// ```
/// idle ──▶ peeking ──verdict: forward──▶ connecting ──▶ forwarding ──both inputs closed / a leg failed──▶ ending ──▶ ended
///   │         │ verdict: reject / peek failed              │ no server / all connects failed
///   │         ▼                                            ▼
///   └──────▶ answering (answer written, output half-closed, waiting for the client to close) ──▶ ending
/// ```
///
/// `ending` lasts until both legs are closed. The machine also keeps what the connection's end is reported with:
/// ``endReason`` and ``refused``. The NIO engine reports each leg's close (``legClosed(_:)``) and is told when both
/// are closed (`.finish`); the native engine tracks its sockets itself and calls ``ended()`` (it keeps its own end
/// reason for now).
package struct ConnectionStateMachine {
    package enum State {
        case idle
        case peeking(buffered: ByteBuffer?)
        case connecting(pending: ByteBuffer?, clientInputClosed: Bool)
        /// Both legs open.
        case forwarding(clientInputClosed: Bool, serverInputClosed: Bool)
        case answering
        /// Closing: the legs not closed yet.
        case ending(clientOpen: Bool, serverOpen: Bool)
        case ended
    }

    /// While the server leg connects the client is read on until this much is held (then reading waits for the
    /// connect). Reading on rather than pausing at once saves withdrawing and restoring the client socket's read
    /// interest — two `epoll_ctl` calls per connection — and the protocols here send a request and wait anyway.
    package static let connectHoldLimit = 64 * 1024

    package private(set) var state: State = .idle
    /// Why the connection ended (or is ending); `.closed` until an event says more.
    package private(set) var endReason = ConnectionEndReason.closed
    /// Whether the gateway answered the client itself instead of forwarding (rejection, refusal, peek failure).
    package private(set) var refused = false

    package init() {}

    /// What to do when the client connection becomes active.
    package enum ActiveAction: Equatable {
        case startPeek
        case connect
    }

    package mutating func clientActive(peek: Bool) -> ActiveAction {
        guard case .idle = self.state else { preconditionFailure("clientActive twice") }
        if peek {
            self.state = .peeking(buffered: nil)
            return .startPeek
        }
        self.state = .connecting(pending: nil, clientInputClosed: false)
        return .connect
    }

    /// What to do with bytes the client sent.
    package enum ClientReadAction {
        /// Offer everything received so far to the inspector.
        case inspect(ByteBuffer)
        /// Forward to the server.
        case forward
        /// Kept until the server leg is up.
        case held
        /// Dropped (answering or ending).
        case discard
    }

    package mutating func clientRead(_ data: ByteBuffer) -> ClientReadAction {
        switch self.state {
        case .peeking(let buffered):
            self.state = .idle  // drop the enum's reference so appending does not copy the buffer
            let all = Self.appending(data, to: buffered)
            self.state = .peeking(buffered: all)
            return .inspect(all)
        case .connecting(let pending, let clientInputClosed):
            self.state = .idle
            self.state = .connecting(pending: Self.appending(data, to: pending), clientInputClosed: clientInputClosed)
            return .held
        case .forwarding:
            return .forward
        case .idle, .answering, .ending, .ended:
            return .discard
        }
    }

    private static func appending(_ data: ByteBuffer, to existing: consuming ByteBuffer?) -> ByteBuffer {
        guard var buffer = existing else { return data }
        buffer.writeImmutableBuffer(data)
        return buffer
    }

    /// Whether the client may be read now. While connecting, until ``connectHoldLimit`` bytes are held; while
    /// forwarding, only when the server leg takes more writes (`serverWritable`, evaluated only then): a client that
    /// sends faster than the server reads waits rather than filling the gateway.
    package func mayReadClient(serverWritable: @autoclosure () -> Bool) -> Bool {
        switch self.state {
        case .connecting(let pending, _):
            return (pending?.readableBytes ?? 0) < Self.connectHoldLimit
        case .forwarding:
            return serverWritable()
        case .idle, .peeking, .answering, .ending, .ended:
            return true
        }
    }

    /// Upper bound of the peek buffer whatever the inspector says; inspectors set their own, smaller caps.
    package static let peekHardCap = 1 << 20

    /// What to do with the client's bytes peeked so far.
    package enum PeekAction {
        /// Not enough bytes yet: wait for more.
        case wait
        /// The inspector chose to forward (the peeked bytes are now pending): connect to a server so routed.
        case connect(Routing)
        /// Answer the client (the inspector's rejection, or its answer to a peek past the hard cap) and close.
        case answer(Rejection)
    }

    /// Asks `inspector` about all the client's bytes so far; past ``peekHardCap`` it is told the peek failed instead.
    package mutating func peeked(_ all: ByteBuffer, by inspector: any ConnectionInspector) -> PeekAction {
        guard case .peeking = self.state else { return .wait }
        if all.readableBytes > Self.peekHardCap {
            return .answer(inspector.peekFailed(.tooLarge(all.readableBytes)))
        }
        switch inspector.inspect(all) {
        case .needMore:
            return .wait
        case .forward(let routing):
            self.forwardDecided()
            return .connect(routing)
        case .reject(let rejection):
            return .answer(rejection)
        }
    }

    /// The inspector chose to forward: the peeked bytes become the pending bytes of the connect.
    package mutating func forwardDecided() {
        guard case .peeking(let buffered) = self.state else { return }
        self.state = .connecting(pending: buffered, clientInputClosed: false)
    }

    /// The gateway answers the client itself (rejection, refusal, peek failure).
    package mutating func answering() {
        switch self.state {
        case .ending, .ended: return
        default: self.state = .answering
        }
    }

    /// The gateway answers the client itself for `reason`: ``refused`` from now on.
    package mutating func refuse(_ reason: ConnectionEndReason) {
        self.refused = true
        self.endReason = reason
        self.answering()
    }

    /// What to do once the server leg is connected.
    package enum ConnectedAction {
        /// Write the pending bytes, start forwarding; shut the server's input side if the client already did.
        case startForwarding(pending: ByteBuffer?, clientInputClosed: Bool)
        /// The connection went away meanwhile: close the new server leg.
        case closeServer
    }

    package mutating func connected() -> ConnectedAction {
        switch self.state {
        case .connecting(let pending, let clientInputClosed):
            self.state = .forwarding(clientInputClosed: clientInputClosed, serverInputClosed: false)
            return .startForwarding(pending: pending, clientInputClosed: clientInputClosed)
        case .ending(let clientOpen, _):
            // The leg is open until its close is reported: the connection finishes after it.
            self.state = .ending(clientOpen: clientOpen, serverOpen: true)
            return .closeServer
        case .idle, .peeking, .forwarding, .answering, .ended:
            return .closeServer
        }
    }

    /// Whether a connect failure should be retried on another server.
    package var isConnecting: Bool {
        if case .connecting = self.state { return true }
        return false
    }

    package var isForwarding: Bool {
        if case .forwarding = self.state { return true }
        return false
    }

    package var isForwardingOrEnding: Bool {
        switch self.state {
        case .forwarding, .ending: return true
        default: return false
        }
    }

    package var isPeeking: Bool {
        if case .peeking = self.state { return true }
        return false
    }

    /// Whether the client leg is open (bytes from the server are written to it). Known to the machine only when the
    /// engine reports the legs' closes (``legClosed(_:)``).
    package var isClientOpen: Bool {
        switch self.state {
        case .peeking, .connecting, .forwarding, .answering: return true
        case .ending(let clientOpen, _): return clientOpen
        case .idle, .ended: return false
        }
    }

    /// What to do when a side sent FIN.
    package enum InputClosedAction: Equatable {
        case none
        /// The client ended during the peek.
        case peekFailed
        /// Pass the half-close on to the other leg.
        case shutdownOtherOutput
        /// Both directions are done: close both legs once their writes are flushed.
        case closeBoth
        /// The client closed while we were answering: close it.
        case closeClient
    }

    package mutating func clientInputClosed() -> InputClosedAction {
        switch self.state {
        case .peeking:
            return .peekFailed
        case .connecting(let pending, _):
            self.state = .connecting(pending: pending, clientInputClosed: true)
            return .none
        case .forwarding(_, let serverInputClosed):
            return self.forwardingInputClosed(client: true, server: serverInputClosed)
        case .answering:
            self.state = .ending(clientOpen: true, serverOpen: false)
            return .closeClient
        case .idle, .ending, .ended:
            return .none
        }
    }

    package mutating func serverInputClosed() -> InputClosedAction {
        switch self.state {
        case .forwarding(let clientInputClosed, _):
            return self.forwardingInputClosed(client: clientInputClosed, server: true)
        default:
            return .none
        }
    }

    /// A FIN while forwarding, given which inputs are now closed: the first is passed on, the second ends both legs.
    private mutating func forwardingInputClosed(client: Bool, server: Bool) -> InputClosedAction {
        if client && server {
            self.state = .ending(clientOpen: true, serverOpen: true)
            self.endReason = .closedByBothSides
            return .closeBoth
        }
        self.state = .forwarding(clientInputClosed: client, serverInputClosed: server)
        return .shutdownOtherOutput
    }

    /// What to do when a leg went away without a FIN (reset, error) or the gateway must end the connection.
    package enum AbortAction: Equatable {
        case none
        /// Say the protocol's last words to the legs still open (`client`, `server`), close them, and close whatever
        /// is left when the linger expires.
        case terminate(client: Bool, server: Bool)
        /// Nothing was forwarded yet: just close the client.
        case closeClient
    }

    package mutating func legFailed() -> AbortAction {
        switch self.state {
        case .forwarding:
            self.state = .ending(clientOpen: true, serverOpen: true)
            return .terminate(client: true, server: true)
        case .connecting:
            self.state = .ending(clientOpen: true, serverOpen: false)
            return .terminate(client: true, server: false)
        case .peeking, .answering, .idle:
            self.state = .ending(clientOpen: true, serverOpen: false)
            return .closeClient
        case .ending, .ended:
            return .none
        }
    }

    /// A read or write on the `side` leg failed with `error` (its words); the reason replaces any earlier one.
    package mutating func legFailed(_ side: ConnectionSide, error: String) -> AbortAction {
        self.endReason = .failed(side, error)
        return self.legFailed()
    }

    /// The inspector ends the connection on `side`'s FIN (``HalfCloseHandling/terminate``).
    package mutating func halfCloseEnds(by side: ConnectionSide) -> AbortAction {
        self.endReason = .halfClosed(by: side)
        return self.legFailed()
    }

    /// What to do when the gateway ends the connection (``terminate(_:)``).
    package enum TerminateAction: Equatable {
        /// Still peeking: answer the client as for a peek timeout.
        case failPeek
        /// The legs' part: say the last words for the reason given, or close.
        case abort(AbortAction)
    }

    /// The gateway ends the connection for `reason` (idle timeout, shutdown, a removed service, the inspector asked);
    /// the reason replaces any earlier one.
    package mutating func terminate(_ reason: CloseReason) -> TerminateAction {
        self.endReason = .terminated(reason)
        if case .peeking = self.state { return .failPeek }
        return .abort(self.legFailed())
    }

    /// What to do when the idle timer fires.
    package enum IdleAction: Equatable {
        /// Not forwarding nor ending: the timer is no longer needed.
        case stop
        /// Not idle long enough: arm the timer again.
        case rearm
        /// Forwarding and idle: the connection ends for the idle timeout (say the last words for it, or close).
        case abort(AbortAction)
        /// Ending, but a peer has not read the last bytes within the idle timeout: close both legs now.
        case closeBoth
    }

    /// The idle timer fired; `expired`: nothing moved for the whole idle timeout.
    package mutating func idleTimerFired(expired: Bool) -> IdleAction {
        switch self.state {
        case .forwarding:
            guard expired else { return .rearm }
            self.endReason = .terminated(.idleTimeout)
            return .abort(self.legFailed())
        case .ending:
            guard expired else { return .rearm }
            self.endReason = .lastBytesUnread(after: self.endReason)
            return .closeBoth
        case .idle, .peeking, .connecting, .answering, .ended:
            return .stop
        }
    }

    /// What to do when a leg's channel closed.
    package enum LegClosedAction: Equatable {
        case none
        /// Both directions ended cleanly: close the other leg once its writes are out.
        case closeOtherAfterFlush
        /// The leg went away while forwarding: the other leg's part.
        case abort(AbortAction)
        /// Both legs are closed: report the connection and release it.
        case finish
    }

    /// The `side` leg's channel closed. A server leg may close before ``connected()``, while it is being prepared
    /// (a TLS handshake).
    package mutating func legClosed(_ side: ConnectionSide) -> LegClosedAction {
        switch self.state {
        case .forwarding(let clientInputClosed, let serverInputClosed):
            self.state = .ending(clientOpen: side == .server, serverOpen: side == .client)
            if side == .client ? serverInputClosed : clientInputClosed {
                // The FIN after we passed the other side's on: NIO reports it as a full close when our output to
                // that leg is already shut. A clean end in both directions.
                self.endReason = .closedByBothSides
                return .closeOtherAfterFlush
            }
            self.endReason = .wentAway(side)
            return .abort(.terminate(client: side == .server, server: side == .client))
        case .ending(let clientOpen, let serverOpen):
            // The other leg, if open, closes once its last bytes are out.
            let open = (client: clientOpen && side == .server, server: serverOpen && side == .client)
            guard open.client || open.server else {
                self.state = .ended
                return .finish
            }
            self.state = .ending(clientOpen: open.client, serverOpen: open.server)
            return .none
        case .idle, .peeking, .connecting, .answering:
            // No server leg is open: one still connecting is closed when it completes.
            guard side == .server else {
                self.state = .ended
                return .finish
            }
            self.endReason = .wentAway(.server)
            return .abort(self.legFailed())
        case .ended:
            return .none
        }
    }

    /// Both legs are closed (the native engine, which tracks its sockets itself): true the first time.
    package mutating func ended() -> Bool {
        if case .ended = self.state { return false }
        self.state = .ended
        return true
    }
}

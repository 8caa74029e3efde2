package import NIOCore

/// The life of one proxied connection, without I/O: each event returns the action the handler must perform.
///
/// ```
/// idle ──▶ peeking ──verdict: forward──▶ connecting ──▶ forwarding ──both inputs closed / a leg failed──▶ ending ──▶ ended
///   │         │ verdict: reject / peek failed              │ no server / all connects failed
///   │         ▼                                            ▼
///   └──────▶ answering (answer written, output half-closed, waiting for the client to close) ──▶ ending
/// ```
package struct ConnectionStateMachine {
    package enum State {
        case idle
        case peeking(buffered: ByteBuffer?)
        case connecting(pending: ByteBuffer?, clientInputClosed: Bool)
        case forwarding(clientInputClosed: Bool, serverInputClosed: Bool)
        case answering
        case ending
        case ended
    }

    package private(set) var state: State = .idle

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

    /// What to do once the server leg is connected.
    package enum ConnectedAction {
        /// Write the pending bytes, start forwarding; shut the server's input side if the client already did.
        case startForwarding(pending: ByteBuffer?, clientInputClosed: Bool)
        /// The connection went away meanwhile: close the new server leg.
        case closeServer
    }

    package mutating func connected() -> ConnectedAction {
        guard case .connecting(let pending, let clientInputClosed) = self.state else { return .closeServer }
        self.state = .forwarding(clientInputClosed: clientInputClosed, serverInputClosed: false)
        return .startForwarding(pending: pending, clientInputClosed: clientInputClosed)
    }

    /// Bytes of the client's held until the server leg is up (0 outside `connecting`).
    package var heldBytes: Int {
        if case .connecting(let pending, _) = self.state { return pending?.readableBytes ?? 0 }
        return 0
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
            if serverInputClosed {
                self.state = .ending
                return .closeBoth
            }
            self.state = .forwarding(clientInputClosed: true, serverInputClosed: false)
            return .shutdownOtherOutput
        case .answering:
            self.state = .ending
            return .closeClient
        case .idle, .ending, .ended:
            return .none
        }
    }

    package mutating func serverInputClosed() -> InputClosedAction {
        switch self.state {
        case .forwarding(let clientInputClosed, _):
            if clientInputClosed {
                self.state = .ending
                return .closeBoth
            }
            self.state = .forwarding(clientInputClosed: false, serverInputClosed: true)
            return .shutdownOtherOutput
        default:
            return .none
        }
    }

    /// What to do when a leg went away without a FIN (reset, error) or the gateway must end the connection.
    package enum AbortAction: Equatable {
        case none
        /// Say last words to the surviving side(s) and close.
        case terminate
        /// Nothing was forwarded yet: just close the client.
        case closeClient
    }

    package mutating func legFailed() -> AbortAction {
        switch self.state {
        case .forwarding, .connecting:
            self.state = .ending
            return .terminate
        case .peeking, .answering, .idle:
            self.state = .ending
            return .closeClient
        case .ending, .ended:
            return .none
        }
    }

    /// Both legs are closed.
    package mutating func ended() -> Bool {
        if case .ended = self.state { return false }
        self.state = .ended
        return true
    }
}

/// Who the other end of an authenticated link is.
public struct PeerIdentity: Sendable, Equatable {
    public var node: String
    public var role: HARole
    public var software: String

    public init(node: String, role: HARole, software: String) {
        self.node = node
        self.role = role
        self.software = software
    }
}

/// The opening of one HA link connection, on either end, as a pure state machine.
///
/// The dialling unit (initiator) sends a hello with a fresh nonce; the dialled unit (responder) checks its HMAC and
/// answers with a welcome carrying its own nonce and the hello's, or with a refusal. Both derive the session keys
/// from the secret and the two nonces. The responder treats the link as authenticated only once the first sealed
/// frame from the initiator opens: a replayed hello gets a welcome but can go no further.
public struct HandshakeStateMachine {
    public enum Side: Sendable {
        case initiator
        case responder
    }

    private enum State {
        case idle
        case awaitingWelcome(HAHello)
        case awaitingHello
        case awaitingProof(PeerIdentity, sealer: FrameSealer, opener: FrameOpener)
        case established
        case failed
    }

    /// What the link must do after an event.
    public enum Action {
        /// Send this frame and wait for the next.
        case send(HAFrame)
        /// The link is authenticated: from now on seal with `sealer`, open with `opener`. `first` is the message of
        /// the frame that proved the initiator (responder side).
        case established(PeerIdentity, sealer: FrameSealer, opener: FrameOpener, first: HAMessage?)
        /// Send `answer` (when there is one), then close: the peer is refused or is not who it must be.
        case close(answer: HAFrame?, reason: HandshakeFailure)
    }

    /// Why a handshake failed.
    public enum HandshakeFailure: Error, Sendable, Equatable, CustomStringConvertible {
        /// Bytes or tags that do not hold: forged, corrupted or another secret (rejected and audited).
        case rejected(HAWireError)
        /// The peer answered with an authenticated refusal.
        case refusedByPeer(String)
        /// We refused an authenticated peer (same role, no common version).
        case refusedPeer(String)

        public var description: String {
            switch self {
            case .rejected(let error): return "rejected: \(error)"
            case .refusedByPeer(let reason): return "the peer refused the link: \(reason)"
            case .refusedPeer(let reason): return "refused the peer: \(reason)"
            }
        }
    }

    public let side: Side
    private let secret: HASecret
    private let role: HARole
    private let node: String
    private let software: String
    private let makeNonce: () -> [UInt8]
    private var state: State

    /// - Parameter makeNonce: 32 random bytes per call (injected by tests).
    public init(
        side: Side, secret: HASecret, role: HARole, node: String, software: String,
        makeNonce: @escaping () -> [UInt8] = HandshakeStateMachine.randomNonce
    ) {
        self.side = side
        self.secret = secret
        self.role = role
        self.node = node
        self.software = software
        self.makeNonce = makeNonce
        self.state = side == .initiator ? .idle : .awaitingHello
    }

    /// 32 bytes from the system's secure generator.
    public static func randomNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// Where the handshake is, for log lines.
    public var stateName: String {
        switch self.state {
        case .idle: return "before the hello"
        case .awaitingWelcome: return "while waiting for the welcome"
        case .awaitingHello: return "before the hello"
        case .awaitingProof: return "while waiting for the first sealed frame"
        case .established: return "after the handshake"
        case .failed: return "after a failed handshake"
        }
    }

    /// The initiator's hello (call once, first).
    public mutating func start() -> HAFrame? {
        guard case .idle = self.state else { return nil }
        let hello = HAHello(nonce: self.makeNonce(), role: self.role, node: self.node, software: self.software)
        self.state = .awaitingWelcome(hello)
        return self.secret.handshakeFrame(type: .hello, payload: hello.encode())
    }

    /// A frame arrived during the handshake.
    public mutating func received(_ frame: HAFrame) -> Action {
        switch self.state {
        case .awaitingHello:
            return self.receivedHello(frame)
        case .awaitingWelcome(let hello):
            return self.receivedWelcome(frame, hello: hello)
        case .awaitingProof(let peer, let sealer, var opener):
            do {
                let first = try opener.open(frame)
                self.state = .established
                return .established(peer, sealer: sealer, opener: opener, first: first)
            } catch {
                return self.fail(.rejected(error))
            }
        case .idle, .established, .failed:
            return self.fail(.rejected(.unexpectedFrame(type: frame.type, state: self.stateName)))
        }
    }

    private mutating func receivedHello(_ frame: HAFrame) -> Action {
        guard frame.type == HAFrameType.hello.rawValue else {
            return self.fail(.rejected(.unexpectedFrame(type: frame.type, state: self.stateName)))
        }
        let hello: HAHello
        do {
            hello = try HAHello.decode(try self.secret.openHandshake(frame))
        } catch {
            return self.fail(.rejected(error))
        }
        let refusal: String?
        if !(hello.minVersion...max(hello.minVersion, hello.maxVersion)).contains(HAFrame.version) {
            refusal = "no common wire format version (peer speaks \(hello.minVersion)-\(hello.maxVersion), this unit \(HAFrame.version))"
        } else if hello.role == self.role {
            refusal = "both units are configured as \(self.role.rawValue) (node '\(self.node)' and '\(hello.node)'); set ha.role: \(self.role.other.rawValue) on one of them"
        } else if hello.node == self.node {
            refusal = "both units are named '\(self.node)'; give each a different ha.node"
        } else {
            refusal = nil
        }
        if let refusal {
            let answer = self.secret.handshakeFrame(type: .refuse, payload: HARefusal(initiatorNonce: hello.nonce, reason: refusal).encode())
            self.state = .failed
            return .close(answer: answer, reason: .refusedPeer(refusal))
        }
        let nonce = self.makeNonce()
        let keys = self.secret.sessionKeys(initiatorNonce: hello.nonce, responderNonce: nonce)
        let welcome = HAWelcome(nonce: nonce, initiatorNonce: hello.nonce, role: self.role, node: self.node, software: self.software)
        self.state = .awaitingProof(
            PeerIdentity(node: hello.node, role: hello.role, software: hello.software),
            sealer: FrameSealer(key: keys.responderToInitiator), opener: FrameOpener(key: keys.initiatorToResponder))
        return .send(self.secret.handshakeFrame(type: .welcome, payload: welcome.encode()))
    }

    private mutating func receivedWelcome(_ frame: HAFrame, hello: HAHello) -> Action {
        switch HAFrameType(rawValue: frame.type) {
        case .welcome:
            let welcome: HAWelcome
            do {
                welcome = try HAWelcome.decode(try self.secret.openHandshake(frame))
            } catch {
                return self.fail(.rejected(error))
            }
            guard welcome.initiatorNonce == hello.nonce else {
                return self.fail(.rejected(.badField(field: "initiator_nonce", reason: "does not echo this hello (a replayed welcome)")))
            }
            guard welcome.version == HAFrame.version else {
                return self.fail(.refusedPeer("the peer chose wire format version \(welcome.version)"))
            }
            guard welcome.role != self.role else {
                return self.fail(.refusedPeer("both units are configured as \(self.role.rawValue)"))
            }
            let keys = self.secret.sessionKeys(initiatorNonce: hello.nonce, responderNonce: welcome.nonce)
            self.state = .established
            return .established(
                PeerIdentity(node: welcome.node, role: welcome.role, software: welcome.software),
                sealer: FrameSealer(key: keys.initiatorToResponder), opener: FrameOpener(key: keys.responderToInitiator),
                first: nil)
        case .refuse:
            do {
                let refusal = try HARefusal.decode(try self.secret.openHandshake(frame))
                guard refusal.initiatorNonce == hello.nonce else {
                    return self.fail(.rejected(.badField(field: "initiator_nonce", reason: "does not echo this hello (a replayed refusal)")))
                }
                return self.fail(.refusedByPeer(refusal.reason))
            } catch {
                return self.fail(.rejected(error))
            }
        default:
            return self.fail(.rejected(.unexpectedFrame(type: frame.type, state: self.stateName)))
        }
    }

    private mutating func fail(_ reason: HandshakeFailure) -> Action {
        self.state = .failed
        return .close(answer: nil, reason: reason)
    }
}

@available(*, unavailable)
extension HandshakeStateMachine: Sendable {}

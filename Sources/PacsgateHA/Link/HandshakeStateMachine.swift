import Crypto
import NIOCore

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

/// The opening of one HA link connection, on either end, as a pure state machine: the Noise NNpsk2 handshake
/// (``NoiseHandshake``) carrying each unit's identity, then the dialler's proof.
///
/// 1. The dialling unit (initiator) sends HELLO: its ephemeral key and its identity.
/// 2. The dialled unit (responder) answers WELCOME: its ephemeral key and, encrypted under a key that needs both the
///    two ephemeral keys' agreement and the shared secret, a welcome (its identity) or a refusal (same role, same node
///    name, no common version) with its reason. The initiator can open it only if the responder holds the secret.
/// 3. The initiator sends CONFIRM, the first frame sealed with its session key, carrying the handshake hash. The
///    responder treats the link as authenticated only once it opens: until then the peer has proved nothing.
public struct HandshakeStateMachine {
    public enum Side: Sendable {
        case initiator
        case responder
    }

    private enum State {
        case idle
        case awaitingWelcome(NoiseHandshake)
        case awaitingHello(NoiseHandshake)
        case awaitingConfirm(PeerIdentity, hash: [UInt8], sealer: FrameSealer, opener: FrameOpener)
        case established
        case failed
    }

    /// What the link must do after an event.
    public enum Action {
        /// Send this frame and wait for the next.
        case send(HAFrame)
        /// The link is authenticated: send `confirm` when there is one (initiator side), then seal with `sealer` and
        /// open with `opener`.
        case established(PeerIdentity, sealer: FrameSealer, opener: FrameOpener, confirm: HAFrame?)
        /// Send `answer` (when there is one), then close: the peer is refused or is not who it must be.
        case close(answer: HAFrame?, reason: HandshakeFailure)
    }

    /// Why a handshake failed.
    public enum HandshakeFailure: Error, Sendable, Equatable, CustomStringConvertible {
        /// Bytes or tags that do not hold: forged, corrupted or another secret (rejected and audited).
        case rejected(HAWireError)
        /// The peer answered with an authenticated refusal.
        case refusedByPeer(String)
        /// We refused the peer (same role, no common version).
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
    private var state: State

    public init(side: Side, secret: HASecret, role: HARole, node: String, software: String) {
        self.side = side
        self.secret = secret
        self.role = role
        self.node = node
        self.software = software
        self.state = side == .initiator ? .idle : .awaitingHello(secret.handshake(.responder))
    }

    /// Where the handshake is, for log lines.
    public var stateName: String {
        switch self.state {
        case .idle, .awaitingHello: return "before the hello"
        case .awaitingWelcome: return "while waiting for the welcome"
        case .awaitingConfirm: return "while waiting for the dialler's confirmation (after the welcome)"
        case .established: return "after the handshake"
        case .failed: return "after a failed handshake"
        }
    }

    /// Whether the dialled unit has answered and waits for the proof (a peer that closes now did not have the secret,
    /// or the network failed at that moment).
    public var awaitsConfirmation: Bool {
        if case .awaitingConfirm = self.state { return true }
        return false
    }

    /// The initiator's hello (call once, first).
    public mutating func start() -> HAFrame? {
        guard case .idle = self.state else { return nil }
        var noise = self.secret.handshake(.initiator)
        let hello = HAHello(role: self.role, node: self.node, software: self.software)
        guard let message = try? noise.writeMessage1(payload: hello.encode()) else { return nil }
        self.state = .awaitingWelcome(noise)
        return Self.frame(.hello, message)
    }

    /// A frame arrived during the handshake.
    public mutating func received(_ frame: HAFrame) -> Action {
        switch self.state {
        case .awaitingHello(let noise):
            return self.receivedHello(frame, noise: noise)
        case .awaitingWelcome(let noise):
            return self.receivedWelcome(frame, noise: noise)
        case .awaitingConfirm(let peer, let hash, let sealer, var opener):
            guard frame.type == HAFrameType.confirm.rawValue else {
                return self.fail(.rejected(.unexpectedFrame(type: frame.type, state: self.stateName)))
            }
            do {
                let payload = try opener.openPayload(frame)
                guard payload == hash else {
                    return self.fail(.rejected(.badField(field: "handshake_hash", reason: "does not match this handshake")))
                }
            } catch {
                return self.fail(.rejected(error))
            }
            self.state = .established
            return .established(peer, sealer: sealer, opener: opener, confirm: nil)
        case .idle, .established, .failed:
            return self.fail(.rejected(.unexpectedFrame(type: frame.type, state: self.stateName)))
        }
    }

    private mutating func receivedHello(_ frame: HAFrame, noise: NoiseHandshake) -> Action {
        guard frame.type == HAFrameType.hello.rawValue, frame.sequence == 0 else {
            return self.fail(.rejected(.unexpectedFrame(type: frame.type, state: self.stateName)))
        }
        var noise = noise
        let payload: [UInt8]
        do {
            payload = try noise.readMessage1(Array(frame.body.readableBytesView))
        } catch {
            return self.fail(.rejected(Self.wireError(error, type: frame.type)))
        }
        let hello: HAHello
        do {
            hello = try HAHello.decode(payload)
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
        let answer: HAAnswer = refusal.map { .refuse(reason: $0) } ?? .welcome(HAWelcome(role: self.role, node: self.node, software: self.software))
        let message: [UInt8]
        let keys: (initiatorToResponder: SymmetricKey, responderToInitiator: SymmetricKey)
        do {
            message = try noise.writeMessage2(payload: answer.encode())
            keys = try noise.split()
        } catch {
            return self.fail(.rejected(Self.wireError(error, type: frame.type)))
        }
        let welcome = Self.frame(.welcome, message)
        if let refusal {
            self.state = .failed
            return .close(answer: welcome, reason: .refusedPeer(refusal))
        }
        self.state = .awaitingConfirm(
            PeerIdentity(node: hello.node, role: hello.role, software: hello.software), hash: noise.handshakeHash,
            sealer: FrameSealer(key: keys.responderToInitiator), opener: FrameOpener(key: keys.initiatorToResponder))
        return .send(welcome)
    }

    private mutating func receivedWelcome(_ frame: HAFrame, noise: NoiseHandshake) -> Action {
        guard frame.type == HAFrameType.welcome.rawValue, frame.sequence == 0 else {
            return self.fail(.rejected(.unexpectedFrame(type: frame.type, state: self.stateName)))
        }
        var noise = noise
        let payload: [UInt8]
        let keys: (initiatorToResponder: SymmetricKey, responderToInitiator: SymmetricKey)
        do {
            payload = try noise.readMessage2(Array(frame.body.readableBytesView))
            keys = try noise.split()
        } catch {
            return self.fail(.rejected(Self.wireError(error, type: frame.type)))
        }
        let answer: HAAnswer
        do {
            answer = try HAAnswer.decode(payload)
        } catch {
            return self.fail(.rejected(error))
        }
        switch answer {
        case .refuse(let reason):
            return self.fail(.refusedByPeer(reason))
        case .welcome(let welcome):
            guard welcome.version == HAFrame.version else {
                return self.fail(.refusedPeer("the peer chose wire format version \(welcome.version)"))
            }
            guard welcome.role != self.role else {
                return self.fail(.refusedPeer("both units are configured as \(self.role.rawValue)"))
            }
            var sealer = FrameSealer(key: keys.initiatorToResponder)
            let confirm = sealer.seal(type: HAFrameType.confirm.rawValue, plaintext: noise.handshakeHash)
            self.state = .established
            return .established(
                PeerIdentity(node: welcome.node, role: welcome.role, software: welcome.software),
                sealer: sealer, opener: FrameOpener(key: keys.responderToInitiator), confirm: confirm)
        }
    }

    /// A handshake frame: sequence 0, the Noise message as body.
    private static func frame(_ type: HAFrameType, _ message: [UInt8]) -> HAFrame {
        HAFrame(type: type.rawValue, sequence: 0, body: ByteBuffer(bytes: message))
    }

    /// A Noise failure as the wire error the log names.
    private static func wireError(_ failure: NoiseHandshake.Failure, type: UInt8) -> HAWireError {
        switch failure {
        case .decryptionFailed: return .authenticationFailed(type: type, sequence: 0)
        case .truncated: return .truncated(field: "noise message")
        case .badPublicKey: return .badField(field: "ephemeral key", reason: "not a usable X25519 public key")
        case .outOfOrder: return .unexpectedFrame(type: type, state: "out of the handshake's order")
        }
    }

    private mutating func fail(_ reason: HandshakeFailure) -> Action {
        self.state = .failed
        return .close(answer: nil, reason: reason)
    }
}

@available(*, unavailable)
extension HandshakeStateMachine: Sendable {}

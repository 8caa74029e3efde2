import Crypto
import Foundation
import NIOCore

/// The pair's shared secret and the keys derived from it (HKDF-SHA256).
///
/// - The handshake key authenticates hello, welcome and refuse frames with HMAC-SHA256.
/// - Each session has two keys, one per direction, derived from the secret and both units' fresh nonces; session
///   frames are sealed with ChaCha20-Poly1305 under the key of their direction, the frame sequence number as nonce
///   and the frame header as associated data. A frame from another session, an old one replayed, one reordered or
///   one with a single bit changed does not open.
public struct HASecret: Sendable {
    private let key: SymmetricKey
    let handshakeKey: SymmetricKey

    /// Bytes a secret must have at least.
    public static let minimumLength = 16

    /// `nil` when `bytes` is shorter than ``minimumLength``.
    public init?(bytes: [UInt8]) {
        guard bytes.count >= Self.minimumLength else { return nil }
        self.key = SymmetricKey(data: bytes)
        self.handshakeKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: self.key, salt: Array("pacsgate-ha".utf8), info: Array("pacsgate-ha/1 handshake".utf8),
            outputByteCount: 32)
    }

    /// The secret in a file's text: surrounding white space (a trailing newline) is not part of it.
    public init?(fileText: String) {
        self.init(bytes: Array(fileText.trimmingCharacters(in: .whitespacesAndNewlines).utf8))
    }

    /// The two keys of the session of `initiatorNonce` and `responderNonce`.
    func sessionKeys(initiatorNonce: [UInt8], responderNonce: [UInt8]) -> (initiatorToResponder: SymmetricKey, responderToInitiator: SymmetricKey) {
        let salt = initiatorNonce + responderNonce
        let forward = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: self.key, salt: salt, info: Array("pacsgate-ha/1 initiator to responder".utf8), outputByteCount: 32)
        let backward = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: self.key, salt: salt, info: Array("pacsgate-ha/1 responder to initiator".utf8), outputByteCount: 32)
        return (forward, backward)
    }

    /// A handshake frame: `payload` followed by HMAC-SHA256(handshake key, header ‖ payload).
    func handshakeFrame(type: HAFrameType, payload: ByteBuffer) -> HAFrame {
        let plaintext = Array(payload.readableBytesView)
        let header = HAFrame.header(type: type.rawValue, sequence: 0, bodyLength: plaintext.count + 32)
        let tag = HMAC<SHA256>.authenticationCode(for: header + plaintext, using: self.handshakeKey)
        var body = ByteBufferAllocator().buffer(capacity: plaintext.count + 32)
        body.writeBytes(plaintext)
        body.writeBytes(Array(tag))
        return HAFrame(type: type.rawValue, sequence: 0, body: body)
    }

    /// The payload of a handshake frame whose tag is valid.
    func openHandshake(_ frame: HAFrame) throws(HAWireError) -> ByteBuffer {
        let body = Array(frame.body.readableBytesView)
        guard body.count >= 32, frame.sequence == 0 else { throw .authenticationFailed(type: frame.type, sequence: frame.sequence) }
        let payload = Array(body[..<(body.count - 32)])
        let tag = Array(body[(body.count - 32)...])
        guard HMAC<SHA256>.isValidAuthenticationCode(tag, authenticating: frame.header + payload, using: self.handshakeKey) else {
            throw .authenticationFailed(type: frame.type, sequence: frame.sequence)
        }
        return ByteBuffer(bytes: payload)
    }
}

/// Seals the session messages one direction sends, numbering them from 0.
public struct FrameSealer: Sendable {
    private let key: SymmetricKey
    public private(set) var sequence: UInt64 = 0

    init(key: SymmetricKey) {
        self.key = key
    }

    /// The frame carrying `message`.
    public mutating func seal(_ message: HAMessage) -> HAFrame {
        let plaintext = Array(message.encode().readableBytesView)
        let header = HAFrame.header(type: message.type, sequence: self.sequence, bodyLength: plaintext.count + 16)
        var body = ByteBufferAllocator().buffer(capacity: plaintext.count + 16)
        // Sealing fails only for a malformed nonce, which `Self.nonce` cannot produce.
        if let sealed = try? ChaChaPoly.seal(plaintext, using: self.key, nonce: Self.nonce(self.sequence), authenticating: header) {
            body.writeBytes(sealed.ciphertext)
            body.writeBytes(sealed.tag)
        }
        let frame = HAFrame(type: message.type, sequence: self.sequence, body: body)
        self.sequence += 1
        return frame
    }

    static func nonce(_ sequence: UInt64) -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { bytes[4 + index] = UInt8(truncatingIfNeeded: sequence >> UInt64(56 - 8 * index)) }
        // A 12-byte nonce is always accepted.
        return (try? ChaChaPoly.Nonce(data: bytes)) ?? ChaChaPoly.Nonce()
    }
}

/// Opens the session frames of the other direction, in order.
public struct FrameOpener: Sendable {
    private let key: SymmetricKey
    public private(set) var sequence: UInt64 = 0

    init(key: SymmetricKey) {
        self.key = key
    }

    /// The message in `frame`; throws when it is out of order or does not authenticate.
    public mutating func open(_ frame: HAFrame) throws(HAWireError) -> HAMessage {
        if HAFrameType.isHandshake(frame.type) { throw .unexpectedFrame(type: frame.type, state: "inside a session") }
        guard frame.sequence == self.sequence else { throw .unexpectedSequence(expected: self.sequence, found: frame.sequence) }
        let body = Array(frame.body.readableBytesView)
        guard body.count >= 16 else { throw .authenticationFailed(type: frame.type, sequence: frame.sequence) }
        let plaintext: Data
        do {
            let box = try ChaChaPoly.SealedBox(
                nonce: FrameSealer.nonce(frame.sequence), ciphertext: body[..<(body.count - 16)], tag: body[(body.count - 16)...])
            plaintext = try ChaChaPoly.open(box, using: self.key, authenticating: frame.header)
        } catch {
            throw .authenticationFailed(type: frame.type, sequence: frame.sequence)
        }
        self.sequence += 1
        return try HAMessage.decode(type: frame.type, payload: ByteBuffer(bytes: plaintext))
    }
}

import Crypto
import Foundation
import NIOCore

/// The pair's shared secret: at least 32 random bytes, the same on both units.
///
/// The file holds them as base64 (`openssl rand -base64 32`) or hex (`openssl rand -hex 32`). From the bytes, the
/// Noise handshake's pre-shared key is derived with HKDF-SHA256 (``NoiseHandshake``); each session's keys come from
/// that handshake, which mixes in both units' ephemeral X25519 keys. Session frames are sealed with ChaCha20-Poly1305
/// under the key of their direction, the frame sequence number as nonce and the frame header as associated data, so a
/// frame from another session, an old one replayed, one reordered or one with a single bit changed does not open.
public struct HASecret: Sendable {
    /// The Noise pre-shared key.
    let psk: SymmetricKey

    /// Bytes a secret must have at least.
    public static let minimumLength = 32
    /// The command the error messages suggest.
    public static let makeCommand = "openssl rand -base64 32"

    /// Why a secret is refused.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        /// Not base64 or hex text.
        case notEncoded
        /// Fewer than ``HASecret/minimumLength`` bytes once decoded.
        case tooShort(bytes: Int)
        /// Too few different byte values for random bytes (a pattern, a repeated character).
        case notRandom(distinct: Int)

        public var description: String {
            let make = "make one with `\(HASecret.makeCommand)` on one unit and copy the file to the other"
            switch self {
            case .notEncoded:
                return "must hold at least \(HASecret.minimumLength) random bytes written as base64 or hex, not a password; \(make)"
            case .tooShort(let bytes):
                return "holds \(bytes) bytes; at least \(HASecret.minimumLength) random bytes are needed; \(make)"
            case .notRandom(let distinct):
                return "does not look random (only \(distinct) different byte values); \(make)"
            }
        }
    }

    /// The secret of `bytes`; throws when there are fewer than ``minimumLength`` or they are plainly not random.
    public init(bytes: [UInt8]) throws(Problem) {
        guard bytes.count >= Self.minimumLength else { throw .tooShort(bytes: bytes.count) }
        // 32 random bytes have about 30 different values; fewer than 16 means a pattern (all zeros, "abab…", a
        // repeated block), never chance in practice (the odds are below 1 in 10^12).
        let distinct = Set(bytes).count
        guard distinct >= 16 else { throw .notRandom(distinct: distinct) }
        self.psk = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: bytes), salt: Array("pacsgate-ha".utf8), info: Array("pacsgate-ha/2 psk".utf8),
            outputByteCount: 32)
    }

    /// The secret in a file's text: base64 or hex, white space (line breaks, a trailing newline) ignored.
    public init(fileText: String) throws(Problem) {
        try self.init(bytes: try Self.decode(fileText))
    }

    /// The bytes `text` encodes as hex or base64.
    static func decode(_ text: String) throws(Problem) -> [UInt8] {
        let compact = String(text.unicodeScalars.filter { !$0.properties.isWhitespace })
        let hexDigits = compact.unicodeScalars.allSatisfy { $0.properties.isASCIIHexDigit }
        if hexDigits, compact.count % 2 == 0, !compact.isEmpty {
            var bytes: [UInt8] = []
            var index = compact.startIndex
            while index < compact.endIndex {
                let next = compact.index(index, offsetBy: 2)
                guard let byte = UInt8(compact[index..<next], radix: 16) else { throw .notEncoded }
                bytes.append(byte)
                index = next
            }
            return bytes
        }
        guard let data = Data(base64Encoded: compact), !data.isEmpty else { throw .notEncoded }
        return Array(data)
    }

    /// The Noise handshake of one connection.
    func handshake(_ role: NoiseHandshake.Role) -> NoiseHandshake {
        NoiseHandshake(role: role, psk: self.psk, prologue: Array("pacsgate-ha/\(HAFrame.version)".utf8))
    }
}

/// Seals the sealed frames one direction sends, numbering them from 0.
public struct FrameSealer: Sendable {
    private let key: SymmetricKey
    public private(set) var sequence: UInt64 = 0

    init(key: SymmetricKey) {
        self.key = key
    }

    /// The frame carrying `message`.
    public mutating func seal(_ message: HAMessage) -> HAFrame {
        self.seal(type: message.type, plaintext: Array(message.encode().readableBytesView))
    }

    /// A frame of `type` carrying `plaintext` (the dialler's confirmation is one too).
    mutating func seal(type: UInt8, plaintext: [UInt8]) -> HAFrame {
        let header = HAFrame.header(type: type, sequence: self.sequence, bodyLength: plaintext.count + 16)
        var body = ByteBufferAllocator().buffer(capacity: plaintext.count + 16)
        // Sealing fails only for a malformed nonce, which `Self.nonce` cannot produce.
        if let sealed = try? ChaChaPoly.seal(plaintext, using: self.key, nonce: Self.nonce(self.sequence), authenticating: header) {
            body.writeBytes(sealed.ciphertext)
            body.writeBytes(sealed.tag)
        }
        let frame = HAFrame(type: type, sequence: self.sequence, body: body)
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

/// Opens the sealed frames of the other direction, in order.
public struct FrameOpener: Sendable {
    private let key: SymmetricKey
    public private(set) var sequence: UInt64 = 0

    init(key: SymmetricKey) {
        self.key = key
    }

    /// The message in `frame`; throws when it is out of order or does not authenticate.
    public mutating func open(_ frame: HAFrame) throws(HAWireError) -> HAMessage {
        if HAFrameType.isHandshake(frame.type) { throw .unexpectedFrame(type: frame.type, state: "inside a session") }
        return try HAMessage.decode(type: frame.type, payload: ByteBuffer(bytes: try self.openPayload(frame)))
    }

    /// The plaintext of `frame`, whatever its type; throws when it is out of order or does not authenticate.
    mutating func openPayload(_ frame: HAFrame) throws(HAWireError) -> [UInt8] {
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
        return Array(plaintext)
    }
}

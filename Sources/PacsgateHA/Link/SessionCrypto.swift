import Crypto
import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The pair's shared secret: 32 random bytes, the same on both units.
///
/// The file holds them in a checksummed form that `pacsgate ha-secret FILE` writes:
/// `pgha1_` ‖ the 32 bytes in base64url (43 characters, no padding) ‖ `_` ‖ the first 4 bytes of
/// SHA-256(`pgha1_` ‖ those 43 characters) in hex. The checksum tells a secret the tool made from a phrase someone
/// typed or a copy that lost characters; nothing else can, and the secret's strength is all its randomness (a dialler
/// that completes one handshake can test guesses offline: docs/ha-protocol.md). Base64 or hex without the checksum
/// (the form of earlier versions) is accepted only with `ha.allow_legacy_secret: true`.
///
/// From the bytes, the Noise handshake's pre-shared key is derived with HKDF-SHA256 (``NoiseHandshake``); each
/// session's keys come from that handshake, which mixes in both units' ephemeral X25519 keys. Session frames are
/// sealed with ChaCha20-Poly1305 under the key of their direction, the frame sequence number as nonce and the frame
/// header as associated data, so a frame from another session, an old one replayed, one reordered or one with a
/// single bit changed does not open.
public struct HASecret: Sendable {
    /// The Noise pre-shared key.
    let psk: SymmetricKey

    /// Bytes a secret has (at least, in the legacy form).
    public static let minimumLength = 32
    /// The start of the checksummed form.
    public static let prefix = "pgha1_"
    /// The command the error messages suggest.
    public static let makeCommand = "pacsgate ha-secret FILE"

    /// Why a secret is refused.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        /// Neither the checksummed form nor base64 or hex.
        case notEncoded
        /// `pgha1_` text that is not 58 characters of the form, or whose checksum does not match (a typo, a copy that
        /// lost or gained characters).
        case badChecksummed(String)
        /// Base64 or hex without the checksum, and `ha.allow_legacy_secret` is not set.
        case legacy
        /// Fewer than ``HASecret/minimumLength`` bytes once decoded (legacy form).
        case tooShort(bytes: Int)
        /// Too few different byte values for random bytes (a pattern, a repeated character).
        case notRandom(distinct: Int)

        public var description: String {
            let make = "make one with `\(HASecret.makeCommand)` on one unit and copy the file to the other"
            switch self {
            case .notEncoded:
                return "is not a secret made by `\(HASecret.makeCommand)` (it starts with \(HASecret.prefix)); a password is never accepted; \(make)"
            case .badChecksummed(let why):
                return "is damaged: \(why); copy the file again from the other unit, or \(make)"
            case .legacy:
                return "holds base64 or hex without a checksum (the form of earlier versions), which cannot be told from a typed phrase; \(make), or set ha.allow_legacy_secret: true to keep this one"
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

    /// The secret in a file's text (white space, such as the trailing newline, ignored): the checksummed form, or with
    /// `allowLegacy` also base64 or hex of at least 32 bytes. The decoded bytes are zeroed once the key is derived (the
    /// key itself is a `SymmetricKey`, whose storage swift-crypto zeroes when it is released).
    public init(fileText: String, allowLegacy: Bool = false) throws(Problem) {
        let compact = String(fileText.unicodeScalars.filter { !$0.properties.isWhitespace })
        let checksummed = compact.hasPrefix(Self.prefix)
        var bytes = checksummed ? try Self.decodeChecksummed(compact) : try Self.decodeLegacy(compact)
        defer { Self.wipe(&bytes) }
        guard checksummed || allowLegacy else { throw bytes.count >= Self.minimumLength ? .legacy : .tooShort(bytes: bytes.count) }
        try self.init(bytes: bytes)
    }

    /// Overwrites `bytes` with zeros in place (`explicit_bzero`, which the compiler does not leave out), so a secret's
    /// bytes do not stay behind in freed memory.
    static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            explicit_bzero(base, buffer.count)
        }
    }

    /// Overwrites `data` with zeros in place.
    static func wipe(_ data: inout Data) {
        data.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            explicit_bzero(base, buffer.count)
        }
    }

    /// Whether `fileText` is in the checksummed form (whether or not it is valid).
    public static func isChecksummed(_ fileText: String) -> Bool {
        fileText.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix(Self.prefix)
    }

    /// A new secret of 32 random bytes from the system's generator, in the checksummed form.
    public static func generate() -> String {
        let key = SymmetricKey(size: .bits256)
        var raw = key.withUnsafeBytes { Data($0) }
        defer { Self.wipe(&raw) }
        let payload = raw.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return Self.prefix + payload + "_" + Self.checksum(payload)
    }

    private static let payloadLength = 43
    private static let checksumLength = 8

    /// The first 4 bytes of SHA-256(`pgha1_` ‖ payload), in hex.
    private static func checksum(_ payload: String) -> String {
        SHA256.hash(data: Array((Self.prefix + payload).utf8)).prefix(4).map { String(format: "%02x", $0) }.joined()
    }

    private static func decodeChecksummed(_ text: String) throws(Problem) -> [UInt8] {
        let rest = Array(text.dropFirst(Self.prefix.count))
        let expected = Self.payloadLength + 1 + Self.checksumLength
        guard rest.count == expected, rest[Self.payloadLength] == "_" else {
            throw .badChecksummed("\(text.count) characters where \(Self.prefix.count + expected) are expected")
        }
        let payload = String(rest[..<Self.payloadLength])
        let check = String(rest[(Self.payloadLength + 1)...]).lowercased()
        guard check == Self.checksum(payload) else { throw .badChecksummed("its checksum does not match") }
        let standard = payload.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "="
        guard var data = Data(base64Encoded: standard) else { throw .badChecksummed("not 32 bytes of base64url") }
        defer { Self.wipe(&data) }
        guard data.count == Self.minimumLength else { throw .badChecksummed("not 32 bytes of base64url") }
        return Array(data)
    }

    /// The bytes `text` encodes as hex or base64 (the legacy form).
    private static func decodeLegacy(_ compact: String) throws(Problem) -> [UInt8] {
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
        guard var data = Data(base64Encoded: compact), !data.isEmpty else { throw .notEncoded }
        defer { Self.wipe(&data) }
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

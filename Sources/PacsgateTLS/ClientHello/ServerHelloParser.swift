public import NIOCore

/// Reads the cipher suite from the first bytes a TLS server sends (its ServerHello, RFC 8446 §4.1.3, RFC 5246
/// §7.4.1.3).
///
/// swift-nio-ssl does not expose the negotiated cipher suite, and the gateway's own ServerHello travels in plaintext
/// in every TLS version, so a terminating connection reads it from its outbound bytes. Pure: no I/O, no logging.
///
/// ```
/// record:    type 0x16 · legacy version (2) · length (2)
/// handshake: type 0x02 · length (3) · legacy_version (2) · random (32) · session_id length (1) + id · cipher_suite (2)
/// ```
public enum ServerHelloParser {
    /// Bytes before the cipher suite when the session ID is empty.
    static let fixedPrefix = 5 + 4 + 2 + 32 + 1

    /// The cipher suite, or `nil` when `buffer` does not reach it yet.
    public static func cipherSuite(_ buffer: ByteBuffer) throws(ServerHelloParseError) -> UInt16? {
        let bytes = buffer.readableBytesView
        func byte(_ offset: Int) -> UInt8? {
            offset < bytes.count ? bytes[bytes.startIndex + offset] : nil
        }
        guard let recordType = byte(0) else { return nil }
        guard recordType == 0x16 else { throw .notHandshakeRecord(recordType) }
        guard let handshakeType = byte(5) else { return nil }
        guard handshakeType == 0x02 else { throw .notServerHello(handshakeType) }
        guard let sessionIDLength = byte(fixedPrefix - 1) else { return nil }
        guard sessionIDLength <= 32 else { throw .sessionIDTooLong(Int(sessionIDLength)) }
        let at = Self.fixedPrefix + Int(sessionIDLength)
        if let high = byte(3), let low = byte(4), Int(high) << 8 | Int(low) < at + 2 - 5 {
            throw .recordTooShort(Int(high) << 8 | Int(low))
        }
        guard let first = byte(at), let second = byte(at + 1) else { return nil }
        return UInt16(first) << 8 | UInt16(second)
    }
}

/// Why outbound bytes are not a ServerHello (a defect of the TLS library, never of the peer).
public enum ServerHelloParseError: Error, Equatable, CustomStringConvertible {
    case notHandshakeRecord(UInt8)
    case notServerHello(UInt8)
    case sessionIDTooLong(Int)
    case recordTooShort(Int)

    public var description: String {
        switch self {
        case .notHandshakeRecord(let type): "first record has content type \(type), not handshake (22)"
        case .notServerHello(let type): "first handshake message has type \(type), not ServerHello (2)"
        case .sessionIDTooLong(let length): "ServerHello session ID of \(length) bytes (at most 32)"
        case .recordTooShort(let length): "ServerHello record of \(length) bytes ends before its cipher suite"
        }
    }
}

/// Names of the cipher suites the gateway negotiates, as OpenSSL (and HAProxy's PP2_SUBTYPE_SSL_CIPHER) names them.
enum TLSCipherSuiteName {
    static func name(_ value: UInt16) -> String {
        switch value {
        case 0x1301: "TLS_AES_128_GCM_SHA256"
        case 0x1302: "TLS_AES_256_GCM_SHA384"
        case 0x1303: "TLS_CHACHA20_POLY1305_SHA256"
        case 0xC02B: "ECDHE-ECDSA-AES128-GCM-SHA256"
        case 0xC02C: "ECDHE-ECDSA-AES256-GCM-SHA384"
        case 0xC02F: "ECDHE-RSA-AES128-GCM-SHA256"
        case 0xC030: "ECDHE-RSA-AES256-GCM-SHA384"
        case 0xCCA8: "ECDHE-RSA-CHACHA20-POLY1305"
        case 0xCCA9: "ECDHE-ECDSA-CHACHA20-POLY1305"
        default: "0x" + String(value, radix: 16, uppercase: true)
        }
    }
}

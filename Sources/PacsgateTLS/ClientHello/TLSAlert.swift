public import NIOCore

/// A TLS alert description (RFC 8446 §6, RFC 5246 §7.2) that the gateway sends, always at level fatal, before
/// closing a connection it refuses during ClientHello inspection.
///
/// The record is plaintext: nothing has been negotiated yet. Its record version is `0x0303`, which TLS 1.2
/// and 1.3 clients accept before the version is agreed (RFC 8446 §5.1); older clients accept it too.
public struct TLSAlert: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The `AlertDescription` byte.
    public let rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// 10: a message arrived that is not allowed here (e.g. a handshake message other than ClientHello).
    public static let unexpectedMessage = TLSAlert(rawValue: 10)
    /// 22: a record longer than the protocol allows.
    public static let recordOverflow = TLSAlert(rawValue: 22)
    /// 40: no acceptable way to continue (e.g. no backend, or a hello larger than the gateway accepts).
    public static let handshakeFailure = TLSAlert(rawValue: 40)
    /// 47: a field is out of range or inconsistent.
    public static let illegalParameter = TLSAlert(rawValue: 47)
    /// 50: a message could not be decoded (bad lengths, trailing bytes, duplicate extensions).
    public static let decodeError = TLSAlert(rawValue: 50)
    /// 70: the offered protocol version is not supported.
    public static let protocolVersion = TLSAlert(rawValue: 70)
    /// 80: a failure inside the gateway unrelated to the peer.
    public static let internalError = TLSAlert(rawValue: 80)
    /// 112: the server name is unknown or not acceptable (RFC 6066 §3).
    public static let unrecognizedName = TLSAlert(rawValue: 112)

    /// Size of the encoded record: 5-byte record header, level, description.
    public static let recordLength = 7

    /// Appends the fatal alert record `15 03 03 00 02 02 <description>` to `buffer`.
    ///
    /// - Returns: the number of bytes written (always `TLSAlert.recordLength`).
    @discardableResult
    public func writeFatalRecord(to buffer: inout ByteBuffer) -> Int {
        buffer.writeMultipleIntegers(
            UInt8(21),  // ContentType alert
            UInt16(0x0303),  // legacy_record_version
            UInt16(2),  // length
            UInt8(2),  // AlertLevel fatal
            self.rawValue
        )
    }

    /// The fatal alert record in a new buffer from `allocator`.
    public func fatalRecord(allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: Self.recordLength)
        self.writeFatalRecord(to: &buffer)
        return buffer
    }

    /// The RFC name and number, e.g. `unrecognized_name(112)`.
    public var description: String {
        let name: String
        switch self {
        case .unexpectedMessage: name = "unexpected_message"
        case .recordOverflow: name = "record_overflow"
        case .handshakeFailure: name = "handshake_failure"
        case .illegalParameter: name = "illegal_parameter"
        case .decodeError: name = "decode_error"
        case .protocolVersion: name = "protocol_version"
        case .internalError: name = "internal_error"
        case .unrecognizedName: name = "unrecognized_name"
        default: name = "alert"
        }
        return "\(name)(\(self.rawValue))"
    }
}

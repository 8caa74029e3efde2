/// What is wrong with bytes received on the HA link. Every case names the defect precisely enough for the log line
/// an operator reads when the pair does not come up.
public enum HAWireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The first four bytes of a frame are not `PGHA`: something else is talking to the HA port.
    case notHALink(firstBytes: [UInt8])
    /// A frame of a wire-format version this unit does not speak.
    case unsupportedVersion(UInt8)
    /// A frame announces a body larger than allowed for its type.
    case frameTooLarge(type: UInt8, length: Int, limit: Int)
    /// A frame's authentication tag does not match: forged, corrupted, replayed or keyed with another secret.
    case authenticationFailed(type: UInt8, sequence: UInt64)
    /// A sealed frame arrived out of order.
    case unexpectedSequence(expected: UInt64, found: UInt64)
    /// A frame type that is not allowed at this point of the exchange.
    case unexpectedFrame(type: UInt8, state: String)
    /// A payload ended before a field was complete.
    case truncated(field: String)
    /// A field holds a value outside its domain.
    case badField(field: String, reason: String)
    /// Bytes after the last field of a payload.
    case trailingBytes(count: Int)

    public var description: String {
        switch self {
        case .notHALink(let bytes):
            let hex = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
            return "not a pacsgate HA link (first bytes \(hex); expected 50 47 48 41 'PGHA')"
        case .unsupportedVersion(let version):
            return "wire format version \(version) is not supported (this unit speaks version \(HAFrame.version))"
        case .frameTooLarge(let type, let length, let limit):
            return "frame type 0x\(String(type, radix: 16)) announces \(length) bytes (limit \(limit))"
        case .authenticationFailed(let type, let sequence):
            return "authentication failed for frame type 0x\(String(type, radix: 16)) sequence \(sequence) (forged, corrupted, or another shared secret)"
        case .unexpectedSequence(let expected, let found):
            return "frame sequence \(found) where \(expected) was expected (replayed or reordered)"
        case .unexpectedFrame(let type, let state):
            return "frame type 0x\(String(type, radix: 16)) is not allowed \(state)"
        case .truncated(let field):
            return "payload ends inside '\(field)'"
        case .badField(let field, let reason):
            return "bad '\(field)': \(reason)"
        case .trailingBytes(let count):
            return "\(count) unexpected bytes after the payload"
        }
    }
}

/// The rule a DNS host name breaks, as checked for TLS server names (RFC 6066 §3) and SNI route patterns.
///
/// A valid host name is 1…253 bytes (after one optional trailing dot is removed), made of dot-separated
/// labels of 1…63 bytes. Labels hold ASCII letters, digits, `-` (not first or last) and `_`. The underscore
/// is not an LDH character, but hosts named with it exist on hospital networks and mainstream clients
/// send it, so it is tolerated. U-labels (raw UTF-8) must be sent as A-labels (`xn--…`). IP literals are
/// refused: RFC 6066 forbids them in `HostName`, and a name whose last label is all digits, or that
/// contains `:`, is one.
public enum HostNameViolation: Error, Hashable, Sendable, CustomStringConvertible {
    /// The name has no bytes.
    case empty
    /// The name is longer than 253 bytes (without the trailing dot).
    case tooLong(length: Int)
    /// Two dots in a row, a leading dot, a lone dot, or two trailing dots.
    case emptyLabel
    /// A label is longer than 63 bytes.
    case labelTooLong(length: Int)
    /// A byte outside letters, digits, `-`, `_` and `.` (control bytes, NUL, spaces, UTF-8, `*` …).
    case invalidByte(UInt8)
    /// A label starts or ends with `-`.
    case hyphenAtLabelEdge
    /// An IPv4 or IPv6 literal, which is never a valid server name.
    case ipLiteral

    public var description: String {
        switch self {
        case .empty:
            return "empty host name"
        case .tooLong(let length):
            return "host name of \(length) bytes exceeds 253"
        case .emptyLabel:
            return "empty label in host name"
        case .labelTooLong(let length):
            return "label of \(length) bytes exceeds 63"
        case .invalidByte(let byte):
            return "invalid byte 0x\(hex(byte)) in host name"
        case .hyphenAtLabelEdge:
            return "label starts or ends with '-'"
        case .ipLiteral:
            return "IP literal instead of a host name"
        }
    }
}

/// Two lower-case hexadecimal digits.
func hex(_ byte: UInt8) -> String {
    let digits = String(byte, radix: 16)
    return byte < 0x10 ? "0" + digits : digits
}

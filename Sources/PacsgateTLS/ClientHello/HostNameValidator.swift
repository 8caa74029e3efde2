/// Validates a host name byte by byte and produces its matching form: lower-cased, one trailing dot removed.
///
/// Shared by the ClientHello parser (bytes inside the received buffer) and `ServerName.init` /
/// `SNIRouteTable` (configuration strings), so SNI values and route patterns follow the same rules.
enum HostNameValidator {
    /// Why validation failed and at which index of the input.
    struct Failure: Error, Hashable {
        var violation: HostNameViolation
        var index: Int
    }

    static let maximumLength = 253
    static let maximumLabelLength = 63

    /// Returns the normalised name and whether one trailing dot was removed, or where the name is invalid.
    static func normalize(_ bytes: UnsafeRawBufferPointer) -> Result<ServerName, Failure> {
        var length = bytes.count
        guard length > 0 else {
            return .failure(Failure(violation: .empty, index: 0))
        }
        let hadTrailingDot = bytes[length - 1] == UInt8(ascii: ".")
        if hadTrailingDot {
            length -= 1
        }
        guard length <= self.maximumLength else {
            return .failure(Failure(violation: .tooLong(length: length), index: 0))
        }

        var labelStart = 0
        var labelIsNumeric = true
        for index in 0...length {
            // `index == length` closes the last label as if a dot followed it.
            let byte = index < length ? bytes[index] : UInt8(ascii: ".")
            switch byte {
            case UInt8(ascii: "."):
                let labelLength = index - labelStart
                guard labelLength > 0 else {
                    return .failure(Failure(violation: .emptyLabel, index: index))
                }
                guard labelLength <= self.maximumLabelLength else {
                    return .failure(Failure(violation: .labelTooLong(length: labelLength), index: labelStart))
                }
                guard bytes[index - 1] != UInt8(ascii: "-") else {
                    return .failure(Failure(violation: .hyphenAtLabelEdge, index: index - 1))
                }
                if index < length {
                    labelStart = index + 1
                    labelIsNumeric = true
                }
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                break
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"):
                labelIsNumeric = false
            case UInt8(ascii: "-"):
                guard index != labelStart else {
                    return .failure(Failure(violation: .hyphenAtLabelEdge, index: index))
                }
                labelIsNumeric = false
            case UInt8(ascii: ":"):
                return .failure(Failure(violation: .ipLiteral, index: 0))
            default:
                return .failure(Failure(violation: .invalidByte(byte), index: index))
            }
        }
        // A top-level label is never all digits (RFC 3696 §2); such a name is an IPv4 literal
        // (dotted quad, or the single-number forms inet_aton accepts).
        guard !labelIsNumeric else {
            return .failure(Failure(violation: .ipLiteral, index: 0))
        }

        let lowercased = String(unsafeUninitializedCapacity: length) { output in
            for index in 0..<length {
                let byte = bytes[index]
                let isUpper = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")
                output[index] = isUpper ? byte | 0x20 : byte
            }
            return length
        }
        return .success(ServerName(normalizedHostName: lowercased, hadTrailingDot: hadTrailingDot))
    }
}

/// A numeric HL7 v2 version (`2.3`, `2.3.1`, `2.5.1`, …) as declared in the first component of MSH-12.
///
/// Used only to choose the form of generated messages (MSH-9 layout, ERR layout).
struct HL7Version: Comparable, Sendable {
    var major: Int
    var minor: Int
    var patch: Int

    static let v2_3_1 = HL7Version(major: 2, minor: 3, patch: 1)
    static let v2_5 = HL7Version(major: 2, minor: 5, patch: 0)

    init(major: Int, minor: Int, patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `D[.D[.D]]` (each part 1–3 digits); anything else yields `nil`.
    init?<Bytes: Sequence<UInt8>>(ascii bytes: Bytes) {
        var parts = (0, 0, 0)
        var partIndex = 0
        var digitsInPart = 0
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard digitsInPart < 3 else { return nil }
                let digit = Int(byte - UInt8(ascii: "0"))
                switch partIndex {
                case 0: parts.0 = parts.0 * 10 + digit
                case 1: parts.1 = parts.1 * 10 + digit
                default: parts.2 = parts.2 * 10 + digit
                }
                digitsInPart += 1
            case UInt8(ascii: "."):
                guard digitsInPart > 0, partIndex < 2 else { return nil }
                partIndex += 1
                digitsInPart = 0
            default:
                return nil
            }
        }
        guard digitsInPart > 0 else { return nil }
        self.init(major: parts.0, minor: parts.1, patch: parts.2)
    }

    static func < (lhs: HL7Version, rhs: HL7Version) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }
}

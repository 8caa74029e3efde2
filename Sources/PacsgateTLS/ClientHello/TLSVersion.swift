/// A TLS protocol version number as it appears on the wire (`legacy_version`, `supported_versions`).
public struct TLSVersion: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The two version bytes, big-endian (`0x0304` is TLS 1.3).
    public let rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    public static let ssl3_0 = TLSVersion(rawValue: 0x0300)
    public static let tls1_0 = TLSVersion(rawValue: 0x0301)
    public static let tls1_1 = TLSVersion(rawValue: 0x0302)
    public static let tls1_2 = TLSVersion(rawValue: 0x0303)
    public static let tls1_3 = TLSVersion(rawValue: 0x0304)

    /// Whether this is one of the reserved GREASE values (RFC 8701: `0x0A0A`, `0x1A1A`, … `0xFAFA`) clients
    /// insert to keep servers tolerant. They name no real version.
    public var isGREASE: Bool {
        (self.rawValue & 0x0F0F) == 0x0A0A && (self.rawValue >> 8) == (self.rawValue & 0xFF)
    }

    /// `SSL3.0`, `TLS1.0` … `TLS1.3`, `GREASE`, or `0x` and four hex digits for anything else.
    public var description: String {
        switch self {
        case .ssl3_0: return "SSL3.0"
        case .tls1_0: return "TLS1.0"
        case .tls1_1: return "TLS1.1"
        case .tls1_2: return "TLS1.2"
        case .tls1_3: return "TLS1.3"
        default:
            if self.isGREASE {
                return "GREASE"
            }
            return "0x" + hex(UInt8(truncatingIfNeeded: self.rawValue >> 8))
                + hex(UInt8(truncatingIfNeeded: self.rawValue))
        }
    }
}

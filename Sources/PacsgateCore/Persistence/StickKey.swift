public import NIOCore

/// A persistence key: a client IP address or a protocol value such as a DICOM calling AE title.
///
/// Fixed-size (two words and a tag) so stick-table lookups hash and compare without allocating.
public struct StickKey: Hashable, Sendable, CustomStringConvertible {
    /// What the key stands for.
    public enum Kind: UInt8, Sendable {
        case ipv4 = 4
        case ipv6 = 6
        /// Up to 16 bytes of text (DICOM AE titles are at most 16).
        case text = 16
    }

    public let kind: Kind
    let high: UInt64
    let low: UInt64
    /// Bytes used by `.text` keys.
    let length: UInt8

    init(kind: Kind, high: UInt64, low: UInt64, length: UInt8) {
        self.kind = kind
        self.high = high
        self.low = low
        self.length = length
    }

    /// The key of a client address (the port is ignored); `nil` for Unix sockets.
    public init?(clientAddress: SocketAddress) {
        switch clientAddress {
        case .v4(let address):
            self.init(kind: .ipv4, high: 0, low: UInt64(UInt32(bigEndian: address.address.sin_addr.s_addr)), length: 4)
        case .v6(let address):
            var high: UInt64 = 0
            var low: UInt64 = 0
            withUnsafeBytes(of: address.address.sin6_addr) { bytes in
                for index in 0..<8 { high = high << 8 | UInt64(bytes[index]) }
                for index in 8..<16 { low = low << 8 | UInt64(bytes[index]) }
            }
            self.init(kind: .ipv6, high: high, low: low, length: 16)
        case .unixDomainSocket:
            return nil
        }
    }

    /// A text key of at most 16 UTF-8 bytes (longer text is refused).
    public init?(text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count <= 16 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 8 { high |= UInt64(byte) << (56 - 8 * UInt64(index)) } else {
                low |= UInt64(byte) << (56 - 8 * UInt64(index - 8))
            }
        }
        self.init(kind: .text, high: high, low: low, length: UInt8(bytes.count))
    }

    /// The IP address or text, for logs, the overview and replication.
    public var description: String {
        switch self.kind {
        case .ipv4:
            let value = UInt32(truncatingIfNeeded: self.low)
            return "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
        case .ipv6:
            var groups: [String] = []
            for word in [self.high, self.low] {
                for shift in stride(from: 48, through: 0, by: -16) {
                    groups.append(String(UInt16(truncatingIfNeeded: word >> UInt64(shift)), radix: 16))
                }
            }
            return groups.joined(separator: ":")
        case .text:
            var bytes: [UInt8] = []
            for index in 0..<Int(self.length) {
                let word = index < 8 ? self.high : self.low
                let shift = 56 - 8 * UInt64(index % 8)
                bytes.append(UInt8(truncatingIfNeeded: word >> shift))
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// The raw words, for the replication wire format.
    public var words: (high: UInt64, low: UInt64, length: UInt8) { (self.high, self.low, self.length) }

    /// Rebuilds a key from ``words`` (replication).
    public init(kind: Kind, words: (high: UInt64, low: UInt64, length: UInt8)) {
        self.init(kind: kind, high: words.high, low: words.low, length: min(words.length, 16))
    }

    /// A 64-bit mix of the key, for source hashing.
    public var hashValue64: UInt64 {
        var value = self.high &* 0x9E37_79B9_7F4A_7C15 ^ self.low &+ UInt64(self.kind.rawValue)
        value ^= value >> 33
        value &*= 0xff51_afd7_ed55_8ccd
        value ^= value >> 33
        value &*= 0xc4ce_b9fe_1a85_ec53
        value ^= value >> 33
        return value
    }
}

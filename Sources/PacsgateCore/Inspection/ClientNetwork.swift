public import NIOCore

/// A client network from the configuration: `10.1.2.0/24`, `192.168.110.17` (one host), `fd00::/8`, `::1`.
///
/// IPv4 clients reaching an IPv6 listener appear as IPv4-mapped addresses (`::ffff:10.1.2.3`); they match IPv4
/// networks as their IPv4 address.
public struct ClientNetwork: Sendable, Hashable, CustomStringConvertible {
    /// The network as written.
    public let text: String
    private let isIPv6: Bool
    private let high: UInt64
    private let low: UInt64
    private let prefixLength: Int

    /// Parses `ADDRESS[/PREFIX]`; a bare address is a single host.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        var address = String(parts[0])
        if address.hasPrefix("["), address.hasSuffix("]") { address = String(address.dropFirst().dropLast()) }
        guard let socketAddress = try? SocketAddress(ipAddress: address, port: 0),
            let key = StickKey(clientAddress: socketAddress)
        else { return nil }
        let isIPv6 = key.kind == .ipv6
        let maximum = isIPv6 ? 128 : 32
        var prefixLength = maximum
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maximum).contains(value), parts[1].allSatisfy(\.isASCII) else {
                return nil
            }
            prefixLength = value
        }
        self.text = text
        self.isIPv6 = isIPv6
        self.prefixLength = prefixLength
        let words = key.words
        (self.high, self.low) = Self.masked(
            high: words.high,
            low: words.low,
            isIPv6: isIPv6,
            prefixLength: prefixLength
        )
    }

    /// Whether the client address lies in this network (the port is ignored).
    public func contains(_ client: SocketAddress) -> Bool {
        guard let key = StickKey(clientAddress: client) else { return false }
        var (high, low) = (key.words.high, key.words.low)
        var clientIsIPv6 = key.kind == .ipv6
        if clientIsIPv6, !self.isIPv6, high == 0, low >> 32 == 0xffff {
            // IPv4-mapped IPv6 (::ffff:a.b.c.d): compare as IPv4.
            clientIsIPv6 = false
            (high, low) = (0, low & 0xffff_ffff)
        }
        guard clientIsIPv6 == self.isIPv6 else { return false }
        let masked = Self.masked(high: high, low: low, isIPv6: clientIsIPv6, prefixLength: self.prefixLength)
        return masked.high == self.high && masked.low == self.low
    }

    /// The network as written.
    public var description: String { self.text }

    /// The lowest and highest address of the network as 16-byte IPv6 addresses in network byte order, IPv4 as
    /// IPv4-mapped (`::ffff:a.b.c.d`): the form ``addressKey(_:)`` gives an address, so that "in this network" is a
    /// range of byte strings (the audit search index compares them).
    public var addressRange: (lower: [UInt8], upper: [UInt8]) {
        if self.isIPv6 {
            let hostBits = 128 - self.prefixLength
            let lowHost: UInt64 = hostBits >= 64 ? .max : (hostBits == 0 ? 0 : (UInt64(1) << UInt64(hostBits)) - 1)
            let highHost: UInt64 = hostBits <= 64 ? 0 : (hostBits >= 128 ? .max : (UInt64(1) << UInt64(hostBits - 64)) - 1)
            return (Self.bytes(self.high, self.low), Self.bytes(self.high | highHost, self.low | lowHost))
        }
        let hostBits = 32 - self.prefixLength
        let host: UInt64 = hostBits == 0 ? 0 : (UInt64(1) << UInt64(hostBits)) - 1
        return (Self.bytes(0, 0xffff_0000_0000 | self.low), Self.bytes(0, 0xffff_0000_0000 | self.low | host))
    }

    /// The 16-byte form of an address (see ``addressRange``): `a.b.c.d`, an IPv6 address, either with a port
    /// (`a.b.c.d:port`, `[v6]:port`); `nil` for anything else.
    public static func addressKey(_ text: some StringProtocol) -> [UInt8]? {
        Self.addressKey(String(text))
    }

    /// The same for a `String` (what the index reads from a record), not generic, so that the
    /// dotted-quad reader runs over the string's own bytes from any module.
    public static func addressKey(_ text: String) -> [UInt8]? {
        var text = text
        if let ipv4 = text.withUTF8({ Self.dottedQuad($0) }) {
            return Self.bytes(0, 0xffff_0000_0000 | UInt64(ipv4))
        }
        var host = Substring(text)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.firstIndex(of: ":"), host[host.index(after: colon)...].firstIndex(of: ":") == nil {
            // One colon: IPv4 with a port. More than one: a bare IPv6 address.
            host = host[..<colon]
        }
        guard let address = try? SocketAddress(ipAddress: String(host), port: 0), let key = StickKey(clientAddress: address) else {
            return nil
        }
        let words = key.words
        return key.kind == .ipv6 ? Self.bytes(words.high, words.low) : Self.bytes(0, 0xffff_0000_0000 | words.low)
    }

    /// `a.b.c.d` or `a.b.c.d:port` read straight from its bytes, the usual form of an audit record's `client` and
    /// server address (the search index keys two per record; the general path below walks `Character`s and asks
    /// `inet_pton`). `nil` for anything else, including what only the general path decides (leading zeros, IPv6),
    /// so it answers exactly as that path would.
    private static func dottedQuad(_ utf8: UnsafeBufferPointer<UInt8>) -> UInt32? {
        var address: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var dots = 0
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if digits == 1, octet == 0 { return nil }  // a leading zero
                octet = octet * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                if octet > 255 { return nil }
            case UInt8(ascii: "."):
                if digits == 0 || dots == 3 { return nil }
                address = address << 8 | octet
                octet = 0
                digits = 0
                dots += 1
            case UInt8(ascii: ":"):
                // A port follows (not read, as on the general path) unless another colon makes this IPv6.
                if utf8[utf8.index(after: index)...].contains(UInt8(ascii: ":")) { return nil }
                index = utf8.endIndex
                continue
            default:
                return nil
            }
            index = utf8.index(after: index)
        }
        guard dots == 3, digits > 0 else { return nil }
        return address << 8 | octet
    }

    private static func bytes(_ high: UInt64, _ low: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: high >> UInt64(56 - 8 * index))
            bytes[8 + index] = UInt8(truncatingIfNeeded: low >> UInt64(56 - 8 * index))
        }
        return bytes
    }

    /// Keeps the first `prefixLength` bits of the address (IPv4 lives in the low 32 bits of `low`).
    private static func masked(
        high: UInt64,
        low: UInt64,
        isIPv6: Bool,
        prefixLength: Int
    ) -> (high: UInt64, low: UInt64) {
        func mask(_ bits: Int, width: Int) -> UInt64 {
            if bits <= 0 { return 0 }
            if bits >= width { return width == 64 ? .max : (UInt64(1) << UInt64(width)) - 1 }
            return ((UInt64(1) << UInt64(bits)) - 1) << UInt64(width - bits)
        }
        if isIPv6 {
            return (high & mask(prefixLength, width: 64), low & mask(prefixLength - 64, width: 64))
        }
        return (0, low & mask(prefixLength, width: 32))
    }
}

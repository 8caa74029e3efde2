#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The text forms of addresses in a PROXY v1 line: IPv4 as exactly four decimal numbers 0–255 without leading zeros
/// (the specification forbids them: they could be read as octal), IPv6 as colon-separated hex groups with at most one
/// `::`, exactly 128 bits. IPv6 text is read and written by the C library's `inet_pton`/`inet_ntop` (RFC 4291/5952
/// forms; no system call), as HAProxy does — so an IPv4-mapped address in its `::ffff:a.b.c.d` form, which HAProxy
/// writes, is read too. IPv4 is read by hand so the leading-zero rule is checked in one visible place.
enum ProxyAddressText {
    /// The 4 bytes of a strict dotted-quad IPv4 address, or `nil`.
    static func parseIPv4(_ text: Substring.UTF8View) -> [UInt8]? {
        var bytes: [UInt8] = []
        var value = 0
        var digits = 0
        var leadingZero = false
        for byte in text {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if leadingZero { return nil }
                if digits == 0, byte == UInt8(ascii: "0") { leadingZero = true }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
                guard value <= 255 else { return nil }
            case UInt8(ascii: "."):
                guard digits > 0, bytes.count < 3 else { return nil }
                bytes.append(UInt8(value))
                value = 0
                digits = 0
                leadingZero = false
            default:
                return nil
            }
        }
        guard digits > 0, bytes.count == 3 else { return nil }
        bytes.append(UInt8(value))
        return bytes
    }

    /// The 16 bytes of an IPv6 address, or `nil`.
    static func parseIPv6(_ text: Substring) -> [UInt8]? {
        guard !text.isEmpty, text.utf8.count <= 45,
            text.utf8.allSatisfy({ $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") || ProxyAddressText.isHexDigit($0) })
        else { return nil }
        var address = in6_addr()
        let parsed = String(text).withCString { inet_pton(AF_INET6, $0, &address) }
        guard parsed == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    /// The canonical text of 4 or 16 address bytes.
    static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map { String($0) }.joined(separator: ".") }
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { raw in
            for index in 0..<min(16, bytes.count) { raw[index] = bytes[index] }
        }
        // INET6_ADDRSTRLEN is 46 including the terminating zero.
        var text = [CChar](repeating: 0, count: 46)
        guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { return "?" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
}

public import NIOCore

/// Reads a PROXY protocol header (v1 or v2) from the first bytes of a connection.
///
/// Pure and stateless over the bytes received so far: an engine keeps the bytes, calls ``parse(_:)`` after each read
/// and acts on the answer — keep reading (``Result/needMore``), strip ``Result/header(_:length:)``'s `length` bytes
/// and go on with the connection, or refuse it (``Result/invalid(_:)``). Bytes that can no longer become a valid
/// header are refused as soon as they arrive (a wrong signature on the first byte, a stray character in a v1 line, a
/// v2 length over the maximum before its body arrives), so a hostile sender is answered at once; a slow one is the
/// engine's timer's job. Only the header is read: the bytes after it belong to the connection.
public struct ProxyHeaderParser: Sendable {
    /// The answer for the bytes so far.
    public enum Result: Sendable, Equatable {
        /// A valid prefix of a header; wait for more bytes.
        case needMore
        /// A complete header, `length` bytes long.
        case header(ProxyHeader, length: Int)
        /// Not a header, or a malformed one: refuse the connection.
        case invalid(ProxyHeaderError)
    }

    /// The v2 signature (`\r\n\r\n\0\r\nQUIT\n`).
    public static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// `PROXY ` — v1's prefix.
    public static let v1Prefix: [UInt8] = Array("PROXY ".utf8)
    /// The longest v1 line, CRLF included.
    public static let v1MaximumLength = 107
    /// The default largest v2 header accepted: 16 + a UNIX address block (216) + TLVs (an authority of 255, an ALPN,
    /// an SSL TLV with a common name, a 128-byte unique ID) with room to spare.
    public static let defaultMaximumSize = 1024

    /// Largest header accepted (v2: 16 + its length field). At least ``v1MaximumLength``.
    public let maximumSize: Int

    public init(maximumSize: Int = ProxyHeaderParser.defaultMaximumSize) {
        self.maximumSize = max(Self.v1MaximumLength, min(maximumSize, 16 + Int(UInt16.max)))
    }

    /// Reads the readable bytes of `buffer` (without consuming them).
    public func parse(_ buffer: ByteBuffer) -> Result {
        self.parse(buffer.readableBytesView)
    }

    /// Reads `bytes`, the first bytes of a connection.
    public func parse<Bytes: RandomAccessCollection>(_ bytes: Bytes) -> Result
    where Bytes.Element == UInt8, Bytes.Index == Int {
        guard let first = bytes.first else { return .needMore }
        if first == Self.v2Signature[0] { return self.parseV2(bytes) }
        if first == Self.v1Prefix[0] { return Self.parseV1(bytes) }
        return .invalid(.signature(Self.hexPrefix(bytes)))
    }

    // MARK: version 1

    private static func parseV1<Bytes: RandomAccessCollection>(_ bytes: Bytes) -> Result
    where Bytes.Element == UInt8, Bytes.Index == Int {
        let prefixLength = min(bytes.count, Self.v1Prefix.count)
        guard bytes.prefix(prefixLength).elementsEqual(Self.v1Prefix.prefix(prefixLength)) else {
            return .invalid(.signature(Self.hexPrefix(bytes)))
        }
        // Find CRLF; refuse anything but printable ASCII before it, and a lone CR or LF.
        var end: Int?
        for (offset, byte) in bytes.prefix(Self.v1MaximumLength).enumerated() {
            if byte == 0x0D {
                // CR as the 107th byte leaves no room for the LF.
                guard offset + 2 <= Self.v1MaximumLength else { return .invalid(.v1TooLong) }
                guard offset + 1 < bytes.count else { return .needMore }
                guard bytes[bytes.startIndex + offset + 1] == 0x0A else { return .invalid(.v1Syntax("CR without LF")) }
                end = offset
                break
            }
            if byte == 0x0A { return .invalid(.v1Syntax("LF without CR")) }
            guard (0x20...0x7E).contains(byte) else {
                return .invalid(.v1Syntax("byte 0x\(ProxyBytes.hex(byte)) at offset \(offset)"))
            }
        }
        guard let end else { return bytes.count >= Self.v1MaximumLength ? .invalid(.v1TooLong) : .needMore }
        let line = String(decoding: bytes.prefix(end), as: UTF8.self)
        switch Self.decodeV1Line(Substring(line)) {
        case .success(let addresses):
            return .header(ProxyHeader(version: .v1, command: .proxy, addresses: addresses), length: end + 2)
        case .failure(let error):
            return .invalid(error)
        }
    }

    /// `PROXY TCP4|TCP6 src dst sport dport` or `PROXY UNKNOWN…` (without CRLF).
    private static func decodeV1Line(_ line: Substring) -> Swift.Result<ProxyHeader.Addresses, ProxyHeaderError> {
        let fields = line.split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count >= 2 else { return .failure(.v1Syntax("no protocol after PROXY")) }
        // UNKNOWN: the receiver must ignore the rest of the line.
        if fields[1] == "UNKNOWN" { return .success(.unspecified) }
        let ipv4: Bool
        switch fields[1] {
        case "TCP4": ipv4 = true
        case "TCP6": ipv4 = false
        default: return .failure(.v1Syntax("protocol must be TCP4, TCP6 or UNKNOWN"))
        }
        guard fields.count == 6 else {
            return .failure(.v1Syntax("expected 6 fields separated by single spaces, found \(fields.count)"))
        }
        func address(_ text: Substring) -> [UInt8]? {
            ipv4 ? ProxyAddressText.parseIPv4(text.utf8) : ProxyAddressText.parseIPv6(text)
        }
        guard let source = address(fields[2]) else { return .failure(.v1Syntax("bad \(fields[1]) source address")) }
        guard let destination = address(fields[3]) else {
            return .failure(.v1Syntax("bad \(fields[1]) destination address"))
        }
        guard let sourcePort = Self.port(fields[4]) else { return .failure(.v1Syntax("bad source port")) }
        guard let destinationPort = Self.port(fields[5]) else { return .failure(.v1Syntax("bad destination port")) }
        return .success(
            .tcp(
                source: ProxyAddress(unchecked: source, port: sourcePort),
                destination: ProxyAddress(unchecked: destination, port: destinationPort)))
    }

    /// A decimal port 0–65535 without leading zeros.
    private static func port(_ text: Substring) -> UInt16? {
        guard !text.isEmpty, text.count <= 5, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            text == "0" || text.first != "0", let value = UInt16(text)
        else { return nil }
        return value
    }

    // MARK: version 2

    private func parseV2<Bytes: RandomAccessCollection>(_ bytes: Bytes) -> Result
    where Bytes.Element == UInt8, Bytes.Index == Int {
        let signatureLength = min(bytes.count, Self.v2Signature.count)
        guard bytes.prefix(signatureLength).elementsEqual(Self.v2Signature.prefix(signatureLength)) else {
            return .invalid(.signature(Self.hexPrefix(bytes)))
        }
        let start = bytes.startIndex
        if bytes.count > 12 {
            let versionCommand = bytes[start + 12]
            guard versionCommand >> 4 == 2 else { return .invalid(.v2Version(versionCommand >> 4)) }
            guard versionCommand & 0x0F <= 1 else { return .invalid(.v2Command(versionCommand & 0x0F)) }
        }
        guard bytes.count >= 16 else { return .needMore }
        let command = ProxyHeader.Command(rawValue: bytes[start + 12] & 0x0F) ?? .local
        let family = bytes[start + 13]
        let length = Int(ProxyBytes.uint16(bytes, at: 14))
        let total = 16 + length
        guard total <= self.maximumSize else { return .invalid(.tooLarge(total, maximum: self.maximumSize)) }
        // LOCAL: the family and address block are ignored, whatever they say.
        var addressLength = 0
        if command == .proxy {
            switch family {
            case 0x00: addressLength = 0
            case 0x11: addressLength = 12
            case 0x21: addressLength = 36
            case 0x31: addressLength = 216
            default: return .invalid(.v2Family(family))
            }
            guard length >= addressLength else { return .invalid(.v2Length(family: family, length: length)) }
        }
        guard bytes.count >= total else { return .needMore }

        let header = Array(bytes.prefix(total))
        guard command == .proxy else {
            return .header(ProxyHeader(version: .v2, command: .local, addresses: .unspecified), length: total)
        }
        let addresses: ProxyHeader.Addresses
        switch family {
        case 0x11, 0x21:
            let size = family == 0x11 ? 4 : 16
            addresses = .tcp(
                source: ProxyAddress(
                    unchecked: Array(header[16..<(16 + size)]), port: ProxyBytes.uint16(header, at: 16 + 2 * size)),
                destination: ProxyAddress(
                    unchecked: Array(header[(16 + size)..<(16 + 2 * size)]),
                    port: ProxyBytes.uint16(header, at: 18 + 2 * size)))
        case 0x31:
            func path(_ range: Range<Int>) -> [UInt8] { Array(header[range].prefix { $0 != 0 }) }
            addresses = .unix(source: path(16..<124), destination: path(124..<232))
        default:
            addresses = .unspecified
        }
        switch Self.decodeTLVs(header, from: 16 + addressLength) {
        case .success(let tlvs):
            return .header(ProxyHeader(version: .v2, command: .proxy, addresses: addresses, tlvs: tlvs), length: total)
        case .failure(let error):
            return .invalid(error)
        }
    }

    /// The TLVs from `offset` to the end of `header`, each known one validated, the CRC32C checked when present.
    private static func decodeTLVs(_ header: [UInt8], from offset: Int) -> Swift.Result<[ProxyTLV], ProxyHeaderError> {
        var tlvs: [ProxyTLV] = []
        var offset = offset
        while offset < header.count {
            let type = header[offset]
            guard header.count - offset >= 3 else { return .failure(.badTLV(type: type, "truncated TLV header")) }
            let length = Int(ProxyBytes.uint16(header, at: offset + 1))
            guard header.count - offset - 3 >= length else {
                return .failure(.badTLV(type: type, "value of \(length) bytes runs past the header"))
            }
            let value = Array(header[(offset + 3)..<(offset + 3 + length)])
            switch ProxyTLV.Kind(rawValue: type) {
            case .authority, .netns:
                guard String(validating: value, as: UTF8.self) != nil else {
                    return .failure(.badTLV(type: type, "not UTF-8"))
                }
            case .uniqueID:
                guard length <= 128 else { return .failure(.badTLV(type: type, "unique ID longer than 128 bytes")) }
            case .crc32c:
                guard length == 4 else { return .failure(.badTLV(type: type, "checksum of \(length) bytes, not 4")) }
                var zeroed = header
                for index in (offset + 3)..<(offset + 7) { zeroed[index] = 0 }
                guard CRC32C.checksum(zeroed) == ProxyBytes.uint32(value, at: 0) else { return .failure(.checksum) }
            case .ssl:
                do {
                    _ = try ProxySSLInfo.decode(value)
                } catch {
                    return .failure(error)
                }
            case .alpn, .noop, nil:
                break
            }
            tlvs.append(ProxyTLV(type: type, value: value))
            offset += 3 + length
        }
        return .success(tlvs)
    }

    /// Up to the first 16 bytes in hex, for the log.
    private static func hexPrefix<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        bytes.prefix(16).map { ProxyBytes.hex($0) }.joined(separator: " ")
    }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) as RFC 4960 appendix B defines it, for the v2 checksum TLV.
/// Table-driven by hand: a dozen lines, and no library the gateway depends on exposes CRC-32C.
enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = (crc >> 8) ^ Self.table[Int((crc ^ UInt32(byte)) & 0xFF)] }
        return crc ^ 0xFFFF_FFFF
    }
}

/// A PROXY protocol header (HAProxy's `doc/proxy-protocol.txt`, version 1 text or version 2 binary): the original
/// connection's addresses as a proxy in front of the gateway saw them, or as the gateway tells a server behind it.
///
/// Read by ``ProxyHeaderParser``, written by ``ProxyHeaderEncoder``; both are pure functions over bytes, shared by
/// every forwarding engine.
public struct ProxyHeader: Sendable, Equatable {
    /// The format the header was read in.
    public enum Version: Sendable, Equatable {
        case v1
        case v2
    }

    /// Version 2's command (version 1 has only `proxy`).
    public enum Command: UInt8, Sendable, Equatable {
        /// The proxy opened the connection itself (a health check): use the connection's own endpoints.
        case local = 0
        /// The connection is relayed: the addresses are the original client's and the address it connected to.
        case proxy = 1
    }

    /// The addresses the header carries.
    public enum Addresses: Sendable, Equatable {
        /// None usable: version 1 `UNKNOWN`, version 2 `AF_UNSPEC` (or a `LOCAL` header, whose block is ignored).
        case unspecified
        /// TCP over IPv4 or IPv6.
        case tcp(source: ProxyAddress, destination: ProxyAddress)
        /// `AF_UNIX` stream sockets: the two 108-byte path fields, trailing zero bytes removed.
        case unix(source: [UInt8], destination: [UInt8])
    }

    public var version: Version
    public var command: Command
    public var addresses: Addresses
    /// Version 2's TLVs in wire order (version 1 has none). The ones this gateway understands were validated.
    public var tlvs: [ProxyTLV]

    public init(version: Version, command: Command, addresses: Addresses, tlvs: [ProxyTLV] = []) {
        self.version = version
        self.command = command
        self.addresses = addresses
        self.tlvs = tlvs
    }

    /// The original client's address and port: what the gateway should use as *the* client address (persistence,
    /// allow-lists, limits, audit). `nil` when the header says to use the connection's own endpoints (`LOCAL`,
    /// `UNKNOWN`, `AF_UNSPEC`, `AF_UNIX`).
    public var clientAddress: ProxyAddress? {
        guard self.command == .proxy, case .tcp(let source, _) = self.addresses else { return nil }
        return source
    }

    /// The address the original client connected to (the upstream proxy's VIP), under the same conditions.
    public var destinationAddress: ProxyAddress? {
        guard self.command == .proxy, case .tcp(_, let destination) = self.addresses else { return nil }
        return destination
    }

    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for (the TLS SNI), when present.
    public var authority: String? {
        self.first(.authority).map { String(decoding: $0, as: UTF8.self) }
    }

    /// `PP2_TYPE_ALPN`: the application protocol, when present.
    public var alpn: [UInt8]? { self.first(.alpn) }

    /// `PP2_TYPE_UNIQUE_ID`, when present.
    public var uniqueID: [UInt8]? { self.first(.uniqueID) }

    /// `PP2_TYPE_SSL`, when present.
    public var ssl: ProxySSLInfo? {
        self.first(.ssl).flatMap { try? ProxySSLInfo.decode($0) }
    }

    private func first(_ type: ProxyTLV.Kind) -> [UInt8]? {
        self.tlvs.first { $0.type == type.rawValue }?.value
    }
}

/// An IPv4 or IPv6 address and a port, as a PROXY header carries them (network byte order).
public struct ProxyAddress: Sendable, Hashable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 bytes (IPv6).
    public let bytes: [UInt8]
    public let port: UInt16

    /// `nil` unless `bytes` has 4 or 16 bytes.
    public init?(bytes: [UInt8], port: UInt16) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
        self.port = port
    }

    public var isIPv4: Bool { self.bytes.count == 4 }

    /// The address as IPv6: an IPv4 address as `::ffff:a.b.c.d` (for a header whose two addresses differ in family).
    public var mappedToIPv6: ProxyAddress {
        guard self.isIPv4 else { return self }
        return ProxyAddress(unchecked: Array(repeating: 0, count: 10) + [0xff, 0xff] + self.bytes, port: self.port)
    }

    init(unchecked bytes: [UInt8], port: UInt16) {
        self.bytes = bytes
        self.port = port
    }

    /// The address alone in its canonical text form (`192.0.2.1`, `2001:db8::1`).
    public var host: String { ProxyAddressText.format(self.bytes) }

    /// `192.0.2.1:4000`, `[2001:db8::1]:4000`.
    public var description: String {
        self.isIPv4 ? "\(self.host):\(self.port)" : "[\(self.host)]:\(self.port)"
    }
}

/// One version 2 TLV (type, value).
public struct ProxyTLV: Sendable, Equatable {
    /// The registered types (`PP2_TYPE_*`).
    public enum Kind: UInt8, Sendable {
        case alpn = 0x01
        case authority = 0x02
        case crc32c = 0x03
        case noop = 0x04
        case uniqueID = 0x05
        case ssl = 0x20
        case netns = 0x30
    }

    public var type: UInt8
    public var value: [UInt8]

    public init(type: UInt8, value: [UInt8]) {
        self.type = type
        self.value = value
    }

    /// `PP2_TYPE_AUTHORITY`: the SNI of the client's connection.
    public static func authority(_ name: String) -> ProxyTLV { ProxyTLV(type: Kind.authority.rawValue, value: Array(name.utf8)) }
    /// `PP2_TYPE_ALPN`: the negotiated application protocol (`h2`, `http/1.1`).
    public static func alpn(_ protocolName: [UInt8]) -> ProxyTLV { ProxyTLV(type: Kind.alpn.rawValue, value: protocolName) }
    /// `PP2_TYPE_SSL` with its sub-TLVs.
    public static func ssl(_ info: ProxySSLInfo) -> ProxyTLV { ProxyTLV(type: Kind.ssl.rawValue, value: info.encoded()) }
}

/// The value of a `PP2_TYPE_SSL` TLV: how the client's connection to the proxy was secured.
public struct ProxySSLInfo: Sendable, Equatable {
    /// `PP2_CLIENT_SSL`: the client connected over TLS.
    public static let clientSSL: UInt8 = 0x01
    /// `PP2_CLIENT_CERT_CONN`: the client presented a certificate on this connection.
    public static let clientCertificateConnection: UInt8 = 0x02
    /// `PP2_CLIENT_CERT_SESS`: the client presented a certificate at least once in this TLS session.
    public static let clientCertificateSession: UInt8 = 0x04

    /// The `client` bit field.
    public var client: UInt8
    /// 0 when the client's certificate was presented and verified, non-zero otherwise.
    public var verify: UInt32
    /// `PP2_SUBTYPE_SSL_VERSION` (`TLSv1.3`).
    public var version: String?
    /// `PP2_SUBTYPE_SSL_CN`: the common name of the client certificate's subject.
    public var commonName: String?
    /// `PP2_SUBTYPE_SSL_CIPHER` (`TLS_AES_256_GCM_SHA384`).
    public var cipher: String?
    /// `PP2_SUBTYPE_SSL_SIG_ALG`.
    public var signatureAlgorithm: String?
    /// `PP2_SUBTYPE_SSL_KEY_ALG`.
    public var keyAlgorithm: String?

    public init(
        client: UInt8, verify: UInt32, version: String? = nil, commonName: String? = nil, cipher: String? = nil,
        signatureAlgorithm: String? = nil, keyAlgorithm: String? = nil
    ) {
        self.client = client
        self.verify = verify
        self.version = version
        self.commonName = commonName
        self.cipher = cipher
        self.signatureAlgorithm = signatureAlgorithm
        self.keyAlgorithm = keyAlgorithm
    }

    /// The string sub-TLVs (`PP2_SUBTYPE_SSL_*`) and the fields they fill.
    private static var subtypes: [(UInt8, WritableKeyPath<ProxySSLInfo, String?>)] {
        [(0x21, \.version), (0x22, \.commonName), (0x23, \.cipher), (0x24, \.signatureAlgorithm), (0x25, \.keyAlgorithm)]
    }

    /// The TLV value: client (1), verify (4, big-endian), then the sub-TLVs that are set.
    func encoded() -> [UInt8] {
        var bytes: [UInt8] = [self.client]
        ProxyBytes.appendUInt32(self.verify, to: &bytes)
        for (type, path) in Self.subtypes {
            if let text = self[keyPath: path] { ProxyBytes.appendTLV(type, Array(text.utf8), to: &bytes) }
        }
        return bytes
    }

    /// Reads a TLV value; unknown sub-TLVs are skipped, a truncated one or text that is not UTF-8 is an error.
    static func decode(_ value: [UInt8]) throws(ProxyHeaderError) -> ProxySSLInfo {
        guard value.count >= 5 else { throw .badTLV(type: ProxyTLV.Kind.ssl.rawValue, "shorter than its 5 fixed bytes") }
        var info = ProxySSLInfo(client: value[0], verify: ProxyBytes.uint32(value, at: 1))
        var offset = 5
        while offset < value.count {
            guard value.count - offset >= 3 else { throw .badTLV(type: ProxyTLV.Kind.ssl.rawValue, "a sub-TLV is truncated") }
            let type = value[offset]
            let length = Int(ProxyBytes.uint16(value, at: offset + 1))
            guard value.count - offset - 3 >= length else {
                throw .badTLV(type: ProxyTLV.Kind.ssl.rawValue, "sub-TLV 0x\(ProxyBytes.hex(type)) is longer than the TLV")
            }
            let body = Array(value[(offset + 3)..<(offset + 3 + length)])
            if let path = Self.subtypes.first(where: { $0.0 == type })?.1 {
                guard let text = String(validating: body, as: UTF8.self) else {
                    throw .badTLV(type: ProxyTLV.Kind.ssl.rawValue, "sub-TLV 0x\(ProxyBytes.hex(type)) is not UTF-8")
                }
                info[keyPath: path] = text
            }
            offset += 3 + length
        }
        return info
    }
}

/// What is wrong with a PROXY header; the text is for the log line and the audit record.
public enum ProxyHeaderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Neither the version 2 signature nor `PROXY ` (the bytes that arrived instead, up to 16, in hex).
    case signature(String)
    /// Version 1: no CRLF within the first 107 bytes.
    case v1TooLong
    /// Version 1: the line does not match the grammar (what is wrong).
    case v1Syntax(String)
    /// Version 2: the version nibble is not 2.
    case v2Version(UInt8)
    /// Version 2: a command other than LOCAL (0) or PROXY (1).
    case v2Command(UInt8)
    /// Version 2: an address family or transport the specification does not define, or a datagram transport.
    case v2Family(UInt8)
    /// Version 2: the length is too small for the address block of the family.
    case v2Length(family: UInt8, length: Int)
    /// The header announces more bytes than the configured maximum.
    case tooLarge(Int, maximum: Int)
    /// A TLV runs past the header, or a known TLV's value is malformed.
    case badTLV(type: UInt8, String)
    /// The CRC32C TLV does not match the header.
    case checksum

    public var description: String {
        switch self {
        case .signature(let bytes): return "not a PROXY protocol header (starts \(bytes))"
        case .v1TooLong: return "PROXY v1 line without CRLF in its first 107 bytes"
        case .v1Syntax(let what): return "malformed PROXY v1 line: \(what)"
        case .v2Version(let version): return "PROXY v2 header with version \(version)"
        case .v2Command(let command): return "PROXY v2 header with unknown command \(command)"
        case .v2Family(let family): return "PROXY v2 header with unsupported family/transport 0x\(ProxyBytes.hex(family))"
        case .v2Length(let family, let length):
            return "PROXY v2 header length \(length) too short for family/transport 0x\(ProxyBytes.hex(family))"
        case .tooLarge(let size, let maximum): return "PROXY header of \(size) bytes exceeds the maximum of \(maximum)"
        case .badTLV(let type, let what): return "PROXY v2 TLV 0x\(ProxyBytes.hex(type)): \(what)"
        case .checksum: return "PROXY v2 header fails its CRC32C checksum"
        }
    }
}

/// Big-endian helpers shared by the parser and the encoder.
enum ProxyBytes {
    static func uint16<Bytes: RandomAccessCollection>(_ bytes: Bytes, at offset: Int) -> UInt16
    where Bytes.Element == UInt8, Bytes.Index == Int {
        let base = bytes.startIndex + offset
        return UInt16(bytes[base]) << 8 | UInt16(bytes[base + 1])
    }

    static func uint32<Bytes: RandomAccessCollection>(_ bytes: Bytes, at offset: Int) -> UInt32
    where Bytes.Element == UInt8, Bytes.Index == Int {
        UInt32(Self.uint16(bytes, at: offset)) << 16 | UInt32(Self.uint16(bytes, at: offset + 2))
    }

    static func appendUInt16(_ value: UInt16, to bytes: inout [UInt8]) {
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(value & 0xff))
    }

    static func appendUInt32(_ value: UInt32, to bytes: inout [UInt8]) {
        Self.appendUInt16(UInt16(value >> 16), to: &bytes)
        Self.appendUInt16(UInt16(value & 0xffff), to: &bytes)
    }

    static func appendTLV(_ type: UInt8, _ value: [UInt8], to bytes: inout [UInt8]) {
        bytes.append(type)
        Self.appendUInt16(UInt16(value.count), to: &bytes)
        bytes.append(contentsOf: value)
    }

    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xf)]])
    }
}

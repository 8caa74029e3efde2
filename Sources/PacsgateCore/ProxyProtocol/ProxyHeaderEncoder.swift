/// Writes PROXY protocol headers for the server leg (`send_proxy: v1 | v2`), as HAProxy's `send-proxy` and
/// `send-proxy-v2` do. Pure: the engine writes the bytes before anything else on the new server connection.
public enum ProxyHeaderEncoder {
    /// A v1 line for a relayed TCP connection: `PROXY TCP4 …` when both addresses are IPv4, `PROXY TCP6 …` otherwise
    /// (an IPv4 address next to an IPv6 one is written as `::ffff:a.b.c.d`); `PROXY UNKNOWN` when either is `nil`.
    ///
    /// Health checks should send a line with the check connection's own endpoints (the specification advises against
    /// `UNKNOWN` for connections that are meant to be accepted).
    public static func v1(source: ProxyAddress?, destination: ProxyAddress?) -> [UInt8] {
        guard var source, var destination else { return Array("PROXY UNKNOWN\r\n".utf8) }
        let ipv4 = source.isIPv4 && destination.isIPv4
        if !ipv4 {
            source = source.mappedToIPv6
            destination = destination.mappedToIPv6
        }
        let line = "PROXY \(ipv4 ? "TCP4" : "TCP6") \(source.host) \(destination.host) \(source.port) \(destination.port)\r\n"
        return Array(line.utf8)
    }

    /// A v2 `PROXY` header for a relayed TCP connection with `tlvs` (``ProxyTLV/authority(_:)`` for the SNI,
    /// ``ProxyTLV/alpn(_:)``, ``ProxyTLV/ssl(_:)`` for a terminated connection), and a CRC32C TLV last when
    /// `checksum` is set. Mixed families are written as IPv6 (`::ffff:a.b.c.d`).
    ///
    /// Throws ``ProxyHeaderError/tooLarge(_:maximum:)`` when a TLV value exceeds 65535 bytes or the whole header
    /// exceeds what its 16-bit length can say.
    public static func v2(
        source: ProxyAddress, destination: ProxyAddress, tlvs: [ProxyTLV] = [], checksum: Bool = false
    ) throws(ProxyHeaderError) -> [UInt8] {
        var source = source
        var destination = destination
        if !(source.isIPv4 && destination.isIPv4) {
            source = source.mappedToIPv6
            destination = destination.mappedToIPv6
        }
        var block = source.bytes + destination.bytes
        ProxyBytes.appendUInt16(source.port, to: &block)
        ProxyBytes.appendUInt16(destination.port, to: &block)
        return try Self.v2Proxy(family: source.isIPv4 ? 0x11 : 0x21, block: block, tlvs: tlvs, checksum: checksum)
    }

    /// The v2 `LOCAL` header a health check sends: no addresses, no TLVs (16 bytes).
    public static func v2Local() -> [UInt8] {
        ProxyHeaderParser.v2Signature + [0x20, 0x00, 0x00, 0x00]
    }

    private static func v2Proxy(
        family: UInt8, block: [UInt8], tlvs: [ProxyTLV], checksum: Bool
    ) throws(ProxyHeaderError) -> [UInt8] {
        var body = block
        for tlv in tlvs {
            guard tlv.value.count <= Int(UInt16.max) else { throw .tooLarge(tlv.value.count, maximum: Int(UInt16.max)) }
            ProxyBytes.appendTLV(tlv.type, tlv.value, to: &body)
        }
        if checksum { ProxyBytes.appendTLV(ProxyTLV.Kind.crc32c.rawValue, [0, 0, 0, 0], to: &body) }
        guard body.count <= Int(UInt16.max) else { throw .tooLarge(16 + body.count, maximum: 16 + Int(UInt16.max)) }
        var header = ProxyHeaderParser.v2Signature + [0x20 | ProxyHeader.Command.proxy.rawValue, family]
        ProxyBytes.appendUInt16(UInt16(body.count), to: &header)
        header += body
        if checksum {
            let crc = CRC32C.checksum(header)
            var crcBytes: [UInt8] = []
            ProxyBytes.appendUInt32(crc, to: &crcBytes)
            header.replaceSubrange((header.count - 4)..<header.count, with: crcBytes)
        }
        return header
    }
}

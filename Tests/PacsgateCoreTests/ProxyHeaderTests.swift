import NIOCore
import Testing

@testable import PacsgateCore

/// The PROXY protocol parser and encoder against the examples and rules of HAProxy's `doc/proxy-protocol.txt`, fed
/// whole and one byte at a time.
@Suite("PROXY protocol header")
struct ProxyHeaderTests {
    let parser = ProxyHeaderParser()

    func address(_ text: String, _ port: UInt16) throws -> ProxyAddress {
        let bytes = try #require(ProxyAddressText.parseIPv4(Substring(text).utf8) ?? ProxyAddressText.parseIPv6(Substring(text)))
        return try #require(ProxyAddress(bytes: bytes, port: port))
    }

    /// Every proper prefix of `bytes` is `needMore`; the whole is the result.
    func parseByteByByte(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> ProxyHeaderParser.Result {
        for count in 0..<bytes.count {
            let partial = self.parser.parse(bytes[0..<count])
            if partial != .needMore {
                Issue.record("prefix of \(count) bytes gave \(partial)", sourceLocation: sourceLocation)
                return partial
            }
        }
        return self.parser.parse(bytes)
    }

    func header(_ result: ProxyHeaderParser.Result, sourceLocation: SourceLocation = #_sourceLocation) throws -> (ProxyHeader, Int) {
        guard case .header(let header, let length) = result else {
            Issue.record("expected a header, got \(result)", sourceLocation: sourceLocation)
            throw ProxyHeaderError.checksum
        }
        return (header, length)
    }

    func invalid(_ text: String) -> ProxyHeaderError? {
        if case .invalid(let error) = self.parser.parse(Array(text.utf8)) { return error }
        return nil
    }

    // MARK: version 1

    @Test("the specification's v1 example before an HTTP request: the header ends at CRLF, the request is left")
    func v1SpecificationExample() throws {
        let line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
        let bytes = Array((line + "GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n").utf8)
        let (header, length) = try self.header(self.parseByteByByte(Array(line.utf8)))
        #expect(length == line.utf8.count)
        #expect(try self.header(self.parser.parse(bytes)).1 == line.utf8.count)
        #expect(header.version == .v1)
        #expect(header.clientAddress == (try self.address("192.168.0.1", 56324)))
        #expect(header.destinationAddress == (try self.address("192.168.0.11", 443)))
        #expect(header.clientAddress?.description == "192.168.0.1:56324")
    }

    @Test("v1 TCP6 at its longest (104 bytes) and UNKNOWN short and worst case (15 and 107 bytes)")
    func v1Limits() throws {
        let full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        let tcp6 = "PROXY TCP6 \(full) \(full) 65535 65535\r\n"
        #expect(tcp6.utf8.count == 104)
        let (header, length) = try self.header(self.parseByteByByte(Array(tcp6.utf8)))
        #expect(length == 104)
        #expect(header.clientAddress == ProxyAddress(bytes: Array(repeating: 0xff, count: 16), port: 65535))
        #expect(header.clientAddress?.description == "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")

        let short = try self.header(self.parseByteByByte(Array("PROXY UNKNOWN\r\n".utf8)))
        #expect(short.1 == 15)
        #expect(short.0.addresses == .unspecified)
        #expect(short.0.clientAddress == nil, "UNKNOWN: use the connection's own addresses")
        let worst = "PROXY UNKNOWN \(full) \(full) 65535 65535\r\n"
        #expect(worst.utf8.count == 107)
        #expect(try self.header(self.parseByteByByte(Array(worst.utf8))).1 == 107)

        let compressed = try self.header(self.parser.parse(Array("PROXY TCP6 2001:db8::1 ::1 40000 104\r\n".utf8))).0
        #expect(compressed.clientAddress?.description == "[2001:db8::1]:40000")
        #expect(compressed.destinationAddress?.description == "[::1]:104")
        // An IPv4-mapped address as HAProxy writes it (inet_ntop's form).
        let mapped = try self.header(self.parser.parse(Array("PROXY TCP6 ::ffff:192.168.0.1 ::1 40000 104\r\n".utf8))).0
        #expect(mapped.clientAddress?.bytes == Array(repeating: 0, count: 10) + [0xff, 0xff, 192, 168, 0, 1])
    }

    @Test("v1 lines that do not exactly match the grammar are refused")
    func v1Hostile() {
        #expect(self.invalid("PROXY TCP4 192.168.0.01 192.168.0.11 56324 443\r\n") == .v1Syntax("bad TCP4 source address"))
        #expect(self.invalid("PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n") == .v1Syntax("bad source port"))
        #expect(self.invalid("PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n") == .v1Syntax("bad source port"))
        #expect(self.invalid("PROXY TCP4 192.168.0.1 256.168.0.11 1 443\r\n") == .v1Syntax("bad TCP4 destination address"))
        #expect(self.invalid("PROXY TCP4 192.168.0.1  192.168.0.11 1 443\r\n") == .v1Syntax("expected 6 fields separated by single spaces, found 7"))
        #expect(self.invalid("PROXY TCP4 2001:db8::1 ::1 1 443\r\n") == .v1Syntax("bad TCP4 source address"))
        #expect(self.invalid("PROXY TCP6 192.168.0.1 ::1 1 443\r\n") == .v1Syntax("bad TCP6 source address"))
        #expect(self.invalid("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 443\r\n") == .v1Syntax("bad TCP6 source address"))
        #expect(self.invalid("PROXY TCP6 ::1 ::1%eth0 1 443\r\n") == .v1Syntax("bad TCP6 destination address"))
        #expect(self.invalid("PROXY UDP4 192.168.0.1 192.168.0.11 1 443\r\n") == .v1Syntax("protocol must be TCP4, TCP6 or UNKNOWN"))
        #expect(self.invalid("PROXY TCP4 192.168.0.1 192.168.0.11 1 443\n") == .v1Syntax("LF without CR"))
        #expect(self.invalid("PROXY TCP4 192.168.0.1 192.168.0.11 1 443\rX") == .v1Syntax("CR without LF"))
        #expect(self.invalid("PROXY TCP4 1.2.3.4\t") == .v1Syntax("byte 0x09 at offset 18"))
        #expect(self.invalid("PROXY\r\n") == .signature("50 52 4f 58 59 0d 0a"))
        #expect(self.invalid("proxy TCP4") == .signature("70 72 6f 78 79 20 54 43 50 34"))
        // No CRLF in the first 107 bytes; a CR as the 107th byte leaves no room for its LF.
        #expect(self.invalid("PROXY UNKNOWN " + String(repeating: "f", count: 93)) == .v1TooLong)
        #expect(self.invalid("PROXY UNKNOWN " + String(repeating: "f", count: 92) + "\r\n") == .v1TooLong)
        // A wrong byte is refused when it arrives, not when the line is complete.
        #expect(self.invalid("PROXX") == .signature("50 52 4f 58 58"))
        #expect(self.invalid("GET / HTTP/1.1") == .signature("47 45 54 20 2f 20 48 54 54 50 2f 31 2e 31"))
    }

    // MARK: version 2

    @Test("v2 LOCAL (the health check's header) is 16 bytes and says: use the connection's own addresses")
    func v2Local() throws {
        let local = ProxyHeaderEncoder.v2Local()
        #expect(local == [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x20, 0x00, 0x00, 0x00])
        let (header, length) = try self.header(self.parseByteByByte(local))
        #expect(length == 16)
        #expect(header.command == .local)
        #expect(header.clientAddress == nil)
        // LOCAL with an address block (the receiver must skip it, whatever the family says).
        let padded = ProxyHeaderParser.v2Signature + [0x20, 0x7F, 0x00, 0x03, 1, 2, 3]
        #expect(try self.header(self.parser.parse(padded + [9])).1 == 19)
    }

    @Test("v2 TCP/IPv4 with SNI, ALPN, SSL and CRC32C TLVs round-trips through the encoder and the parser")
    func v2RoundTrip() throws {
        let ssl = ProxySSLInfo(
            client: ProxySSLInfo.clientSSL | ProxySSLInfo.clientCertificateConnection, verify: 0, version: "TLSv1.3",
            commonName: "CT01.radiology.example", cipher: "TLS_AES_256_GCM_SHA384")
        let bytes = try ProxyHeaderEncoder.v2(
            source: self.address("10.1.2.3", 40000), destination: self.address("192.168.110.100", 443),
            tlvs: [.authority("pacs.example.org"), .alpn(Array("http/1.1".utf8)), .ssl(ssl)], checksum: true)
        #expect(Array(bytes[12..<14]) == [0x21, 0x11])
        #expect(Array(bytes[16..<28]) == [10, 1, 2, 3, 192, 168, 110, 100, 0x9C, 0x40, 0x01, 0xBB])
        let (header, length) = try self.header(self.parseByteByByte(bytes))
        #expect(length == bytes.count)
        #expect(header.version == .v2)
        #expect(header.command == .proxy)
        #expect(header.clientAddress?.description == "10.1.2.3:40000")
        #expect(header.destinationAddress?.description == "192.168.110.100:443")
        #expect(header.authority == "pacs.example.org")
        #expect(header.alpn == Array("http/1.1".utf8))
        #expect(header.ssl == ssl)
        #expect(header.tlvs.map(\.type) == [0x02, 0x01, 0x20, 0x03])

        // One bit changed anywhere in the header fails the checksum.
        var corrupted = bytes
        corrupted[20] ^= 0x01
        #expect(self.parser.parse(corrupted) == .invalid(.checksum))
    }

    @Test("v2 TCP/IPv6, and an IPv4 client of an IPv6 address written as ::ffff:a.b.c.d")
    func v2IPv6() throws {
        let bytes = try ProxyHeaderEncoder.v2(source: self.address("2001:db8::7", 1), destination: self.address("::1", 11112))
        #expect(bytes[13] == 0x21)
        #expect(bytes.count == 16 + 36)
        let header = try self.header(self.parser.parse(bytes)).0
        #expect(header.clientAddress?.description == "[2001:db8::7]:1")
        let mixed = try ProxyHeaderEncoder.v2(source: self.address("10.0.0.1", 2), destination: self.address("::1", 3))
        #expect(try self.header(self.parser.parse(mixed)).0.clientAddress?.description == "[::ffff:10.0.0.1]:2")
        let line = ProxyHeaderEncoder.v1(source: try self.address("10.0.0.1", 2), destination: try self.address("::1", 3))
        #expect(String(decoding: line, as: UTF8.self) == "PROXY TCP6 ::ffff:10.0.0.1 ::1 2 3\r\n")
    }

    @Test("v1 encoder: TCP4, and UNKNOWN without addresses; each parses back")
    func v1Encoder() throws {
        let line = ProxyHeaderEncoder.v1(source: try self.address("192.168.0.1", 56324), destination: try self.address("192.168.0.11", 443))
        #expect(String(decoding: line, as: UTF8.self) == "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n")
        #expect(try self.header(self.parser.parse(line)).0.clientAddress?.description == "192.168.0.1:56324")
        #expect(ProxyHeaderEncoder.v1(source: nil, destination: nil) == Array("PROXY UNKNOWN\r\n".utf8))
    }

    @Test("hostile v2 headers: wrong signature, version, command, family, lengths, TLVs, size")
    func v2Hostile() throws {
        let good = try ProxyHeaderEncoder.v2(source: self.address("10.1.2.3", 1), destination: self.address("10.1.2.4", 2))
        func with(_ index: Int, _ value: UInt8) -> [UInt8] {
            var bytes = good
            bytes[index] = value
            return bytes
        }
        #expect(self.parser.parse(with(4, 0x01)) == .invalid(.signature("0d 0a 0d 0a 01 0d 0a 51 55 49 54 0a 21 11 00 0c")))
        #expect(self.parser.parse(with(12, 0x11)) == .invalid(.v2Version(1)))
        #expect(self.parser.parse(with(12, 0x22)) == .invalid(.v2Command(2)))
        #expect(self.parser.parse(with(13, 0x12)) == .invalid(.v2Family(0x12)), "UDP over a stream connection")
        #expect(self.parser.parse(with(13, 0x41)) == .invalid(.v2Family(0x41)))
        #expect(self.parser.parse(with(15, 11)) == .invalid(.v2Length(family: 0x11, length: 11)))
        // The length announces more than the maximum: refused from the 16 bytes alone.
        #expect(self.parser.parse(Array(with(14, 0x04)[0..<16])) == .invalid(.tooLarge(16 + 1024 + 12, maximum: 1024)))
        // Truncated: a valid prefix waits; it is the engine's timer that ends it.
        #expect(self.parser.parse(good[0..<27]) == .needMore)
        // A TLV running past the header, a truncated TLV header, a unique ID over 128 bytes, an SNI that is not UTF-8.
        let base = Array(good[0..<28])
        func header(tlvBytes: [UInt8]) -> [UInt8] {
            var bytes = base + tlvBytes
            bytes[14] = UInt8((12 + tlvBytes.count) >> 8)
            bytes[15] = UInt8((12 + tlvBytes.count) & 0xff)
            return bytes
        }
        #expect(self.parser.parse(header(tlvBytes: [0x02, 0x00, 0x05, 0x61])) == .invalid(.badTLV(type: 2, "value of 5 bytes runs past the header")))
        #expect(self.parser.parse(header(tlvBytes: [0x02, 0x00])) == .invalid(.badTLV(type: 2, "truncated TLV header")))
        #expect(self.parser.parse(header(tlvBytes: [0x05, 0x00, 129] + Array(repeating: 1, count: 129))) == .invalid(.badTLV(type: 5, "unique ID longer than 128 bytes")))
        #expect(self.parser.parse(header(tlvBytes: [0x02, 0x00, 0x02, 0xC3, 0x28])) == .invalid(.badTLV(type: 2, "not UTF-8")))
        #expect(self.parser.parse(header(tlvBytes: [0x20, 0x00, 0x02, 0x01, 0x00])) == .invalid(.badTLV(type: 0x20, "shorter than its 5 fixed bytes")))
        #expect(self.parser.parse(header(tlvBytes: [0x03, 0x00, 0x02, 0x00, 0x00])) == .invalid(.badTLV(type: 3, "checksum of 2 bytes, not 4")))
        // Unknown TLV types (the custom range) are kept, not refused.
        let custom = try self.header(self.parser.parse(header(tlvBytes: [0xE0, 0x00, 0x01, 0x2A]))).0
        #expect(custom.tlvs == [ProxyTLV(type: 0xE0, value: [0x2A])])
    }

    @Test("AF_UNIX and AF_UNSPEC PROXY headers carry no client address")
    func v2UnixAndUnspec() throws {
        var unix = ProxyHeaderParser.v2Signature + [0x21, 0x31, 0x00, 216]
        unix += Array("/run/a.sock".utf8) + Array(repeating: 0, count: 108 - 11)
        unix += Array("/run/b.sock".utf8) + Array(repeating: 0, count: 108 - 11)
        let header = try self.header(self.parser.parse(unix)).0
        #expect(header.addresses == .unix(source: Array("/run/a.sock".utf8), destination: Array("/run/b.sock".utf8)))
        #expect(header.clientAddress == nil)
        let unspec = ProxyHeaderParser.v2Signature + [0x21, 0x00, 0x00, 0x00]
        #expect(try self.header(self.parser.parse(unspec)).0.addresses == .unspecified)
    }

    @Test("CRC-32C of the RFC 3720 check value and a SocketAddress round trip")
    func helpers() throws {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        let v4 = try SocketAddress(ipAddress: "127.0.0.9", port: 40001)
        #expect(ProxyAddress(v4)?.description == "127.0.0.9:40001")
        #expect(ProxyAddress(v4)?.socketAddress == v4)
        let v6 = try SocketAddress(ipAddress: "2001:db8::1", port: 104)
        #expect(ProxyAddress(v6)?.description == "[2001:db8::1]:104")
        #expect(ProxyAddress(v6)?.socketAddress == v6)
        #expect(ProxyHeaderParser(maximumSize: 10).maximumSize == ProxyHeaderParser.v1MaximumLength)
    }
}

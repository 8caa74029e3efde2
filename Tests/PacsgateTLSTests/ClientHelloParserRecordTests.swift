import NIOCore
import PacsgateTLS
import Testing

/// Errors of the record and handshake-header layers: what is decided before the ClientHello body is read.
@Suite("ClientHelloParser record layer")
struct ClientHelloParserRecordTests {
    let parser = ClientHelloParser()

    @Test("nothing received yet needs more bytes")
    func empty() throws {
        #expect(try self.parser.parse(ByteBuffer()) == nil)
    }

    @Test("plaintext HTTP is not a handshake record, from its first byte, and gets no alert")
    func plaintextHTTP() {
        let request = Array("GET / HTTP/1.1\r\nHost: a.mach7.test\r\n\r\n".utf8)
        let expected = TLSParseError(.notHandshakeRecord(contentType: UInt8(ascii: "G")), at: 0)
        expectParseError(request, expected)
        #expect(self.parser.parseOneByteAtATime(request)?.after == 1)
        #expect(expected.alert == nil)
        #expect(PlaintextHTTPDetector.looksLikeHTTPRequest(ByteBuffer(bytes: request)))
    }

    @Test("garbage and other protocols are not handshake records")
    func garbage() {
        // A DICOM A-ASSOCIATE-RQ starts with 0x01, an MLLP frame with 0x0B.
        expectParseError(
            [0x01, 0x00, 0x00, 0x00, 0x00, 0xCD],
            TLSParseError(.notHandshakeRecord(contentType: 1), at: 0)
        )
        expectParseError([0x0B, 0x4D, 0x53, 0x48], TLSParseError(.notHandshakeRecord(contentType: 0x0B), at: 0))
        expectParseError([0x00], TLSParseError(.notHandshakeRecord(contentType: 0), at: 0))
        // An application-data record where the hello should be.
        expectParseError([0x17, 0x03, 0x03, 0x00, 0x10], TLSParseError(.notHandshakeRecord(contentType: 23), at: 0))
    }

    @Test("an SSLv2-compatible ClientHello (high bit of the first byte set) is refused")
    func sslv2() {
        // msg_length 0x2e, MSG-CLIENT-HELLO, version 3.1, cipher_spec length 0x15 …
        let hello: [UInt8] = [0x80, 0x2E, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10]
        let expected = TLSParseError(.sslv2Hello, at: 0)
        expectParseError(hello, expected)
        #expect(expected.alert == nil)
    }

    @Test("a record version that is not 3.x is refused once both bytes are in")
    func recordVersion() throws {
        expectParseError([0x16, 0x47, 0x45, 0x54], TLSParseError(.unsupportedRecordVersion(0x4745), at: 1))
        expectParseError([0x16, 0x02, 0x00, 0x00, 0x10], TLSParseError(.unsupportedRecordVersion(0x0200), at: 1))
        #expect(try self.parser.parse([0x16, 0x47]) == nil)
    }

    @Test("a zero-length handshake record is refused, first or later")
    func emptyFragment() throws {
        expectParseError([0x16, 0x03, 0x01, 0x00, 0x00], TLSParseError(.emptyHandshakeFragment, at: 3))

        let bytes = try Fixture.opensslTwoRecords.bytes()
        // An empty record between the two fragments (the first record is 5 + 100 bytes).
        let withEmpty = Array(bytes[0..<105]) + [0x16, 0x03, 0x01, 0x00, 0x00] + Array(bytes[105...])
        expectParseError(withEmpty, TLSParseError(.emptyHandshakeFragment, at: 108))
    }

    @Test("record length: 2^14 + 256 is accepted as a length, one more is refused")
    func recordLengthBound() throws {
        let parser = ClientHelloParser(maximumBytes: 20_000)
        let longest = (1 << 14) + 256
        let header = [0x16, 0x03, 0x01] + be16(UInt16(longest)) + [0x01] + be24(longest - 4)
        #expect(try parser.parse(header) == nil)

        let tooLong = [0x16, 0x03, 0x01] + be16(UInt16(longest + 1))
        expectParseError(tooLong, TLSParseError(.recordTooLong(length: longest + 1), at: 3), parser: parser)
        #expect(TLSParseError(.recordTooLong(length: longest + 1), at: 3).alert == .recordOverflow)
    }

    @Test("a later record of another content type is refused (no interleaving inside the hello)")
    func laterRecordNotHandshake() throws {
        var bytes = try Fixture.opensslTwoRecords.bytes()
        bytes[105] = 0x17
        let expected = TLSParseError(.notHandshakeRecord(contentType: 23), at: 105)
        expectParseError(bytes, expected)
        #expect(expected.alert == .unexpectedMessage)

        bytes[105] = 0x80  // the SSLv2 check applies to the first byte of the stream only
        expectParseError(bytes, TLSParseError(.notHandshakeRecord(contentType: 0x80), at: 105))
    }

    @Test("a handshake message other than ClientHello is refused at its type byte")
    func notClientHello() throws {
        var builder = HelloBuilder()
        builder.handshakeType = 2  // ServerHello
        let expected = TLSParseError(.notClientHello(handshakeType: 2), at: 5)
        expectParseError(builder.bytes, expected)
        #expect(expected.alert == .unexpectedMessage)

        // The same when the type byte is alone in its record.
        let message = handshakeMessage(try Fixture.opensslSNIALPN.bytes())
        var split = tlsRecords(message, splitAt: [1])
        split[5] = 0x0B  // Certificate
        expectParseError(split, TLSParseError(.notClientHello(handshakeType: 0x0B), at: 5))
    }

    @Test("a handshake length that cannot fit the 16 KiB bound is refused from its header alone")
    func handshakeLengthOverBound() throws {
        // A 256-byte first record (more records would follow) announcing a message of 4 + 16376 bytes:
        // 5 (record header) + 4 + 16376 = 16385 > 16384, known from the first 9 bytes.
        let header = [0x16, 0x03, 0x01, 0x01, 0x00, 0x01] + be24(16376)
        let expected = TLSParseError(.clientHelloTooLarge(limit: 16384), at: 6)
        expectParseError(header, expected)
        #expect(expected.alert == .handshakeFailure)

        // 16375 fits exactly and waits for more.
        #expect(try self.parser.parse([0x16, 0x03, 0x01, 0x01, 0x00, 0x01] + be24(16375)) == nil)
    }

    @Test("a > 16 KiB ClientHello in two records is refused")
    func oversizeAcrossRecords() {
        // A padding extension makes the body 16,5xx bytes; each record stays under 2^14.
        let builder = HelloBuilder(extensions: tlsExtension(21, [UInt8](repeating: 0, count: 16_500)))
        let message = builder.message
        let bytes = tlsRecords(message, splitAt: [10_000])
        // The handshake length field (offset 6) already says 4 + body > 16384 - 5.
        expectParseError(bytes, TLSParseError(.clientHelloTooLarge(limit: 16384), at: 6))
    }

    @Test("the handshake length is checked against the bound of a smaller parser")
    func handshakeLengthOverCustomBound() throws {
        // Record 1 ends at 105 (within 200); the message needs 4 + 331 bytes.
        expectParseError(
            try Fixture.opensslTwoRecords.bytes(),
            TLSParseError(.clientHelloTooLarge(limit: 200), at: 6),
            parser: ClientHelloParser(maximumBytes: 200)
        )
    }

    @Test("record headers count towards the bound: a hello in one-byte records overruns it")
    func recordHeadersCount() throws {
        // A 351-byte message in 351 one-byte records: 2106 bytes of records.
        let message = HelloBuilder(extensions: tlsExtension(21, [UInt8](repeating: 0, count: 300))).message
        #expect(message.count == 351)
        let bytes = tlsRecords(message, splitAt: Array(1..<message.count))
        // Each record takes 6 bytes: record k ends at 6k + 6, first above 1000 for k = 166, whose length
        // field is at 6 * 166 + 3.
        expectParseError(
            bytes,
            TLSParseError(.clientHelloTooLarge(limit: 1000), at: 999),
            parser: ClientHelloParser(maximumBytes: 1000)
        )
        // With the default bound the same stream parses.
        #expect(try self.parser.parse(bytes)?.recordCount == message.count)
    }

    @Test("handshake bytes after the ClientHello in its last record are refused")
    func dataAfterClientHello() throws {
        let bytes = try Fixture.opensslSNIALPN.bytes()
        // Grow the record by one byte: a 0x00 after the hello.
        var extended = bytes + [0x00]
        extended[3...4] = ArraySlice(be16(UInt16(bytes.count - 5 + 1)))
        expectParseError(extended, TLSParseError(.dataAfterClientHello, at: bytes.count))

        // Same in a later record of the two-record form: its length says one byte more than needed.
        var two = try Fixture.opensslTwoRecords.bytes()
        let secondLength = Int(two[108]) << 8 | Int(two[109])
        two[108...109] = ArraySlice(be16(UInt16(secondLength + 1)))
        two.append(0x16)
        expectParseError(two, TLSParseError(.dataAfterClientHello, at: two.count - 1))
    }
}

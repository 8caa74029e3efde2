import NIOCore
import PacsgateTLS
import Testing

/// Errors inside the ClientHello body, at every nesting level. Offsets follow `HelloBuilder`'s layout.
@Suite("ClientHelloParser body")
struct ClientHelloParserBodyTests {
    let parser = ClientHelloParser()

    @Test("a minimal hello parses; without an extensions block it has no extensions")
    func minimal() throws {
        let withBlock = try #require(try self.parser.parse(HelloBuilder().bytes))
        #expect(withBlock.extensionTypes.isEmpty)
        #expect(withBlock.cipherSuiteCount == 1)
        #expect(withBlock.byteCount == 52)

        let withoutBlock = try #require(try self.parser.parse(HelloBuilder(extensions: nil).bytes))
        #expect(withoutBlock.extensionTypes.isEmpty)
        #expect(withoutBlock.serverName == nil)
        #expect(withoutBlock.versionsDescription == "TLS1.2")
        #expect(withoutBlock.byteCount == 50)
    }

    @Test("legacy_version must be 3.x")
    func legacyVersion() {
        var builder = HelloBuilder()
        builder.legacyVersion = 0x0200
        let expected = TLSParseError(.unsupportedVersion(0x0200), at: 9)
        expectParseError(builder.bytes, expected)
        #expect(expected.alert == .protocolVersion)
    }

    @Test("fixed fields that do not fit the handshake length")
    func truncatedFixedFields() {
        // Handshake length 1: legacy_version needs 2.
        expectParseError(
            tlsRecords([0x01, 0x00, 0x00, 0x01, 0x03]),
            TLSParseError(.lengthOverrun(.legacyVersion), at: 9)
        )
        // Handshake length 0: legacy_version would start just past the message.
        expectParseError(tlsRecords([0x01, 0x00, 0x00, 0x00]), TLSParseError(.lengthOverrun(.legacyVersion), at: 9))
        // The same with a ChangeCipherSpec record after the hello: the offset still points just past the hello.
        expectParseError(
            tlsRecords([0x01, 0x00, 0x00, 0x00]) + [0x14, 0x03, 0x03, 0x00, 0x01, 0x01],
            TLSParseError(.lengthOverrun(.legacyVersion), at: 9)
        )
        expectParseError(
            tlsRecords([0x01, 0x00, 0x00, 0x01, 0x03], splitAt: [2]) + [0x14, 0x03, 0x03, 0x00, 0x01, 0x01],
            TLSParseError(.lengthOverrun(.legacyVersion), at: 14)
        )
        // Handshake length 20: the random needs 32 bytes from offset 11.
        let message = [0x01] + be24(20) + [0x03, 0x03] + [UInt8](repeating: 0, count: 18)
        expectParseError(tlsRecords(message), TLSParseError(.lengthOverrun(.random), at: 11))
        // Body ends right after the random.
        let noSessionID = [0x01] + be24(34) + [0x03, 0x03] + [UInt8](repeating: 0, count: 32)
        expectParseError(tlsRecords(noSessionID), TLSParseError(.lengthOverrun(.sessionID), at: 43))
    }

    @Test("session_id: at most 32 bytes, and within the hello")
    func sessionID() throws {
        var builder = HelloBuilder()
        builder.sessionID = [UInt8](repeating: 7, count: 33)
        let expected = TLSParseError(.invalidLength(.sessionID, length: 33), at: 43)
        expectParseError(builder.bytes, expected)
        #expect(expected.alert == .decodeError)

        builder.sessionID = [UInt8](repeating: 7, count: 32)
        #expect(try self.parser.parse(builder.bytes) != nil)

        // A session_id length of 32 with only 10 bytes of body left.
        let message =
            [0x01] + be24(2 + 32 + 1 + 10) + [0x03, 0x03] + [UInt8](repeating: 0, count: 32) + [32]
            + [UInt8](repeating: 0, count: 10)
        expectParseError(tlsRecords(message), TLSParseError(.lengthOverrun(.sessionID), at: 43))
    }

    @Test("cipher_suites: even, at least one suite, within the hello")
    func cipherSuites() {
        var builder = HelloBuilder()
        builder.cipherSuites = [0x13, 0x01, 0x13]
        expectParseError(builder.bytes, TLSParseError(.invalidLength(.cipherSuites, length: 3), at: 44))
        builder.cipherSuites = []
        expectParseError(builder.bytes, TLSParseError(.invalidLength(.cipherSuites, length: 0), at: 44))

        // The cipher_suites length claims 0x100 bytes; the message ends long before.
        var bytes = HelloBuilder().bytes
        bytes[44...45] = [0x01, 0x00]
        expectParseError(bytes, TLSParseError(.lengthOverrun(.cipherSuites), at: 44))
    }

    @Test("compression_methods: at least one, within the hello")
    func compressionMethods() {
        var builder = HelloBuilder()
        builder.compressionMethods = []
        expectParseError(builder.bytes, TLSParseError(.invalidLength(.compressionMethods, length: 0), at: 48))

        var bytes = HelloBuilder(extensions: nil).bytes
        bytes[48] = 2  // two methods announced, one present at the end of the message
        expectParseError(bytes, TLSParseError(.lengthOverrun(.compressionMethods), at: 48))
    }

    @Test("extensions block: a lone length byte, an overrun, trailing bytes after it")
    func extensionsBlock() {
        var builder = HelloBuilder(extensions: nil)
        builder.trailer = [0x00]
        expectParseError(builder.bytes, TLSParseError(.lengthOverrun(.extensions), at: 50))

        var bytes = HelloBuilder(extensions: tlsExtension(23, [])).bytes
        bytes[50...51] = [0xFF, 0xFF]
        expectParseError(bytes, TLSParseError(.lengthOverrun(.extensions), at: 50))

        builder = HelloBuilder(extensions: tlsExtension(23, []))
        builder.trailer = [0xEE, 0xEE]
        expectParseError(builder.bytes, TLSParseError(.trailingBytes(.clientHello), at: 56))
    }

    @Test("an extension header or its data that does not fit the extensions block")
    func extensionOverrun() {
        // One byte where an extension type should be.
        expectParseError(HelloBuilder(extensions: [0x00]).bytes, TLSParseError(.lengthOverrun(.extensions), at: 52))
        // A type and half a length.
        expectParseError(
            HelloBuilder(extensions: [0x00, 0x17, 0x00]).bytes,
            TLSParseError(.lengthOverrun(.extension(type: 23)), at: 54)
        )
        // Data length 10, two bytes present.
        expectParseError(
            HelloBuilder(extensions: [0x00, 0x0A, 0x00, 0x0A, 0x00, 0x1D]).bytes,
            TLSParseError(.lengthOverrun(.extension(type: 10)), at: 54)
        )
    }

    @Test(
        "a captured hello cut short by 10 bytes, in one record and in two",
        arguments: [
            (Fixture.opensslSNIALPN, [Int]()),
            (Fixture.opensslTwoRecords, [100]),
        ]
    )
    func capturedHelloCutShort(fixture: Fixture, split: [Int]) throws {
        let bytes = try fixture.bytes()
        // Stream offset of a message offset: past one record header, or two beyond the split at 100.
        func streamOffset(_ messageOffset: Int) -> Int {
            messageOffset + 5 + (split.isEmpty || messageOffset < 100 ? 0 : 5)
        }
        var message = Array(handshakeMessage(bytes).dropLast(10))
        message[1...3] = ArraySlice(be24(message.count - 4))

        // Only the handshake length fixed up: the extensions block (length at message offset 137: session id
        // 32, 31 suites, one compression method) now overruns the message.
        let extensionsLengthOffset = 4 + 2 + 32 + 1 + 32 + 2 + 62 + 1 + 1
        expectParseError(
            tlsRecords(message, splitAt: split),
            TLSParseError(.lengthOverrun(.extensions), at: streamOffset(extensionsLengthOffset))
        )

        // Extensions length fixed up too: the last extension, key_share with 38 bytes of data, overruns; its
        // length field is 40 bytes before the original end.
        let extensionsLength = Int(message[extensionsLengthOffset]) << 8 | Int(message[extensionsLengthOffset + 1])
        message[extensionsLengthOffset...(extensionsLengthOffset + 1)] = ArraySlice(be16(UInt16(extensionsLength - 10)))
        expectParseError(
            tlsRecords(message, splitAt: split),
            TLSParseError(.lengthOverrun(.extension(type: 51)), at: bytes.count - 40)
        )
    }

    @Test("an extension type may appear once", arguments: [UInt16(23), 0xFE0D])
    func duplicateExtension(type: UInt16) {
        let extensions = tlsExtension(type, []) + tlsExtension(11, [0x01, 0x00]) + tlsExtension(type, [])
        let expected = TLSParseError(.duplicateExtension(type: type), at: 52 + 4 + 6)
        expectParseError(HelloBuilder(extensions: extensions).bytes, expected)
        #expect(expected.alert == .decodeError)
    }

    @Test("duplicates are found among many extensions too (past the linear-scan limit)")
    func duplicateAmongMany() throws {
        let distinct = (0..<40).flatMap { tlsExtension(UInt16(1000 + $0), []) }
        let hello = try #require(try self.parser.parse(HelloBuilder(extensions: distinct).bytes))
        #expect(hello.extensionTypes == (0..<40).map { UInt16(1000 + $0) })

        let repeated = distinct + tlsExtension(1000 + 35, [])
        expectParseError(
            HelloBuilder(extensions: repeated).bytes,
            TLSParseError(.duplicateExtension(type: 1035), at: 52 + 40 * 4)
        )
    }

    @Test("ECH (0xfe0d) is reported; the visible SNI is then the public name")
    func encryptedClientHello() throws {
        let extensions = sniExtension("public.mach7.test") + tlsExtension(0xFE0D, [0x00, 0x01, 0x02])
        let hello = try #require(try self.parser.parse(HelloBuilder(extensions: extensions).bytes))
        #expect(hello.offersEncryptedClientHello)
        #expect(hello.serverName?.hostName == "public.mach7.test")
        #expect(hello.extensionTypes == [0, 0xFE0D])
    }

    @Test("GREASE and unknown versions in supported_versions; descriptions drop GREASE")
    func supportedVersionsDescription() throws {
        let extensions = supportedVersionsExtension([0x7A7A, 0x0304, 0x0303, 0x7F1C])
        let hello = try #require(try self.parser.parse(HelloBuilder(extensions: extensions).bytes))
        #expect(hello.supportedVersions.map(\.rawValue) == [0x7A7A, 0x0304, 0x0303, 0x7F1C])
        #expect(hello.versionsDescription == "TLS1.3,TLS1.2,0x7f1c")
    }
}

@Suite("ClientHelloParser server_name")
struct ClientHelloParserServerNameTests {
    let parser = ClientHelloParser()

    // Layout of a server_name extension first in the block: 52 type, 54 extension length,
    // 56 list length, 58 name type, 59 name length, 61 name.

    @Test("upper case and one trailing dot are normalised, the dot flagged")
    func normalised() throws {
        let hello = try #require(
            try self.parser.parse(HelloBuilder(extensions: sniExtension("PACS.Mach7.TEST.")).bytes)
        )
        #expect(hello.serverName?.hostName == "pacs.mach7.test")
        #expect(hello.serverName?.hadTrailingDot == true)
    }

    @Test(
        "bad host names are typed errors at the offending byte",
        arguments: [
            ("127.0.0.1", HostNameViolation.ipLiteral, 61),
            ("::1", .ipLiteral, 61),
            ("a\u{01}.test", .invalidByte(0x01), 62),
            ("pacs\u{0}.test", .invalidByte(0x00), 65),
            ("pacs .test", .invalidByte(0x20), 65),
            ("pacs..test", .emptyLabel, 66),
            ("pacs.test..", .emptyLabel, 71),
            (".", .emptyLabel, 61),
            ("-pacs.test", .hyphenAtLabelEdge, 61),
            ("pacs-.test", .hyphenAtLabelEdge, 65),
            ("*.mach7.test", .invalidByte(UInt8(ascii: "*")), 61),
            ("pacs.mach7.tést", .invalidByte(0xC3), 73),
        ]
    )
    func invalidHostName(name: String, violation: HostNameViolation, offset: Int) {
        let expected = TLSParseError(.invalidServerName(violation), at: offset)
        expectParseError(HelloBuilder(extensions: sniExtension(name)).bytes, expected)
        #expect(expected.alert == .unrecognizedName)
    }

    @Test("empty, too long, and over-long label")
    func lengths() throws {
        expectParseError(
            HelloBuilder(extensions: sniExtension("")).bytes,
            TLSParseError(.invalidServerName(.empty), at: 61)
        )
        let label63 = String(repeating: "a", count: 63)
        let name254 = [label63, label63, label63, String(repeating: "b", count: 62)].joined(separator: ".")
        #expect(name254.utf8.count == 254)
        expectParseError(
            HelloBuilder(extensions: sniExtension(name254)).bytes,
            TLSParseError(.invalidServerName(.tooLong(length: 254)), at: 61)
        )
        let name253 = String(name254.dropLast())
        #expect(
            try self.parser.parse(HelloBuilder(extensions: sniExtension(name253 + ".")).bytes)?.serverName?.hostName
                == name253
        )

        let longLabel = "pacs." + String(repeating: "x", count: 64) + ".test"
        expectParseError(
            HelloBuilder(extensions: sniExtension(longLabel)).bytes,
            TLSParseError(.invalidServerName(.labelTooLong(length: 64)), at: 66)
        )
    }

    @Test("server_name structure: list length, name type, name length, entries, trailing bytes")
    func structure() {
        // Empty list.
        expectParseError(
            HelloBuilder(extensions: tlsExtension(0, [0x00, 0x00])).bytes,
            TLSParseError(.invalidLength(.serverNameList, length: 0), at: 56)
        )
        // List length beyond the extension data.
        expectParseError(
            HelloBuilder(extensions: tlsExtension(0, [0x00, 0x09, 0x00, 0x00, 0x01, 0x61])).bytes,
            TLSParseError(.lengthOverrun(.serverNameList), at: 56)
        )
        // List shorter than the extension data.
        var sni = sniExtension("a.test")
        sni[3] += 1
        sni.append(0x00)
        expectParseError(
            HelloBuilder(extensions: sni).bytes,
            TLSParseError(.trailingBytes(.extension(type: 0)), at: 67)
        )
        // A name type other than host_name.
        sni = sniExtension("a.test")
        sni[6] = 0x01
        let expected = TLSParseError(.unsupportedServerNameType(1), at: 58)
        expectParseError(HelloBuilder(extensions: sni).bytes, expected)
        #expect(expected.alert == .decodeError)
        // Host name length beyond the list.
        sni = sniExtension("a.test")
        sni[8] = 0x20
        expectParseError(HelloBuilder(extensions: sni).bytes, TLSParseError(.lengthOverrun(.hostName), at: 59))
        // A list with only the name type.
        expectParseError(
            HelloBuilder(extensions: tlsExtension(0, [0x00, 0x01, 0x00])).bytes,
            TLSParseError(.lengthOverrun(.hostName), at: 59)
        )
        // A second entry after the host name.
        let entries: [UInt8] = [0x00, 0x00, 0x01, 0x61, 0x00, 0x00, 0x01, 0x62]
        expectParseError(
            HelloBuilder(extensions: tlsExtension(0, be16(UInt16(entries.count)) + entries)).bytes,
            TLSParseError(.trailingBytes(.serverNameList), at: 62)
        )
    }
}

@Suite("ClientHelloParser ALPN and supported_versions")
struct ClientHelloParserListTests {
    let parser = ClientHelloParser()

    // ALPN first in the block: 52 type, 54 extension length, 56 list length, 58 first name length.
    @Test("ALPN: non-empty list of non-empty names, within the extension")
    func alpn() throws {
        let hello = try #require(
            try self.parser.parse(HelloBuilder(extensions: alpnExtension(["h2", "http/1.1"])).bytes)
        )
        #expect(hello.alpnDescription == "h2,http/1.1")

        expectParseError(
            HelloBuilder(extensions: tlsExtension(16, [0x00, 0x00])).bytes,
            TLSParseError(.invalidLength(.alpnList, length: 0), at: 56)
        )
        expectParseError(
            HelloBuilder(extensions: tlsExtension(16, [0x00, 0x03, 0x00, 0x01, 0x61])).bytes,
            TLSParseError(.invalidLength(.alpnProtocol, length: 0), at: 58)
        )
        expectParseError(
            HelloBuilder(extensions: tlsExtension(16, [0x00, 0x03, 0x05, 0x68, 0x32])).bytes,
            TLSParseError(.lengthOverrun(.alpnProtocol), at: 58)
        )
        expectParseError(
            HelloBuilder(extensions: tlsExtension(16, [0x00, 0x08, 0x02, 0x68, 0x32])).bytes,
            TLSParseError(.lengthOverrun(.alpnList), at: 56)
        )
        expectParseError(
            HelloBuilder(extensions: tlsExtension(16, [0x00, 0x03, 0x02, 0x68, 0x32, 0xFF])).bytes,
            TLSParseError(.trailingBytes(.extension(type: 16)), at: 61)
        )
        expectParseError(
            HelloBuilder(extensions: tlsExtension(16, [0x00])).bytes,
            TLSParseError(.lengthOverrun(.alpnList), at: 56)
        )
    }

    // supported_versions first: 56 list length (1 byte), 57 versions.
    @Test("supported_versions: even, 2…254 bytes, within the extension")
    func supportedVersions() {
        expectParseError(
            HelloBuilder(extensions: tlsExtension(43, [0x03, 0x03, 0x04, 0x03])).bytes,
            TLSParseError(.invalidLength(.supportedVersions, length: 3), at: 56)
        )
        expectParseError(
            HelloBuilder(extensions: tlsExtension(43, [0x00])).bytes,
            TLSParseError(.invalidLength(.supportedVersions, length: 0), at: 56)
        )
        expectParseError(
            HelloBuilder(extensions: tlsExtension(43, [0x04, 0x03, 0x04])).bytes,
            TLSParseError(.lengthOverrun(.supportedVersions), at: 56)
        )
        expectParseError(
            HelloBuilder(extensions: tlsExtension(43, [0x02, 0x03, 0x04, 0x03])).bytes,
            TLSParseError(.trailingBytes(.extension(type: 43)), at: 59)
        )
        expectParseError(
            HelloBuilder(extensions: tlsExtension(43, [])).bytes,
            TLSParseError(.lengthOverrun(.supportedVersions), at: 56)
        )
    }
}

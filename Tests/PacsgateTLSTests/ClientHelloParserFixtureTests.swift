import NIOCore
import PacsgateTLS
import Testing

@Suite("ClientHelloParser on captured ClientHellos")
struct ClientHelloParserFixtureTests {
    let parser = ClientHelloParser()

    @Test(
        "every fixture parses whole, and one byte at a time gives nil until the last byte, then the same value",
        arguments: Fixture.allCases
    )
    func wholeAndIncremental(_ fixture: Fixture) throws {
        let bytes = try fixture.bytes()
        let whole = try #require(try self.parser.parse(bytes))
        #expect(whole.byteCount == bytes.count)

        let incremental = try #require(self.parser.parseOneByteAtATime(bytes))
        #expect(incremental.after == bytes.count)
        #expect(try incremental.result.get() == whole)
    }

    @Test("every fixture minus its last byte needs more bytes", arguments: Fixture.allCases)
    func truncatedNeedsMore(_ fixture: Fixture) throws {
        let bytes = try fixture.bytes()
        #expect(try self.parser.parse(Array(bytes.dropLast())) == nil)
    }

    @Test("bytes after the ClientHello's records are not part of it", arguments: Fixture.allCases)
    func followingRecordsIgnored(_ fixture: Fixture) throws {
        let bytes = try fixture.bytes()
        // A middlebox-compatibility ChangeCipherSpec record, then the start of another record.
        let followed = bytes + [0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17, 0x03]
        let hello = try #require(try self.parser.parse(followed))
        #expect(hello.byteCount == bytes.count)
        #expect(try self.parser.parse(bytes) == hello)
    }

    @Test("offsets count from the buffer's reader index, not from the start of its storage")
    func readerIndexRespected() throws {
        let bytes = try Fixture.opensslSNIALPN.bytes()
        var buffer = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF] + bytes)
        buffer.moveReaderIndex(forwardBy: 3)
        let hello = try #require(try self.parser.parse(buffer))
        #expect(hello.byteCount == bytes.count)
        #expect(buffer.readerIndex == 3)

        var broken = ByteBuffer(bytes: [0x16, 0x16] + bytes)
        broken.moveReaderIndex(forwardBy: 2)
        broken.setInteger(UInt8(2), at: 2 + 5)  // handshake type: ServerHello
        #expect(throws: TLSParseError(.notClientHello(handshakeType: 2), at: 5)) { try self.parser.parse(broken) }
    }

    @Test("openssl s_client -servername a.mach7.test -alpn h2,http/1.1")
    func opensslSNIALPN() throws {
        let hello = try #require(try self.parser.parse(try Fixture.opensslSNIALPN.bytes()))
        #expect(hello.recordCount == 1)
        #expect(hello.legacyVersion == .tls1_2)
        #expect(hello.cipherSuiteCount == 31)
        #expect(hello.serverName?.hostName == "a.mach7.test")
        #expect(hello.serverName?.hadTrailingDot == false)
        #expect(hello.alpnProtocols == [ALPNProtocol("h2"), ALPNProtocol("http/1.1")])
        #expect(hello.supportedVersions == [.tls1_3, .tls1_2, .tls1_1, .tls1_0])
        #expect(hello.extensionTypes == [0, 11, 10, 35, 16, 22, 23, 13, 43, 45, 51])
        #expect(!hello.offersEncryptedClientHello)
        #expect(hello.versionsDescription == "TLS1.3,TLS1.2,TLS1.1,TLS1.0")
        #expect(hello.alpnDescription == "h2,http/1.1")
    }

    @Test("curl --resolve a.mach7.test:PORT:127.0.0.1 https://a.mach7.test:PORT/ -k")
    func curl() throws {
        let hello = try #require(try self.parser.parse(try Fixture.curlSNI.bytes()))
        #expect(hello.recordCount == 1)
        #expect(hello.serverName?.hostName == "a.mach7.test")
        #expect(hello.alpnDescription == "h2,http/1.1")
        #expect(hello.supportedVersions == [.tls1_3, .tls1_2, .tls1_1, .tls1_0])
        // curl's OpenSSL pads the hello to 512 bytes with extension 21 (RFC 7685).
        #expect(hello.extensionTypes.last == 21)
    }

    @Test("Python ssl connecting by IP sends no server_name")
    func pythonNoSNI() throws {
        let hello = try #require(try self.parser.parse(try Fixture.pythonNoSNI.bytes()))
        #expect(hello.serverName == nil)
        #expect(!hello.extensionTypes.contains(0))
        #expect(hello.alpnProtocols.isEmpty)
        #expect(hello.alpnDescription == "")
        #expect(hello.versionsDescription == "TLS1.3,TLS1.2")
    }

    @Test("openssl s_client -tls1_2: no supported_versions, so legacy_version names the version")
    func opensslTLS12() throws {
        let hello = try #require(try self.parser.parse(try Fixture.opensslTLS12.bytes()))
        #expect(hello.supportedVersions.isEmpty)
        #expect(!hello.extensionTypes.contains(43))
        #expect(hello.offeredVersions == [.tls1_2])
        #expect(hello.versionsDescription == "TLS1.2")
        #expect(hello.serverName?.hostName == "a.mach7.test")
        #expect(hello.cipherSuiteCount == 28)
    }

    @Test("openssl -max_send_frag 512: a real ClientHello in six records")
    func opensslFragmented() throws {
        let bytes = try Fixture.opensslFragmented.bytes()
        let hello = try #require(try self.parser.parse(bytes))
        #expect(hello.recordCount == 6)
        #expect(hello.serverName?.hostName == "a.mach7.test")
        #expect(hello.alpnProtocols.count == 200)
        #expect(hello.alpnProtocols.first == ALPNProtocol("x-pacs-0000"))
        #expect(hello.alpnProtocols.last == ALPNProtocol("x-pacs-0199"))
        // The first five records end before the hello does.
        for prefixLength in stride(from: 5 + 512, through: 5 * (5 + 512), by: 5 + 512) {
            #expect(try self.parser.parse(Array(bytes.prefix(prefixLength))) == nil)
        }
    }

    @Test("a captured hello re-recorded as two records parses to the same values as the original")
    func twoRecords() throws {
        let original = try #require(try self.parser.parse(try Fixture.opensslSNIALPN.bytes()))
        let bytes = try Fixture.opensslTwoRecords.bytes()
        let split = try #require(try self.parser.parse(bytes))
        #expect(split.recordCount == 2)
        #expect(split.byteCount == bytes.count)
        #expect(split.serverName == original.serverName)
        #expect(split.alpnProtocols == original.alpnProtocols)
        #expect(split.supportedVersions == original.supportedVersions)
        #expect(split.extensionTypes == original.extensionTypes)
        #expect(split.cipherSuiteCount == original.cipherSuiteCount)
    }

    @Test("a hello re-recorded with its handshake header split over four one-byte records")
    func handshakeHeaderAcrossRecords() throws {
        let message = handshakeMessage(try Fixture.opensslSNIALPN.bytes())
        let bytes = tlsRecords(message, splitAt: [1, 2, 3, 200])
        let hello = try #require(try self.parser.parse(bytes))
        #expect(hello.recordCount == 5)
        #expect(hello.serverName?.hostName == "a.mach7.test")
        #expect(try self.parser.parseOneByteAtATime(bytes)?.result.get() == hello)
    }

    @Test("~10 KiB hellos: Python ssl with 470 ALPN identifiers, and openssl's padded to 10 KiB")
    func largeHellos() throws {
        let python = try #require(try self.parser.parse(try Fixture.pythonLargeALPN.bytes()))
        #expect(python.byteCount > 10_000)
        #expect(python.serverName?.hostName == "big.mach7.test")
        #expect(python.alpnProtocols.count == 470)
        #expect(python.alpnProtocols.last?.description == "x-pacs-protocol-0469")

        let padded = try #require(try self.parser.parse(try Fixture.opensslPadded10K.bytes()))
        #expect(padded.byteCount == 10 * 1024 + 4)
        #expect(padded.extensionTypes == [0, 11, 10, 35, 16, 22, 23, 13, 43, 45, 51, 21])
        #expect(padded.alpnDescription == "h2,http/1.1")
    }

    @Test("a ~10 KiB hello is refused by a parser bounded below its size")
    func largeHelloOverBound() throws {
        let bytes = try Fixture.opensslPadded10K.bytes()
        // The single record's length field (offset 3) says 10239: the record would end at 10244 > 8192.
        expectParseError(
            bytes,
            TLSParseError(.clientHelloTooLarge(limit: 8192), at: 3),
            parser: ClientHelloParser(maximumBytes: 8192)
        )
    }
}

import NIOCore
import Testing

@testable import PacsgateTLS

/// The cipher suite read from the gateway's own ServerHello (swift-nio-ssl does not expose it).
@Suite("ServerHello cipher suite")
struct ServerHelloParserTests {
    /// A TLS 1.3 ServerHello as BoringSSL writes it: legacy version 0x0303, a 32-byte session ID echoed, cipher
    /// 0x1302, then extensions (not read).
    static func serverHello(sessionID: Int = 32, cipher: UInt16 = 0x1302) -> [UInt8] {
        var body: [UInt8] = [0x03, 0x03] + Array(repeating: 0xAB, count: 32) + [UInt8(sessionID)]
        body += Array(repeating: 0x11, count: sessionID)
        body += [UInt8(cipher >> 8), UInt8(cipher & 0xFF), 0x00]
        body += [0x00, 0x06, 0x00, 0x2B, 0x00, 0x02, 0x03, 0x04]  // supported_versions: TLS 1.3
        let handshake: [UInt8] = [0x02, 0x00, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
        return [0x16, 0x03, 0x03, UInt8(handshake.count >> 8), UInt8(handshake.count & 0xFF)] + handshake
    }

    @Test("whole, and byte by byte: nil until the cipher suite is in")
    func reads() throws {
        for sessionID in [0, 32] {
            let bytes = Self.serverHello(sessionID: sessionID)
            #expect(try ServerHelloParser.cipherSuite(ByteBuffer(bytes: bytes)) == 0x1302)
            let cipherEnd = ServerHelloParser.fixedPrefix + sessionID + 2
            for length in 0..<cipherEnd {
                #expect(try ServerHelloParser.cipherSuite(ByteBuffer(bytes: bytes.prefix(length))) == nil, "\(length)")
            }
            #expect(try ServerHelloParser.cipherSuite(ByteBuffer(bytes: bytes.prefix(cipherEnd))) == 0x1302)
        }
    }

    @Test("bytes that are not a ServerHello, with the exact error")
    func badInput() {
        #expect(throws: ServerHelloParseError.notHandshakeRecord(0x15)) {
            try ServerHelloParser.cipherSuite(ByteBuffer(bytes: [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]))
        }
        #expect(throws: ServerHelloParseError.notServerHello(0x01)) {
            try ServerHelloParser.cipherSuite(ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x00, 0x40, 0x01]))
        }
        var long = Self.serverHello()
        long[ServerHelloParser.fixedPrefix - 1] = 33
        #expect(throws: ServerHelloParseError.sessionIDTooLong(33)) {
            try ServerHelloParser.cipherSuite(ByteBuffer(bytes: long))
        }
        var short = Self.serverHello()
        short[3] = 0x00
        short[4] = 0x20
        #expect(throws: ServerHelloParseError.recordTooShort(32)) {
            try ServerHelloParser.cipherSuite(ByteBuffer(bytes: short))
        }
        #expect(ServerHelloParseError.notServerHello(1).description == "first handshake message has type 1, not ServerHello (2)")
        #expect(
            ServerHelloParseError.recordTooShort(32).description == "ServerHello record of 32 bytes ends before its cipher suite"
        )
    }

    @Test("OpenSSL names of the suites the gateway negotiates; others in hex")
    func names() {
        #expect(TLSCipherSuiteName.name(0x1301) == "TLS_AES_128_GCM_SHA256")
        #expect(TLSCipherSuiteName.name(0xC02F) == "ECDHE-RSA-AES128-GCM-SHA256")
        #expect(TLSCipherSuiteName.name(0xCCA9) == "ECDHE-ECDSA-CHACHA20-POLY1305")
        #expect(TLSCipherSuiteName.name(0x009C) == "0x9C")
    }
}

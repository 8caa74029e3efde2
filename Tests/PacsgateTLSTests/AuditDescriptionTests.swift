import NIOCore
import PacsgateTLS
import Testing

@Suite("Audit descriptions: TLSVersion and ALPNProtocol")
struct AuditDescriptionTests {
    @Test(
        "version names",
        arguments: [
            (UInt16(0x0300), "SSL3.0"), (0x0301, "TLS1.0"), (0x0302, "TLS1.1"), (0x0303, "TLS1.2"), (0x0304, "TLS1.3"),
            (0x0A0A, "GREASE"), (0xFAFA, "GREASE"), (0x7F1C, "0x7f1c"), (0x0A1A, "0x0a1a"), (0x0002, "0x0002"),
        ]
    )
    func versionNames(rawValue: UInt16, name: String) {
        #expect(TLSVersion(rawValue: rawValue).description == name)
    }

    @Test("GREASE is exactly the sixteen 0x?A?A values with equal bytes")
    func grease() {
        let grease = (0...UInt16.max).filter { TLSVersion(rawValue: $0).isGREASE }
        let expected: [UInt16] = (0..<16).map { (nibble: UInt16) -> UInt16 in
            let byte = nibble << 4 | 0x0A
            return byte << 8 | byte
        }
        #expect(grease == expected)
    }

    @Test("ALPN identifiers escape everything but printable ASCII, and the list separator")
    func alpnEscaping() {
        #expect(ALPNProtocol("http/1.1").description == "http/1.1")
        let hostile = ALPNProtocol(bytes: ByteBuffer(bytes: [0x00, 0x68, 0x2C, 0x5C, 0x20, 0x0A, 0xFF, 0x7E]))
        #expect(hostile.description == #"\x00h\x2c\x5c\x20\x0a\xff~"#)
    }
}

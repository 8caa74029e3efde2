import PacsgateTLS
import Testing

@Suite("ServerName")
struct ServerNameTests {
    @Test(
        "valid names are lower-cased and lose one trailing dot",
        arguments: [
            ("a.mach7.test", "a.mach7.test", false),
            ("PACS.Example.ORG.", "pacs.example.org", true),
            ("xn--bcher-kva.example", "xn--bcher-kva.example", false),
            ("pacs_01.radiology.local", "pacs_01.radiology.local", false),
            ("localhost", "localhost", false),
            ("123.example.org", "123.example.org", false),
            ("a-b.c", "a-b.c", false),
        ]
    )
    func valid(input: String, hostName: String, hadTrailingDot: Bool) throws {
        let name = try ServerName(input)
        #expect(name.hostName == hostName)
        #expect(name.hadTrailingDot == hadTrailingDot)
        #expect(name.description == hostName)
    }

    @Test(
        "invalid names throw the exact violation",
        arguments: [
            ("", HostNameViolation.empty),
            (".", .emptyLabel),
            ("a..b", .emptyLabel),
            (".a.b", .emptyLabel),
            ("a.b..", .emptyLabel),
            ("10.0.0.1", .ipLiteral),
            ("10.0.0.1.", .ipLiteral),
            ("3232235777", .ipLiteral),
            ("fe80::1", .ipLiteral),
            ("[::1]", .invalidByte(UInt8(ascii: "["))),
            ("a.example.123", .ipLiteral),
            ("pacs\u{7F}.org", .invalidByte(0x7F)),
            ("pacs\n.org", .invalidByte(0x0A)),
            ("pacs/1.org", .invalidByte(UInt8(ascii: "/"))),
            ("bücher.example", .invalidByte(0xC3)),
            ("-a.org", .hyphenAtLabelEdge),
            ("a-.org", .hyphenAtLabelEdge),
            ("a.org-", .hyphenAtLabelEdge),
        ]
    )
    func invalid(input: String, violation: HostNameViolation) {
        #expect(throws: violation) { try ServerName(input) }
    }

    @Test("length limits: 253 bytes and 63-byte labels")
    func lengthLimits() throws {
        let label63 = String(repeating: "a", count: 63)
        let name253 = [label63, label63, label63, String(repeating: "b", count: 61)].joined(separator: ".")
        #expect(name253.utf8.count == 253)
        #expect(try ServerName(name253).hostName == name253)
        #expect(try ServerName(name253 + ".").hadTrailingDot)
        #expect(throws: HostNameViolation.tooLong(length: 254)) { try ServerName(name253 + "b") }
        #expect(throws: HostNameViolation.labelTooLong(length: 64)) { try ServerName(label63 + "a.org") }
    }

    @Test("violations describe themselves without echoing the name")
    func descriptions() {
        #expect(HostNameViolation.invalidByte(0x01).description == "invalid byte 0x01 in host name")
        #expect(HostNameViolation.ipLiteral.description == "IP literal instead of a host name")
        #expect(HostNameViolation.tooLong(length: 300).description == "host name of 300 bytes exceeds 253")
    }
}

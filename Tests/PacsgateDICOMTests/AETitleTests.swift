import PacsgateDICOM
import Testing

@Suite struct AETitleTests {
    @Test(arguments: [
        ("MACH7", AETitleValidation.valid),
        ("MACH7           ", .valid),
        ("  MACH7  ", .valid),
        ("A", .valid),
        ("ABCDEFGHIJKLMNOP", .valid),
        ("GW-HEALTH", .valid),
        ("MACH7\0\0\0", .nulPadded),
        ("MACH7   \0\0 ", .nulPadded),
        ("", .invalid(.empty)),
        ("                ", .invalid(.empty)),
        ("\0\0\0\0", .invalid(.empty)),
        ("ABCDEFGHIJKLMNOPQ", .invalid(.tooLong(byteCount: 17))),
        ("MACH\\7", .invalid(.forbiddenByte(0x5C, offset: 4))),
        ("MACH\n7", .invalid(.forbiddenByte(0x0A, offset: 4))),
        ("\tMACH7", .invalid(.forbiddenByte(0x09, offset: 0))),
        ("MA\0CH7", .invalid(.forbiddenByte(0x00, offset: 2))),
        ("\0MACH7", .invalid(.forbiddenByte(0x00, offset: 0))),
        ("MACH\u{7F}", .invalid(.forbiddenByte(0x7F, offset: 4))),
        ("MÄCH7", .invalid(.forbiddenByte(0xC3, offset: 1))),
    ])
    func validate(title: String, expected: AETitleValidation) {
        #expect(AETitle.validate(Array(title.utf8)) == expected)
    }

    @Test func acceptability() {
        #expect(AETitleValidation.valid.isAcceptable)
        #expect(AETitleValidation.nulPadded.isAcceptable)
        #expect(!AETitleValidation.invalid(.empty).isAcceptable)
    }

    @Test func initPadsWithSpaces() throws {
        let title = try AETitle("GW-HEALTH")
        #expect(title.rawBytes == Array("GW-HEALTH       ".utf8))
        #expect(title.title == "GW-HEALTH")
        #expect(title.description == "GW-HEALTH")
        #expect(title.validation == .valid)
        #expect(try AETitle("GW-HEALTH") == title)
        #expect(try AETitle("GW-health") != title)
    }

    @Test func initKeepsLeadingSpacesInRawBytesOnly() throws {
        let title = try AETitle("  PACS")
        #expect(title.rawBytes.count == 16)
        #expect(title.rawBytes.prefix(6) == ArraySlice(Array("  PACS".utf8)))
        #expect(title.title == "PACS")
    }

    @Test(arguments: [
        ("", AETitleDefect.empty),
        ("    ", .empty),
        ("ABCDEFGHIJKLMNOPQ", .tooLong(byteCount: 17)),
        ("A\\B", .forbiddenByte(0x5C, offset: 1)),
        ("AB\0", .forbiddenByte(0x00, offset: 2)),
    ])
    func initRejects(title: String, defect: AETitleDefect) {
        #expect(throws: defect) { try AETitle(title) }
    }

    @Test func defectDescriptions() {
        #expect(AETitleDefect.tooLong(byteCount: 17).description == "AE title is 17 bytes long (at most 16 allowed)")
        #expect(AETitleDefect.empty.description == "AE title is empty or all spaces")
        #expect(
            AETitleDefect.forbiddenByte(0x5C, offset: 3).description == "AE title has forbidden byte 0x5C at offset 3"
        )
    }
}

import NIOCore
import PacsgateDICOM
import Testing

@Suite struct PDUHeaderTests {
    @Test func peekNeedsSixBytes() throws {
        let header = ByteBuffer(hex: "01 00 00 00 00 cd")
        for count in 0..<6 {
            #expect(try PDUHeader.peek(header.getSlice(at: 0, length: count)!) == nil)
        }
        #expect(try PDUHeader.peek(header) == PDUHeader(type: .associateRequest, length: 205))
    }

    @Test func peekDoesNotConsumeAndIgnoresReservedByte() throws {
        let buffer = ByteBuffer(hex: "04 ff 00 00 00 4a")
        #expect(try PDUHeader.peek(buffer) == PDUHeader(type: .dataTransfer, length: 74))
        #expect(buffer.readerIndex == 0)
    }

    @Test(arguments: [UInt8(0x00), 0x08, 0x10, 0x47, 0x16, 0x0B, 0xFF])
    func unrecognizedTypeFailsOnFirstByte(byte: UInt8) {
        #expect(throws: DICOMParseError.unrecognizedPDUType(byte, offset: 0)) {
            try PDUHeader.peek(ByteBuffer(bytes: [byte]))
        }
    }

    @Test func everyTypeIsRecognized() throws {
        for type in PDUType.allCases {
            let buffer = ByteBuffer.encoding { PDUHeader(type: type, length: 4).encode(into: &$0) }
            #expect(try PDUHeader.peek(buffer)?.type == type)
        }
    }

    @Test(arguments: [PDUType.associateReject, .releaseRequest, .releaseResponse, .abort])
    func fixedLengthTypesMustDeclareFour(type: PDUType) throws {
        try PDUHeader(type: type, length: 4).validate(maxLength: 0)
        for length: UInt32 in [0, 3, 5, 0xFFFF_FFFF] {
            #expect(throws: DICOMParseError.invalidPDULength(type, length: length, offset: 2)) {
                try PDUHeader(type: type, length: length).validate(maxLength: 65536)
            }
        }
    }

    @Test(arguments: [(PDUType.associateRequest, UInt32(68)), (.associateAccept, 68), (.dataTransfer, 6)])
    func variableLengthTypesHaveAMinimum(type: PDUType, minimum: UInt32) throws {
        try PDUHeader(type: type, length: minimum).validate(maxLength: 65536)
        #expect(throws: DICOMParseError.invalidPDULength(type, length: minimum - 1, offset: 2)) {
            try PDUHeader(type: type, length: minimum - 1).validate(maxLength: 65536)
        }
    }

    @Test func limitAppliesToVariableLengthTypes() throws {
        try PDUHeader(type: .associateRequest, length: 65536).validate(maxLength: 65536)
        #expect(throws: DICOMParseError.pduTooLarge(.associateRequest, length: 65537, limit: 65536, offset: 2)) {
            try PDUHeader(type: .associateRequest, length: 65537).validate(maxLength: 65536)
        }
        #expect(throws: DICOMParseError.pduTooLarge(.dataTransfer, length: 0xFFFF_FFFF, limit: 16384, offset: 2)) {
            try PDUHeader(type: .dataTransfer, length: 0xFFFF_FFFF).validate(maxLength: 16384)
        }
        try PDUHeader(type: .dataTransfer, length: 0xFFFF_FFFF).validate(maxLength: .max)
        #expect(throws: DICOMParseError.pduTooLarge(.associateAccept, length: 68, limit: -1, offset: 2)) {
            try PDUHeader(type: .associateAccept, length: 68).validate(maxLength: -1)
        }
    }

    @Test func encode() {
        let buffer = ByteBuffer.encoding { PDUHeader(type: .abort, length: 4).encode(into: &$0) }
        #expect(buffer == ByteBuffer(hex: "07 00 00 00 00 04"))
    }

    @Test func typeNames() {
        #expect(
            PDUType.allCases.map(\.description) == [
                "A-ASSOCIATE-RQ", "A-ASSOCIATE-AC", "A-ASSOCIATE-RJ", "P-DATA-TF", "A-RELEASE-RQ", "A-RELEASE-RP",
                "A-ABORT",
            ]
        )
    }
}

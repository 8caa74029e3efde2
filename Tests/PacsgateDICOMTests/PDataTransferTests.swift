import NIOCore
import PacsgateDICOM
import Testing

@Suite struct PDataTransferTests {
    /// protocols.md §1.8, verified against pynetdicom; dcmtk's echoscu sends the same bytes.
    static let echoRequestVector = ByteBuffer(
        hex: """
            04 00 00 00 00 4a
            00 00 00 46 01 03
            00 00 00 00 04 00 00 00 38 00 00 00
            00 00 02 00 12 00 00 00 31 2e 32 2e 38 34 30 2e 31 30 30 30 38 2e 31 2e 31 00
            00 00 00 01 02 00 00 00 30 00
            00 00 10 01 02 00 00 00 01 00
            00 00 00 08 02 00 00 00 01 01
            """
    )

    @Test func echoRequestVectorEncodes() {
        let command = ByteBuffer.encoding(DIMSECommand.echoRequest(messageID: 1).encode(into:))
        let data = PDataTransfer([
            PresentationDataValue(presentationContextID: 1, isCommand: true, isLastFragment: true, fragment: command)
        ])
        #expect(ByteBuffer.encoding(data.encode(into:)) == Self.echoRequestVector)
        #expect(Self.echoRequestVector.readableBytes == 80)
    }

    @Test func echoscuSendsTheVector() throws {
        #expect(try Fixture.pdu("echoscu-storescp.client", at: 211) == Self.echoRequestVector)
    }

    @Test func parseEchoRequest() throws {
        var input = Self.echoRequestVector
        guard case .dataTransfer(let data) = try PDU.parse(&input, maxLength: 16384) else {
            Issue.record("not a P-DATA-TF")
            return
        }
        let values = Array(data)
        #expect(values.count == 1)
        let value = try #require(values.first)
        #expect(value.presentationContextID == 1)
        #expect(value.messageControlHeader == 0x03)
        #expect(value.isCommand)
        #expect(value.isLastFragment)
        #expect(value.itemLength == 70)
        #expect(try DIMSECommand.decode(value.fragment) == .echoRequest(messageID: 1))
    }

    @Test func oneByteAtATime() throws {
        let (pdu, fed) = try parseOneByteAtATime(Self.echoRequestVector) { try PDU.parse(&$0, maxLength: 16384) }
        var whole = Self.echoRequestVector
        #expect(pdu == (try PDU.parse(&whole, maxLength: 16384)))
        #expect(fed == 80)
    }

    @Test func findscuSendsCommandThenDataSet() throws {
        var stream = try Fixture.bytes("findscu-wlmscpfs.client")
        stream.moveReaderIndex(forwardBy: 262)
        guard case .dataTransfer(let command) = try PDU.parse(&stream, maxLength: 16384),
            case .dataTransfer(let dataSet) = try PDU.parse(&stream, maxLength: 16384)
        else {
            Issue.record("expected two P-DATA-TF")
            return
        }
        #expect(command.map(\.messageControlHeader) == [0x03])
        let identifier = try #require(Array(dataSet).first)
        #expect(!identifier.isCommand)
        #expect(identifier.isLastFragment)
        #expect(identifier.fragment.readableBytes == 70)
        #expect(try PDU.parse(&stream, maxLength: 16384) == .releaseRequest)
    }

    @Test func severalValuesRoundTrip() throws {
        let values = [
            PresentationDataValue(
                presentationContextID: 3,
                isCommand: true,
                isLastFragment: false,
                fragment: ByteBuffer(bytes: [1, 2, 3])
            ),
            PresentationDataValue(
                presentationContextID: 3,
                isCommand: true,
                isLastFragment: true,
                fragment: ByteBuffer()
            ),
            PresentationDataValue(
                presentationContextID: 3,
                isCommand: false,
                isLastFragment: true,
                fragment: ByteBuffer(bytes: [9])
            ),
        ]
        var bytes = ByteBuffer.encoding(PDataTransfer(values).encode(into:))
        #expect(bytes.readableBytes == 6 + 3 * 6 + 4)
        guard case .dataTransfer(let parsed) = try PDU.parse(&bytes, maxLength: 16384) else {
            Issue.record("not a P-DATA-TF")
            return
        }
        #expect(Array(parsed) == values)
        #expect(parsed.map(\.messageControlHeader) == [0x01, 0x03, 0x02])
    }

    @Test func descriptionsNeverShowFragmentBytes() throws {
        let secret = ByteBuffer(string: "DEMO^PATIENT")
        let data = PDataTransfer([
            PresentationDataValue(presentationContextID: 3, isCommand: false, isLastFragment: true, fragment: secret)
        ])
        #expect(data.description == "P-DATA-TF [\"PDV context 3 data set last 12 bytes\"]")
        for text in [String(describing: PDU.dataTransfer(data)), String(reflecting: data), "\(Array(data))"] {
            #expect(!text.contains("DEMO"))
            #expect(!text.contains("44454d4f"))  // nor its hex
        }
    }

    @Test func reservedControlBitsAreKept() throws {
        var input = ByteBuffer(hex: "04 00 00000007 00000003 05 fe 00")
        guard case .dataTransfer(let data) = try PDU.parse(&input, maxLength: 16384) else {
            Issue.record("not a P-DATA-TF")
            return
        }
        let value = try #require(Array(data).first)
        #expect(value.messageControlHeader == 0xFE)
        #expect(!value.isCommand)
        #expect(value.isLastFragment)
    }

    // MARK: Bad input

    @Test(arguments: [
        ("04 00 00000006 00000001 01 03", DICOMParseError.invalidPDVLength(1, offset: 6)),
        ("04 00 00000006 00000000 01 03", .invalidPDVLength(0, offset: 6)),
        ("04 00 00000006 00000003 01 03", .invalidPDVLength(3, offset: 6)),
        ("04 00 0000000a 00000064 01 03 00 00 00 00", .invalidPDVLength(100, offset: 6)),
        ("04 00 0000000a 00000002 01 03 ffffffff", .invalidPDVLength(0xFFFF_FFFF, offset: 12)),
        ("04 00 00000009 00000002 01 03 00 00 00", .invalidPDVLength(0, offset: 12)),
    ])
    func malformedValues(hex: String, error: DICOMParseError) {
        var input = ByteBuffer(hex: hex)
        #expect(throws: error) { try PDU.parse(&input, maxLength: 16384) }
        #expect(input.readerIndex == 0)
    }

    @Test func tooShortOrTooLong() {
        var short = ByteBuffer(hex: "04 00 00000005 0000000101")
        #expect(throws: DICOMParseError.invalidPDULength(.dataTransfer, length: 5, offset: 2)) {
            try PDU.parse(&short, maxLength: 16384)
        }
        var long = ByteBuffer(hex: "04 00 00004001")
        #expect(throws: DICOMParseError.pduTooLarge(.dataTransfer, length: 16385, limit: 16384, offset: 2)) {
            try PDU.parse(&long, maxLength: 16384)
        }
    }
}

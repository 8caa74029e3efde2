import NIOCore
import PacsgateHL7
import Testing

@Suite("MSHParser")
struct MSHParserTests {
    /// Field values expected from each sample's MSH.
    struct Expected: Sendable, CustomStringConvertible {
        var name: String
        var sendingApplication, sendingFacility, receivingApplication, receivingFacility: String
        var dateTimeOfMessage, messageType, messageCode, triggerEvent, messageStructure: String
        var controlID, processingID, versionID, acceptAckType, applicationAckType: String
        var description: String { self.name }
    }

    static let expectedSamples = [
        Expected(
            name: "adt-a01-v2.3.hl7",
            sendingApplication: "REGADT",
            sendingFacility: "SYNTHHOSP",
            receivingApplication: "PACS",
            receivingFacility: "MACH7",
            dateTimeOfMessage: "20250101120000",
            messageType: "ADT^A01",
            messageCode: "ADT",
            triggerEvent: "A01",
            messageStructure: "",
            controlID: "ADT0000001",
            processingID: "P",
            versionID: "2.3",
            acceptAckType: "",
            applicationAckType: ""
        ),
        Expected(
            name: "orm-o01-v2.5.1.hl7",
            sendingApplication: "RIS",
            sendingFacility: "SYNTHHOSP",
            receivingApplication: "PACS",
            receivingFacility: "MACH7",
            dateTimeOfMessage: "20250101120500",
            messageType: "ORM^O01^ORM_O01",
            messageCode: "ORM",
            triggerEvent: "O01",
            messageStructure: "ORM_O01",
            controlID: "ORM0000001",
            processingID: "P",
            versionID: "2.5.1",
            acceptAckType: "",
            applicationAckType: ""
        ),
        Expected(
            name: "oru-r01-v2.5.1.hl7",
            sendingApplication: "RIS",
            sendingFacility: "SYNTHHOSP",
            receivingApplication: "PACS",
            receivingFacility: "MACH7",
            dateTimeOfMessage: "20250101121000",
            messageType: "ORU^R01^ORU_R01",
            messageCode: "ORU",
            triggerEvent: "R01",
            messageStructure: "ORU_R01",
            controlID: "ORU0000001",
            processingID: "P",
            versionID: "2.5.1",
            acceptAckType: "AL",
            applicationAckType: "NE"
        ),
    ]

    @Test("sample messages: every MSH field", arguments: expectedSamples)
    func samples(expected: Expected) throws {
        let header = try MSHParser.parse(try Fixture.load("messages", expected.name))
        #expect(header.delimiters == .standard)
        #expect(header.sendingApplication == expected.sendingApplication)
        #expect(header.sendingFacility == expected.sendingFacility)
        #expect(header.receivingApplication == expected.receivingApplication)
        #expect(header.receivingFacility == expected.receivingFacility)
        #expect(header.dateTimeOfMessage == expected.dateTimeOfMessage)
        #expect(header.messageType == expected.messageType)
        #expect(header.messageCode == expected.messageCode)
        #expect(header.triggerEvent == expected.triggerEvent)
        #expect(header.messageStructure == expected.messageStructure)
        #expect(header.controlID == expected.controlID)
        #expect(header.processingID == expected.processingID)
        #expect(header.versionID == expected.versionID)
        #expect(header.acceptAcknowledgmentType == expected.acceptAckType)
        #expect(header.applicationAcknowledgmentType == expected.applicationAckType)
        #expect(header.requestsAcceptAcknowledgment == !expected.acceptAckType.isEmpty)
        #expect(header.segmentTerminator == .carriageReturn)
        #expect(!header.segmentTerminator.isNonStandard)
    }

    @Test("frames captured from mllp_send parse to the samples' control IDs")
    func capturedFrames() throws {
        var scanner = MLLPFrameScanner()
        let frames = MLLPFrameScanner.frames(
            in: scanner.events(from: try Fixture.load("captured", "mllp_send-to-receiver.bin"), pieceSize: Int.max)
        )
        #expect(try frames.map { try MSHParser.parse($0.payload).controlID } == Self.expectedSamples.map(\.controlID))
    }

    @Test("description is a one-line MSH summary")
    func description() throws {
        let header = try MSHParser.parse(try Fixture.load("messages", "adt-a01-v2.3.hl7"))
        #expect(
            header.description
                == "MSH type=ADT^A01 control-id=ADT0000001 from=REGADT/SYNTHHOSP to=PACS/MACH7 processing=P version=2.3"
        )
    }

    @Test("only MSH is read: garbage in later segments does not matter")
    func stopsAtFirstSegment() throws {
        let header = try MSHParser.parse(
            .bytes("MSH|^~\\&|A|B|C|D|T||ADT^A01|ID1|P|2.5\rPID|\u{00}\u{7F}\u{0B}|||\rZZZ")
        )
        #expect(header.controlID == "ID1")
        #expect(header.versionID == "2.5")
        #expect(!header.description.contains("PID"))
    }

    @Test("absent trailing fields are empty; components beyond MSH-9's are empty")
    func shortButValid() throws {
        let header = try MSHParser.parse(.bytes("MSH|^~\\&|||||||ADT|X"))
        #expect(header.controlID == "X")
        #expect(header.messageType == "ADT")
        #expect(header.messageCode == "ADT")
        #expect(header.triggerEvent == "")
        #expect(header.messageStructure == "")
        #expect(header.processingID == "")
        #expect(header.versionID == "")
        #expect(header.acceptAcknowledgmentType == "")
        #expect(!header.requestsAcceptAcknowledgment)
        #expect(header.segmentTerminator == .endOfPayload)
    }

    @Test("MSH-15 NE does not request accept acknowledgments")
    func acceptAckNever() throws {
        let header = try MSHParser.parse(.bytes("MSH|^~\\&|A|B|C|D|T||ADT^A01|ID1|P|2.5.1|||NE|AL\r"))
        #expect(header.acceptAcknowledgmentType == "NE")
        #expect(header.applicationAcknowledgmentType == "AL")
        #expect(!header.requestsAcceptAcknowledgment)
    }

    @Test("delimiters are taken from MSH-1 and MSH-2")
    func customDelimiters() throws {
        let header = try MSHParser.parse(.bytes("MSH#$%@*#APP$1.2$ISO#FAC#B#C#T##ADT$A01$ADT_A01#ID|1#P#2.5.1\r"))
        #expect(header.delimiters.field == UInt8(ascii: "#"))
        #expect(header.delimiters.component == UInt8(ascii: "$"))
        #expect(header.delimiters.repetition == UInt8(ascii: "%"))
        #expect(header.delimiters.escape == UInt8(ascii: "@"))
        #expect(header.delimiters.subcomponent == UInt8(ascii: "*"))
        #expect(header.delimiters.truncation == nil)
        #expect(header.sendingApplication == "APP$1.2$ISO")
        #expect(header.triggerEvent == "A01")
        #expect(header.controlID == "ID|1")
    }

    @Test("v2.7 truncation character in MSH-2")
    func truncationCharacter() throws {
        let header = try MSHParser.parse(.bytes("MSH|^~\\&#|A|B|C|D|T||ADT^A01^ADT_A01|ID1|P|2.7\r"))
        #expect(header.delimiters.truncation == UInt8(ascii: "#"))
        #expect(header.controlID == "ID1")
    }

    @Test(
        "non-standard segment terminators are accepted and reported",
        arguments: [
            ("\r", HL7SegmentTerminator.carriageReturn),
            ("\r\n", .carriageReturnLineFeed),
            ("\n", .lineFeed),
            ("", .endOfPayload),
        ]
    )
    func terminators(terminator: String, expected: HL7SegmentTerminator) throws {
        let next = terminator.isEmpty ? "" : "EVN|A01"
        let header = try MSHParser.parse(.bytes("MSH|^~\\&|A|B|C|D|T||ADT^A01|ID1|P|2.5.1\(terminator)\(next)"))
        #expect(header.segmentTerminator == expected)
        #expect(header.versionID == "2.5.1")
        #expect(header.segmentTerminator.isNonStandard == (expected != .carriageReturn))
    }

    @Test("a 199-byte control ID is accepted")
    func longestControlID() throws {
        let id = String(repeating: "9", count: MSHParser.maximumControlIDLength)
        #expect(try MSHParser.parse(.bytes("MSH|^~\\&|A|B|C|D|T||ADT^A01|\(id)|P|2.5.1\r")).controlID == id)
    }

    // MARK: - Errors

    @Test(
        "exact errors for bad input",
        arguments: [
            ("", MSHParseError.notMSH(segmentID: "")),
            ("PID|1||X", .notMSH(segmentID: "PID")),
            ("\u{06}", .notMSH(segmentID: "\\x06")),
            ("\rMSH|^~\\&|", .notMSH(segmentID: "\\x0DMS")),
            ("msh|^~\\&|", .notMSH(segmentID: "msh")),
            ("FHS|^~\\&|A", .batchNotSupported(segmentID: "FHS")),
            ("BHS|^~\\&|A", .batchNotSupported(segmentID: "BHS")),
            ("M", .segmentTooShort(offset: 1)),
            ("MS", .segmentTooShort(offset: 2)),
            ("MS\rH", .segmentTooShort(offset: 2)),
            ("MSH", .segmentTooShort(offset: 3)),
            ("MSH\r", .segmentTooShort(offset: 3)),
            ("MSH|", .segmentTooShort(offset: 4)),
            ("MSH||A", .invalidEncodingCharacters(offset: 4)),
            ("MSHA^~\\&|", .invalidFieldSeparator(byte: UInt8(ascii: "A"), offset: 3)),
            ("MSH1^~\\&|", .invalidFieldSeparator(byte: UInt8(ascii: "1"), offset: 3)),
            ("MSH ^~\\& ", .invalidFieldSeparator(byte: 0x20, offset: 3)),
            ("MSH\u{00}^~\\&", .invalidFieldSeparator(byte: 0x00, offset: 3)),
            ("MSH|^~\\|A", .invalidEncodingCharacters(offset: 4)),
            ("MSH|^~\\&#$|A", .invalidEncodingCharacters(offset: 4)),
            ("MSH|^~\\A|", .invalidEncodingCharacters(offset: 7)),
            ("MSH|^~\\^|", .invalidEncodingCharacters(offset: 7)),
            ("MSH|^~\\&&|", .invalidEncodingCharacters(offset: 8)),
            ("MSH|^~\\\u{01}|", .invalidEncodingCharacters(offset: 7)),
            ("MSH|^~\\&", .missingControlID(offset: 8)),
            ("MSH|^~\\&\r", .missingControlID(offset: 8)),
            ("MSH|^~\\&|A|B|C|D|T||ADT^A01", .missingControlID(offset: 27)),
            ("MSH|^~\\&|A|B|C|D|T||ADT^A01\rPID|1|ID", .missingControlID(offset: 27)),
            ("MSH|^~\\&|A|B|C|D|T||ADT^A01||P|2.5.1", .missingControlID(offset: 28)),
            ("MSH|^~\\&|A\tB|C", .controlCharacter(byte: 0x09, offset: 10)),
            ("MSH|^~\\&|A|B|C|D|T||ADT^A01|I\u{00}D|P", .controlCharacter(byte: 0x00, offset: 29)),
            ("MSH|^~\\&|A|B|C|D|T||ADT^A01|ID|P\u{7F}", .controlCharacter(byte: 0x7F, offset: 32)),
            ("MSH|^~\\&|A\u{1C}|B", .controlCharacter(byte: 0x1C, offset: 10)),
        ]
    )
    func errors(input: String, expected: MSHParseError) {
        #expect(throws: expected) { try MSHParser.parse(.bytes(input)) }
    }

    @Test("a 200-byte control ID is rejected")
    func controlIDTooLong() {
        let id = String(repeating: "9", count: MSHParser.maximumControlIDLength + 1)
        #expect(throws: MSHParseError.controlIDTooLong(length: 200, offset: 28)) {
            try MSHParser.parse(.bytes("MSH|^~\\&|A|B|C|D|T||ADT^A01|\(id)|P|2.5.1\r"))
        }
    }

    @Test("every truncation of a valid MSH before MSH-10 fails with a typed error, never a crash")
    func truncations() throws {
        let full = "MSH|^~\\&|A|B|C|D|T||ADT^A01|ID1|P|2.5.1\r"
        for length in 0..<full.utf8.count {
            let prefix = String(decoding: full.utf8.prefix(length), as: UTF8.self)
            do {
                let header = try MSHParser.parse(.bytes(prefix))
                #expect(length > 28, "parsed a prefix without a complete MSH-10: \(prefix.debugDescription)")
                #expect("ID1".hasPrefix(header.controlID))
            } catch {
                #expect(length <= 28, "rejected \(prefix.debugDescription): \(error)")
            }
        }
    }

    @Test("errors report their offset and say what is wrong")
    func errorDescriptions() {
        #expect(MSHParseError.notMSH(segmentID: "PID").offset == 0)
        #expect(
            MSHParseError.notMSH(segmentID: "PID").description
                == "payload does not start with an MSH segment (found \"PID\") at payload offset 0"
        )
        #expect(MSHParseError.controlCharacter(byte: 0x09, offset: 10).offset == 10)
        #expect(
            MSHParseError.controlCharacter(byte: 0x09, offset: 10).description
                == "control character 0x09 in MSH at payload offset 10"
        )
        #expect(
            MSHParseError.missingControlID(offset: 27).description
                == "MSH-10 message control ID missing at payload offset 27"
        )
        #expect(
            MSHParseError.batchNotSupported(segmentID: "FHS").description
                == "HL7 batch header FHS at payload offset 0: batches are not supported"
        )
    }
}

import NIOCore
import PacsgateHL7
import Testing

@Suite("HL7AckBuilder")
struct HL7AckBuilderTests {
    /// 2025-01-01T12:00:00Z.
    static let noon = Int64(1_735_732_800)

    static func acknowledgment(
        of message: String,
        code: HL7AcknowledgmentCode,
        error: HL7AckBuilder.ErrorDetail? = nil,
        controlID: String = "GW-000001",
        timestamp: HL7Timestamp = HL7Timestamp(unixSeconds: noon, utcOffsetMinutes: nil)
    ) throws -> String {
        let header = try MSHParser.parse(.bytes(message))
        var buffer = ByteBuffer()
        let written = HL7AckBuilder.writeAcknowledgment(
            replyingTo: header,
            code: code,
            error: error,
            controlID: controlID,
            timestamp: timestamp,
            into: &buffer
        )
        #expect(written == buffer.readableBytes)
        return buffer.text
    }

    @Test("byte-exact: the protocols.md §2.5 example")
    func protocolsExample() throws {
        let nak = try Self.acknowledgment(
            of: "MSH|^~\\&|RIS|HOSP|PACS|MACH7|20250101115959||ORM^O01|MSG00001|P|2.5.1\rPID|1||X\r",
            code: .applicationReject,
            error: .init(code: .applicationInternalError)
        )
        #expect(
            nak
                == "\u{0B}MSH|^~\\&|PACS|MACH7|RIS|HOSP|20250101120000||ACK^O01^ACK|GW-000001|P|2.5.1\r"
                + "MSA|AR|MSG00001\r"
                + "ERR|||207^Application internal error^HL70357|E\r\u{1C}\r"
        )
    }

    @Test("byte-exact: AA for the v2.3 sample (MSH-9 is plain ACK before v2.3.1)")
    func acceptV23() throws {
        let sample = try Fixture.load("messages", "adt-a01-v2.3.hl7")
        let ack = try Self.acknowledgment(
            of: sample.text,
            code: .applicationAccept,
            controlID: "GW-1",
            timestamp: HL7Timestamp(unixSeconds: Self.noon, utcOffsetMinutes: 60)
        )
        #expect(
            ack
                == "\u{0B}MSH|^~\\&|PACS|MACH7|REGADT|SYNTHHOSP|20250101130000+0100||ACK|GW-1|P|2.3\r"
                + "MSA|AA|ADT0000001\r\u{1C}\r"
        )
    }

    @Test("byte-exact: v2.5.1 NAK with a diagnostic in ERR-7, escaped")
    func diagnosticV251() throws {
        let nak = try Self.acknowledgment(
            of: "MSH|^~\\&|RIS|HOSP|PACS|MACH7|T||ORM^O01^ORM_O01|MSG2|P|2.5.1\r",
            code: .applicationError,
            error: .init(code: .segmentSequenceError, diagnostic: "bad |^~\\& at byte 7\r\u{0B}\u{1C}")
        )
        #expect(
            nak
                == "\u{0B}MSH|^~\\&|PACS|MACH7|RIS|HOSP|20250101120000||ACK^O01^ACK|GW-000001|P|2.5.1\r"
                + "MSA|AE|MSG2\r"
                + "ERR|||100^Segment sequence error^HL70357|E|||"
                + "bad \\F\\\\S\\\\R\\\\E\\\\T\\ at byte 7\\X0D\\\\X0B\\\\X1C\\\r"
                + "\u{1C}\r"
        )
    }

    @Test("byte-exact: pre-v2.5 NAK uses MSA-3 and ERR-1")
    func diagnosticV23() throws {
        let withDiagnostic = try Self.acknowledgment(
            of: "MSH|^~\\&|RIS|HOSP|PACS|MACH7|T||ORM^O01|MSG3|P|2.3\r",
            code: .applicationError,
            error: .init(code: .applicationInternalError, diagnostic: "framing defect at byte 7")
        )
        #expect(
            withDiagnostic
                == "\u{0B}MSH|^~\\&|PACS|MACH7|RIS|HOSP|20250101120000||ACK|GW-000001|P|2.3\r"
                + "MSA|AE|MSG3|framing defect at byte 7\r"
                + "ERR|^^^207&Application internal error&HL70357\r\u{1C}\r"
        )
        let withoutDiagnostic = try Self.acknowledgment(
            of: "MSH|^~\\&|RIS|HOSP|PACS|MACH7|T||ORM^O01|MSG3|P|2.4\r",
            code: .applicationReject,
            error: .init(code: .unsupportedVersionID)
        )
        #expect(
            withoutDiagnostic
                == "\u{0B}MSH|^~\\&|PACS|MACH7|RIS|HOSP|20250101120000||ACK^O01^ACK|GW-000001|P|2.4\r"
                + "MSA|AR|MSG3|Unsupported version id\r"
                + "ERR|^^^203&Unsupported version id&HL70357\r\u{1C}\r"
        )
    }

    @Test("byte-exact: the sender's own delimiters are reused and generated values escaped with them")
    func customDelimiters() throws {
        let ack = try Self.acknowledgment(
            of: "MSH#$%@*#APP$1$ISO#FAC#GW#GWF#T##ORM$O01#ID|1#P#2.5.1\r",
            code: .applicationError,
            error: .init(code: .dataTypeError, diagnostic: "x#y$z"),
            controlID: "C#1"
        )
        #expect(
            ack
                == "\u{0B}MSH#$%@*#GW#GWF#APP$1$ISO#FAC#20250101120000##ACK$O01$ACK#C@F@1#P#2.5.1\r"
                + "MSA#AE#ID|1\r"
                + "ERR###102$Data type error$HL70357#E###x@F@y@S@z\r\u{1C}\r"
        )
    }

    @Test("v2.7 truncation character is escaped as \\P\\")
    func truncationCharacter() throws {
        let ack = try Self.acknowledgment(
            of: "MSH|^~\\&#|A|B|C|D|T||ADT^A01^ADT_A01|ID1|P|2.7\r",
            code: .applicationAccept,
            controlID: "N#1"
        )
        #expect(
            ack
                == "\u{0B}MSH|^~\\&#|C|D|A|B|20250101120000||ACK^A01^ACK|N\\P\\1|P|2.7\rMSA|AA|ID1\r\u{1C}\r"
        )
    }

    @Test(
        "MSH-9 and ERR layout by version",
        arguments: [
            ("2.3", "ACK", false),
            ("2.3.1", "ACK^A01^ACK", false),
            ("2.4", "ACK^A01^ACK", false),
            ("2.5", "ACK^A01^ACK", true),
            ("2.5.1^ISO", "ACK^A01^ACK", true),
            ("2.8", "ACK^A01^ACK", true),
            ("", "ACK", false),
            ("v2.5", "ACK", false),
        ]
    )
    func versionLayout(version: String, messageType: String, modernError: Bool) throws {
        let nak = try Self.acknowledgment(
            of: "MSH|^~\\&|A|B|C|D|T||ADT^A01|ID1|P|\(version)\r",
            code: .applicationReject,
            error: .init(code: .applicationInternalError)
        )
        #expect(nak.contains("||\(messageType)|GW-000001|P|\(version)\r"))
        #expect(nak.contains("\rERR|||207^") == modernError)
        #expect(nak.contains("\rERR|^^^207&") == !modernError)
    }

    @Test("no trigger event: MSH-9 is plain ACK")
    func noTrigger() throws {
        let ack = try Self.acknowledgment(of: "MSH|^~\\&|A|B|C|D|T||ADT|ID1|P|2.5.1\r", code: .applicationAccept)
        #expect(ack.contains("||ACK|GW-000001|"))
    }

    @Test("MSA-1 code: application codes in original mode, commit codes when MSH-15 asks for accept ACKs")
    func codeSelection() throws {
        let original = try MSHParser.parse(try Fixture.load("messages", "orm-o01-v2.5.1.hl7"))
        let enhanced = try MSHParser.parse(try Fixture.load("messages", "oru-r01-v2.5.1.hl7"))
        let never = try MSHParser.parse(.bytes("MSH|^~\\&|A|B|C|D|T||ADT^A01|ID1|P|2.5.1|||NE|AL\r"))
        #expect(HL7AckBuilder.code(for: .accepted, replyingTo: original) == .applicationAccept)
        #expect(HL7AckBuilder.code(for: .error, replyingTo: original) == .applicationError)
        #expect(HL7AckBuilder.code(for: .rejected, replyingTo: original) == .applicationReject)
        #expect(HL7AckBuilder.code(for: .accepted, replyingTo: enhanced) == .commitAccept)
        #expect(HL7AckBuilder.code(for: .error, replyingTo: enhanced) == .commitError)
        #expect(HL7AckBuilder.code(for: .rejected, replyingTo: enhanced) == .commitReject)
        #expect(HL7AckBuilder.code(for: .rejected, replyingTo: never) == .applicationReject)
    }

    @Test(
        "round trip: every sample's NAK scans as one frame and parses as its acknowledgment",
        arguments: Fixture.sampleNames
    )
    func roundTrip(name: String) throws {
        let header = try MSHParser.parse(try Fixture.load("messages", name))
        var buffer = ByteBuffer(string: "prefix")
        let written = HL7AckBuilder.writeAcknowledgment(
            replyingTo: header,
            code: HL7AckBuilder.code(for: .rejected, replyingTo: header),
            error: .init(code: .applicationInternalError, diagnostic: "no healthy backend | retry later"),
            controlID: "GW-42",
            timestamp: HL7Timestamp(unixSeconds: Self.noon, utcOffsetMinutes: 0),
            into: &buffer
        )
        #expect(buffer.readString(length: 6) == "prefix")
        #expect(written == buffer.readableBytes)

        var scanner = MLLPFrameScanner()
        let events = scanner.events(from: buffer, pieceSize: 1)
        let frame = try #require(MLLPFrameScanner.frames(in: events).first)
        #expect(events.count == 1)
        let ack = try MSAParser.parse(frame.payload)
        #expect(ack.acknowledgedControlID == header.controlID)
        #expect(ack.code == HL7AckBuilder.code(for: .rejected, replyingTo: header))
        #expect(ack.header.controlID == "GW-42")
        #expect(ack.header.sendingApplication == header.receivingApplication)
        #expect(ack.header.sendingFacility == header.receivingFacility)
        #expect(ack.header.receivingApplication == header.sendingApplication)
        #expect(ack.header.receivingFacility == header.sendingFacility)
        #expect(ack.header.processingID == header.processingID)
        #expect(ack.header.versionID == header.versionID)
        #expect(ack.header.dateTimeOfMessage == "20250101120000+0000")
        #expect(ack.header.segmentTerminator == .carriageReturn)
    }

    @Test("byte-exact: NAK of unreadable input (no MSH): gateway sender, empty MSA-2, escaped ERR-7, parses back")
    func unreadableMessage() throws {
        var buffer = ByteBuffer()
        let written = HL7AckBuilder.writeAcknowledgmentOfUnreadableMessage(
            code: .applicationError,
            error: .init(code: .segmentSequenceError, diagnostic: "found \"PID\" | at byte 1"),
            controlID: "PGT-1",
            timestamp: HL7Timestamp(unixSeconds: Self.noon, utcOffsetMinutes: 0),
            into: &buffer
        )
        #expect(written == buffer.readableBytes)
        #expect(
            buffer.text
                == "\u{0B}MSH|^~\\&|PACSGATE||||20250101120000+0000||ACK|PGT-1|P|2.5.1\r"
                + "MSA|AE|\r"
                + "ERR|||100^Segment sequence error^HL70357|E|||found \"PID\" \\F\\ at byte 1\r\u{1C}\r"
        )
        // MSA-2 is empty, so it is not a valid ACK for MSAParser, but its MSH and framing are.
        var scanner = MLLPFrameScanner()
        let frame = try #require(MLLPFrameScanner.frames(in: scanner.events(from: buffer, pieceSize: 3)).first)
        let header = try MSHParser.parse(frame.payload)
        #expect(header.sendingApplication == "PACSGATE")
        #expect(header.sendingFacility.isEmpty)
        #expect(header.receivingApplication.isEmpty)
        #expect(header.dateTimeOfMessage == "20250101120000+0000")
        #expect(header.messageType == "ACK")
        #expect(header.controlID == "PGT-1")
        #expect(header.versionID == "2.5.1")
        #expect(throws: MSAParseError.missingControlID(offset: 67)) { try MSAParser.parse(frame.payload) }
    }
}

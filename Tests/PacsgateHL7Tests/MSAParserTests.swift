import NIOCore
import PacsgateHL7
import Testing

@Suite("MSAParser")
struct MSAParserTests {
    @Test("python-hl7's ACKs of the three samples")
    func capturedAcks() throws {
        var scanner = MLLPFrameScanner()
        let frames = MLLPFrameScanner.frames(
            in: scanner.events(from: try Fixture.load("captured", "receiver-to-mllp_send.bin"), pieceSize: Int.max)
        )
        let acks = try frames.map { try MSAParser.parse($0.payload) }
        #expect(acks.map(\.code) == [.applicationAccept, .applicationAccept, .applicationAccept])
        #expect(acks.map(\.acknowledgedControlID) == ["ADT0000001", "ORM0000001", "ORU0000001"])
        #expect(acks.map(\.header.messageType) == ["ACK^A01^ACK", "ACK^O01^ACK", "ACK^R01^ACK"])
        #expect(acks.map(\.header.sendingApplication) == ["PACS", "PACS", "PACS"])
        #expect(acks.map(\.header.receivingApplication) == ["REGADT", "RIS", "RIS"])
        #expect(acks.map(\.header.versionID) == ["2.3", "2.5.1", "2.5.1"])
        #expect(acks.allSatisfy { $0.textMessage == nil })
        #expect(acks.allSatisfy { $0.code.isPositive })
    }

    @Test("python-hl7's AR acknowledgment")
    func capturedReject() throws {
        var scanner = MLLPFrameScanner()
        let frames = MLLPFrameScanner.frames(
            in: scanner.events(from: try Fixture.load("captured", "probe-reply-ar.bin"), pieceSize: Int.max)
        )
        let ack = try MSAParser.parse(try #require(frames.first).payload)
        #expect(ack.code == .applicationReject)
        #expect(!ack.code.isPositive)
        #expect(ack.acknowledgedControlID == "PGW-PROBE-000002")
        #expect(ack.header.messageType == "ACK^N02^ACK")
    }

    @Test(
        "all six codes",
        arguments: HL7AcknowledgmentCode.allCases
    )
    func codes(code: HL7AcknowledgmentCode) throws {
        let ack = try MSAParser.parse(.bytes("MSH|^~\\&|A|B|C|D|T||ACK|X1|P|2.5\rMSA|\(code.rawValue)|ID9\r"))
        #expect(ack.code == code)
        #expect(ack.code.isPositive == (code == .applicationAccept || code == .commitAccept))
    }

    @Test("MSA-3 text, SFT/UAC before MSA, blank lines and LF terminators")
    func tolerated() throws {
        let ack = try MSAParser.parse(
            .bytes("MSH|^~\\&|A|B|C|D|T||ACK|X1|P|2.5\r\nSFT|Vendor|1.0\n\rUAC|token\nMSA|AE|ID9|Bad \\F\\ value|x\r")
        )
        #expect(ack.header.segmentTerminator == .carriageReturnLineFeed)
        #expect(ack.code == .applicationError)
        #expect(ack.acknowledgedControlID == "ID9")
        #expect(ack.textMessage == "Bad \\F\\ value")
        #expect(ack.description == "MSA code=AE acknowledges=ID9 control-id=X1")
    }

    @Test("MSA as the last segment without a terminator, and with custom delimiters")
    func unterminatedCustomDelimiters() throws {
        let ack = try MSAParser.parse(.bytes("MSH#$%@*#A#B#C#D#T##ACK#X1#P#2.5\rMSA#CA#ID|9"))
        #expect(ack.code == .commitAccept)
        #expect(ack.acknowledgedControlID == "ID|9")
        #expect(ack.textMessage == nil)
    }

    @Test(
        "exact errors for bad input",
        arguments: [
            ("XYZ|1", MSAParseError.header(.notMSH(segmentID: "XYZ"))),
            ("MSH|^~\\&|A|B|C|D|T||ACK", .header(.missingControlID(offset: 23))),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1", .missingMSA(offset: 26)),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\r", .missingMSA(offset: 27)),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\rMS", .missingMSA(offset: 27)),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\rPID|1|SECRET\rMSA|AA|1", .missingMSA(offset: 27)),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\rERR|||207\rMSA|AA|1", .missingMSA(offset: 27)),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\rMSAX|AA|1", .missingMSA(offset: 27)),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\rSFT|V\rZZZ", .missingMSA(offset: 33)),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\rMSA", .invalidAcknowledgmentCode(found: "", offset: 30)),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\rMSA\r", .invalidAcknowledgmentCode(found: "", offset: 30)),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\rMSA||1", .invalidAcknowledgmentCode(found: "", offset: 31)),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\rMSA|aa|1", .invalidAcknowledgmentCode(found: "aa", offset: 31)),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\rMSA|AAA|1", .invalidAcknowledgmentCode(found: "AAA", offset: 31)),
            (
                "MSH|^~\\&|A|B|C|D|T||ACK|X1\rMSA|ACCEPTED-OK|1",
                .invalidAcknowledgmentCode(found: "ACCEPTED", offset: 31)
            ),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\rMSA|AA", .missingControlID(offset: 33)),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\rMSA|AA\r", .missingControlID(offset: 33)),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\rMSA|AA||text", .missingControlID(offset: 34)),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\rMSA|AA|I\u{00}D", .controlCharacter(byte: 0x00, offset: 35)),
            ("MSH|^~\\&|A|B|C|D|T||ACK|X1\rMSA|AA|ID|t\u{09}", .controlCharacter(byte: 0x09, offset: 38)),
        ]
    )
    func errors(input: String, expected: MSAParseError) {
        #expect(throws: expected) { try MSAParser.parse(.bytes(input)) }
    }

    @Test("MSA-2 longer than 199 bytes is rejected")
    func controlIDTooLong() {
        let id = String(repeating: "7", count: 200)
        #expect(throws: MSAParseError.controlIDTooLong(length: 200, offset: 34)) {
            try MSAParser.parse(.bytes("MSH|^~\\&|A|B|C|D|T||ACK|X1\rMSA|AA|\(id)\r"))
        }
    }

    @Test("errors report their offset and say what is wrong")
    func errorDescriptions() {
        #expect(MSAParseError.header(.missingControlID(offset: 23)).offset == 23)
        #expect(
            MSAParseError.header(.missingControlID(offset: 23)).description
                == "acknowledgment header: MSH-10 message control ID missing at payload offset 23"
        )
        #expect(MSAParseError.missingMSA(offset: 27).description == "no MSA segment at payload offset 27")
        #expect(
            MSAParseError.invalidAcknowledgmentCode(found: "aa", offset: 31).description
                == "invalid MSA-1 acknowledgment code \"aa\" at payload offset 31"
        )
        #expect(MSAParseError.controlCharacter(byte: 0, offset: 35).offset == 35)
    }
}

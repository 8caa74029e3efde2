import NIOCore
import PacsgateHL7
import Testing

@Suite("MLLPProbe")
struct MLLPProbeTests {
    /// The configuration the capture script used for its probe requests.
    static let configuration = MLLPProbe.Configuration(
        sendingApplication: "PACSGATE",
        sendingFacility: "HEALTH",
        receivingApplication: "MACH7"
    )
    static let timestamp = HL7Timestamp(unixSeconds: 1_735_732_800, utcOffsetMinutes: 0)

    static func probe(controlID: String = "PGW-PROBE-000001") throws -> MLLPProbe {
        try MLLPProbe(configuration: Self.configuration, controlID: controlID, timestamp: Self.timestamp)
    }

    /// Feeds `reply` in pieces; returns the first verdict and checks every later call agrees.
    static func verdict(of reply: ByteBuffer, probe: inout MLLPProbe, pieceSize: Int = Int.max) -> MLLPProbe.Verdict? {
        var verdict: MLLPProbe.Verdict?
        var remaining = reply
        while remaining.readableBytes > 0 {
            var piece = remaining.readSlice(length: min(pieceSize, remaining.readableBytes)) ?? ByteBuffer()
            let result = probe.receive(&piece)
            #expect(piece.readableBytes == 0)
            if let earlier = verdict {
                #expect(result == earlier)
            } else {
                verdict = result
            }
        }
        return verdict
    }

    @Test("the request is byte-identical to the one python-hl7 acknowledged in the capture")
    func requestMatchesCapture() throws {
        var request = ByteBuffer()
        let written = try Self.probe().writeRequest(into: &request)
        #expect(written == request.readableBytes)
        #expect(request == (try Fixture.load("captured", "probe-request.bin")))

        var second = ByteBuffer()
        try Self.probe(controlID: "PGW-PROBE-000002").writeRequest(into: &second)
        #expect(second == (try Fixture.load("captured", "probe-request-ar.bin")))
    }

    @Test("the request is an MSH-only NMD^N02 with the default configuration")
    func defaultRequest() throws {
        let probe = try MLLPProbe(controlID: "P1", timestamp: Self.timestamp)
        var request = ByteBuffer()
        probe.writeRequest(into: &request)
        #expect(
            request.text == "\u{0B}MSH|^~\\&|PACSGATE||||20250101120000+0000||NMD^N02^NMD_N02|P1|P|2.5.1\r\u{1C}\r"
        )
        var scanner = MLLPFrameScanner()
        let frame = try #require(MLLPFrameScanner.frames(in: scanner.events(from: request, pieceSize: Int.max)).first)
        let header = try MSHParser.parse(frame.payload)
        #expect(header.messageType == "NMD^N02^NMD_N02")
        #expect(header.controlID == "P1")
    }

    @Test("before v2.3.1 the request's MSH-9 has no message structure")
    func legacyRequest() throws {
        var configuration = MLLPProbe.Configuration()
        configuration.versionID = "2.3"
        configuration.processingID = "T"
        let probe = try MLLPProbe(configuration: configuration, controlID: "P1", timestamp: Self.timestamp)
        var request = ByteBuffer()
        probe.writeRequest(into: &request)
        #expect(request.text == "\u{0B}MSH|^~\\&|PACSGATE||||20250101120000+0000||NMD^N02|P1|T|2.3\r\u{1C}\r")
    }

    @Test("python-hl7's AA reply: healthy, whole and one byte at a time", arguments: [1, 2, 7, Int.max])
    func healthyReply(pieceSize: Int) throws {
        var probe = try Self.probe()
        let reply = try Fixture.load("captured", "probe-reply-aa.bin")
        #expect(Self.verdict(of: reply, probe: &probe, pieceSize: pieceSize) == .healthy(.applicationAccept))
        #expect(probe.connectionClosed() == .healthy(.applicationAccept))
        #expect(probe.timedOut() == .healthy(.applicationAccept))
    }

    @Test("nothing is decided before the reply is complete")
    func needsWholeReply() throws {
        var probe = try Self.probe()
        var reply = try Fixture.load("captured", "probe-reply-aa.bin")
        var head = reply.readSlice(length: reply.readableBytes - 1) ?? ByteBuffer()
        #expect(probe.receive(&head) == nil)
        #expect(probe.receive(&reply) == .healthy(.applicationAccept))
    }

    @Test("python-hl7's AR reply: unhealthy, naming the code")
    func rejectReply() throws {
        var probe = try Self.probe(controlID: "PGW-PROBE-000002")
        let verdict = Self.verdict(of: try Fixture.load("captured", "probe-reply-ar.bin"), probe: &probe)
        #expect(verdict == .unhealthy(.negativeAcknowledgment(.applicationReject, text: nil)))
        #expect(verdict?.description == "unhealthy: negative acknowledgment AR")
    }

    @Test("a reply for another control ID is unhealthy")
    func wrongControlID() throws {
        var probe = try Self.probe(controlID: "PGW-PROBE-000009")
        let verdict = Self.verdict(of: try Fixture.load("captured", "probe-reply-aa.bin"), probe: &probe)
        #expect(verdict == .unhealthy(.controlIDMismatch(expected: "PGW-PROBE-000009", received: "PGW-PROBE-000001")))
        #expect(
            verdict?.description
                == "unhealthy: acknowledgment is for control ID \"PGW-PROBE-000001\", expected \"PGW-PROBE-000009\""
        )
    }

    @Test("an unframed ACK is unhealthy and says so")
    func unframedReply() throws {
        var probe = try Self.probe()
        let reply = ByteBuffer.bytes("MSH|^~\\&|MACH7||PACSGATE|HEALTH|T||ACK|1|P|2.5.1\rMSA|AA|PGW-PROBE-000001\r")
        #expect(reply.readableBytes == 73)
        let verdict = Self.verdict(of: reply, probe: &probe)
        #expect(verdict == .unhealthy(.unframedReply(byteCount: 73, firstByte: UInt8(ascii: "M"))))
        #expect(
            verdict?.description
                == "unhealthy: reply is not MLLP-framed: 73 byte(s) before any start block, first byte 0x4D "
                + "(an unframed HL7 message?)"
        )
    }

    @Test("garbage, negative MSA text, broken framing and commit NAKs are unhealthy")
    func unhealthyReplies() throws {
        let ack = "MSH|^~\\&|MACH7||PACSGATE||T||ACK|1|P|2.5.1\rMSA|AE|PGW-PROBE-000001|no route\r"
        let cases: [(ByteBuffer, MLLPProbe.Verdict)] = [
            (.framed("HTTP/1.1 400"), .unhealthy(.invalidAcknowledgment(.header(.notMSH(segmentID: "HTT"))))),
            (.framed(ack), .unhealthy(.negativeAcknowledgment(.applicationError, text: "no route"))),
            (
                .framed("MSH|^~\\&|A|B|C|D|T||ACK|1|P|2.5.1\r"),
                .unhealthy(.invalidAcknowledgment(.missingMSA(offset: 34)))
            ),
            (.bytes("\u{0B}\u{15}\u{1C}\r"), .unhealthy(.commitNegativeAcknowledgment)),
            (
                .bytes("\u{0B}MSH\u{1C}X"),
                .unhealthy(
                    .framingDefect(
                        .endBlockNotFollowedByCarriageReturn(
                            offset: 4,
                            frameOffset: 0,
                            followingByte: 0x58,
                            payload: .bytes("MSH")
                        )
                    )
                )
            ),
        ]
        for (reply, expected) in cases {
            var probe = try Self.probe()
            #expect(Self.verdict(of: reply, probe: &probe) == expected)
        }
    }

    @Test("filler and an MLLP R2 commit ACK before the ACK are skipped")
    func tolerated() throws {
        var reply = ByteBuffer.bytes("\n\u{0B}\u{06}\u{1C}\r")
        reply.writeImmutableBuffer(try Fixture.load("captured", "probe-reply-aa.bin"))
        var probe = try Self.probe()
        #expect(Self.verdict(of: reply, probe: &probe, pieceSize: 1) == .healthy(.applicationAccept))
    }

    @Test("closed or timed out before a complete reply")
    func noReply() throws {
        var closed = try Self.probe()
        var partial = ByteBuffer.bytes("\u{0B}MSH|^~")
        #expect(closed.receive(&partial) == nil)
        #expect(closed.connectionClosed() == .unhealthy(.closedBeforeReply(receivedBytes: 7)))
        #expect(closed.timedOut() == .unhealthy(.closedBeforeReply(receivedBytes: 7)))
        #expect(
            closed.connectionClosed().description
                == "unhealthy: connection closed before a complete reply (7 byte(s) received)"
        )

        var silent = try Self.probe()
        #expect(silent.timedOut() == .unhealthy(.timedOut(receivedBytes: 0)))
        var late = try Fixture.load("captured", "probe-reply-aa.bin")
        #expect(silent.receive(&late) == .unhealthy(.timedOut(receivedBytes: 0)))
        #expect(late.readableBytes == 0)
    }

    @Test(
        "configuration errors",
        arguments: [
            (
                MLLPProbe.Configuration(sendingApplication: "A|B"), "P1",
                MLLPProbe.ConfigurationError.invalidCharacter(field: "MSH-3", offset: 1)
            ),
            (MLLPProbe.Configuration(sendingFacility: "F~"), "P1", .invalidCharacter(field: "MSH-4", offset: 1)),
            (MLLPProbe.Configuration(receivingApplication: "\\E"), "P1", .invalidCharacter(field: "MSH-5", offset: 0)),
            (MLLPProbe.Configuration(receivingFacility: "F\r"), "P1", .invalidCharacter(field: "MSH-6", offset: 1)),
            (MLLPProbe.Configuration(processingID: "P\u{1C}"), "P1", .invalidCharacter(field: "MSH-11", offset: 1)),
            (MLLPProbe.Configuration(versionID: "2.5\u{7F}"), "P1", .invalidCharacter(field: "MSH-12", offset: 3)),
            (MLLPProbe.Configuration(), "P^1", .invalidCharacter(field: "MSH-10", offset: 1)),
            (MLLPProbe.Configuration(), "P&1", .invalidCharacter(field: "MSH-10", offset: 1)),
            (MLLPProbe.Configuration(), "", .emptyControlID),
            (MLLPProbe.Configuration(), String(repeating: "1", count: 200), .controlIDTooLong(length: 200)),
        ]
    )
    func configurationErrors(
        configuration: MLLPProbe.Configuration,
        controlID: String,
        expected: MLLPProbe.ConfigurationError
    ) {
        #expect(throws: expected) {
            try MLLPProbe(configuration: configuration, controlID: controlID, timestamp: Self.timestamp)
        }
    }

    @Test("HD components are allowed in application and facility")
    func componentsAllowed() throws {
        let probe = try MLLPProbe(
            configuration: .init(sendingApplication: "PACSGATE^1.2.3^ISO", sendingFacility: "A&B"),
            controlID: "P1",
            timestamp: Self.timestamp
        )
        var request = ByteBuffer()
        probe.writeRequest(into: &request)
        #expect(request.text.hasPrefix("\u{0B}MSH|^~\\&|PACSGATE^1.2.3^ISO|A&B|"))
        #expect(probe.controlID == "P1")
    }
}

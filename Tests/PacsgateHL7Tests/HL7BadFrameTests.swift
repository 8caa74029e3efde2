import Foundation
import NIOCore
import NIOPosix
import PacsgateCore
import PacsgateHL7
import Testing
import PacsgateTestSupport

/// Must show 2: every bad-frame case through a real gateway in front of a real receiver (python-hl7): the exact NAK
/// bytes (or the close), one `hl7.rejected` record, nothing invalid forwarded, and the connection still usable
/// where MLLP allows it. The gateway's clock is fixed at 2025-01-01T12:00:00Z and its NAK control IDs are
/// `PGT-1`, `PGT-2`, …
@Suite("HL7 gateway: bad frames")
struct HL7BadFrameTests {
    /// A gateway in front of a fresh python-hl7 receiver, and a client connected to it.
    struct Rig {
        let directory: TemporaryDirectory
        let receiver: HL7Receiver
        let gateway: HL7TestGateway
        let client: MLLPTestClient

        static func start(extra: String = "") async throws -> Rig {
            let directory = try TemporaryDirectory()
            let receiver = try await HL7Receiver.start(in: directory)
            let gateway = try await HL7TestGateway.start(serverPorts: [receiver.port], extra: extra, in: directory)
            let client = try await MLLPTestClient.connect(port: try await gateway.port())
            return Rig(directory: directory, receiver: receiver, gateway: gateway, client: client)
        }

        /// The one `hl7.rejected` record (waits for it).
        func rejection() async throws -> [String: Any] {
            let records = await self.gateway.awaitRecords("hl7.rejected", count: 1)
            #expect(records.count == 1, "expected exactly one hl7.rejected record")
            return try #require(records.first)
        }

        /// Proves the connection still works: a valid message gets the backend's AA.
        func expectUsable(afterFrames earlier: Int, controlID: String) async throws {
            try await self.client.send(.framed(HL7Samples.order(controlID)))
            let frames = try await self.client.frames(earlier + 1)
            #expect(frames[earlier].text.contains("MSA|AA|\(controlID)\r"), "no AA for \(controlID)")
        }

        func stop() async {
            await self.client.close()
            await self.gateway.stop()
            self.receiver.stop()
            #expect(!self.gateway.auditText().contains(HL7Samples.patientMarker))
            #expect(!self.gateway.logs.rendered.contains { $0.contains(HL7Samples.patientMarker) })
            self.directory.remove()
        }
    }

    /// The fields every rejection record must carry.
    static func expect(
        _ record: [String: Any],
        reason: String,
        offset: Int,
        bytes: Int,
        action: String,
        nakCode: String?,
        controlID: String?,
        detail: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(record["service"] as? String == "HL7", sourceLocation: sourceLocation)
        #expect(record["reason"] as? String == reason, sourceLocation: sourceLocation)
        #expect(record["offset"] as? Int == offset, sourceLocation: sourceLocation)
        #expect(record["bytes"] as? Int == bytes, sourceLocation: sourceLocation)
        #expect(record["action"] as? String == action, sourceLocation: sourceLocation)
        #expect(record["nak_code"] as? String == nakCode, sourceLocation: sourceLocation)
        #expect(record["control_id"] as? String == controlID, sourceLocation: sourceLocation)
        #expect(record["detail"] as? String == detail, sourceLocation: sourceLocation)
    }

    /// Independently of the exact-bytes check: the NAK parses as an HL7 ACK with the fields a sender reads.
    static func expectParsableNAK(
        _ frame: ByteBuffer,
        code: String,
        acknowledging controlID: String?,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let payload = try #require(frame.getSlice(at: frame.readerIndex + 1, length: frame.readableBytes - 3))
        let header = try MSHParser.parse(payload)
        #expect(header.messageType.hasPrefix("ACK"), sourceLocation: sourceLocation)
        #expect(header.controlID.hasPrefix("PGT-"), sourceLocation: sourceLocation)
        #expect(header.dateTimeOfMessage == "20250101120000+0000", sourceLocation: sourceLocation)
        if let controlID {
            let acknowledgment = try MSAParser.parse(payload)
            #expect(acknowledgment.code.rawValue == code, sourceLocation: sourceLocation)
            #expect(acknowledgment.acknowledgedControlID == controlID, sourceLocation: sourceLocation)
        } else {
            #expect(frame.text.contains("\rMSA|\(code)|\r"), sourceLocation: sourceLocation)
        }
    }

    @Test("data before a start block: skipped without a NAK (nothing to address it to), audited, next frame forwarded")
    func dataBeforeStartBlock() async throws {
        let rig = try await Rig.start()
        let junk = "GARBAGE LOG LINE\n"
        let valid = ByteBuffer.framed(HL7Samples.order("J1"))
        var write = ByteBuffer(string: junk)
        write.writeImmutableBuffer(valid)
        try await rig.client.send(write)

        let frames = try await rig.client.frames(1)
        #expect(frames[0].text.contains("MSA|AA|J1\r"), "the frame after the junk must reach the backend")
        Self.expect(
            try await rig.rejection(),
            reason: "data_before_start_block",
            offset: 0,
            bytes: junk.utf8.count,
            action: "discard",
            nakCode: nil,
            controlID: nil,
            detail: "17 byte(s) before a start block at byte 0 (first byte 0x47)"
        )
        #expect(await eventually { rig.receiver.receivedBytes().count >= valid.readableBytes })
        #expect(rig.receiver.receivedBytes().elementsEqual(valid.readableBytesView), "junk reached the backend")
        #expect(rig.client.received.readableBytes == frames[0].readableBytes, "a NAK was sent for junk")
        try await rig.expectUsable(afterFrames: 1, controlID: "J2")
        await rig.stop()
    }

    @Test("a start block inside a frame: AR NAK for the abandoned message, the new frame is forwarded")
    func startBlockInsideFrame() async throws {
        let rig = try await Rig.start()
        let abandoned = "\u{0B}" + HL7Samples.order("S1")
        let valid = ByteBuffer.framed(HL7Samples.order("S2"))
        var write = ByteBuffer(string: abandoned)
        write.writeImmutableBuffer(valid)
        try await rig.client.send(write)

        let frames = try await rig.client.frames(2)
        let detail = "start block 0x0B at byte \(abandoned.utf8.count) inside the frame started at byte 0"
        #expect(
            frames[0].text
                == "\u{0B}MSH|^~\\&|PACS|MACH7|RIS|HOSP|20250101120000+0000||ACK^O01^ACK|PGT-1|P|2.5.1\r"
                + "MSA|AR|S1\r"
                + "ERR|||207^Application internal error^HL70357|E|||\(detail)\r\u{1C}\r",
            "NAK was \(frames[0].visible)"
        )
        #expect(frames[1].text.contains("MSA|AA|S2\r"))
        try Self.expectParsableNAK(frames[0], code: "AR", acknowledging: "S1")
        Self.expect(
            try await rig.rejection(),
            reason: "start_block_inside_frame",
            offset: 0,
            bytes: abandoned.utf8.count,
            action: "nak",
            nakCode: "AR",
            controlID: "S1",
            detail: detail
        )
        #expect(rig.receiver.receivedBytes().elementsEqual(valid.readableBytesView), "the partial frame was forwarded")
        try await rig.expectUsable(afterFrames: 2, controlID: "S3")
        await rig.stop()
    }

    @Test("an end block not followed by CR: AR NAK, the frame is dropped, the next one forwarded")
    func endBlockWithoutCarriageReturn() async throws {
        let rig = try await Rig.start()
        let broken = "\u{0B}" + HL7Samples.order("E1") + "\u{1C}"
        let valid = ByteBuffer.framed(HL7Samples.order("E2"))
        var write = ByteBuffer(string: broken)
        write.writeImmutableBuffer(valid)
        try await rig.client.send(write)

        let frames = try await rig.client.frames(2)
        let endBlock = broken.utf8.count - 1
        let detail = "end block 0x1C at byte \(endBlock) followed by 0x0B instead of 0x0D (frame started at byte 0)"
        #expect(
            frames[0].text
                == "\u{0B}MSH|^~\\&|PACS|MACH7|RIS|HOSP|20250101120000+0000||ACK^O01^ACK|PGT-1|P|2.5.1\r"
                + "MSA|AR|E1\r"
                + "ERR|||207^Application internal error^HL70357|E|||\(detail)\r\u{1C}\r",
            "NAK was \(frames[0].visible)"
        )
        #expect(frames[1].text.contains("MSA|AA|E2\r"))
        try Self.expectParsableNAK(frames[0], code: "AR", acknowledging: "E1")
        Self.expect(
            try await rig.rejection(),
            reason: "end_block_without_cr",
            offset: 0,
            bytes: broken.utf8.count,
            action: "nak",
            nakCode: "AR",
            controlID: "E1",
            detail: detail
        )
        #expect(rig.receiver.receivedBytes().elementsEqual(valid.readableBytesView))
        try await rig.expectUsable(afterFrames: 2, controlID: "E3")
        await rig.stop()
    }

    @Test("no end block within max_message_bytes: AR NAK, then close (the message's end cannot be found)")
    func missingEndBlock() async throws {
        let rig = try await Rig.start(extra: "    max_message_bytes: 1KiB")
        let valid = ByteBuffer.framed(HL7Samples.order("L0"))
        try await rig.client.send(valid)
        let first = try await rig.client.frames(1)
        #expect(first[0].text.contains("MSA|AA|L0\r"))
        try await rig.client.send(
            ByteBuffer(string: "\u{0B}" + HL7Samples.order("L1") + String(repeating: "X", count: 2000))
        )

        let frames = try await rig.client.frames(2)
        let start = valid.readableBytes
        let detail =
            "frame started at byte \(start) exceeds 1024 payload bytes without an end block (at byte \(start + 1025))"
        let nak =
            "\u{0B}MSH|^~\\&|PACS|MACH7|RIS|HOSP|20250101120000+0000||ACK^O01^ACK|PGT-1|P|2.5.1\r"
            + "MSA|AR|L1\r"
            + "ERR|||207^Application internal error^HL70357|E|||\(detail)\r\u{1C}\r"
        #expect(frames[1].text == nak, "NAK was \(frames[1].visible)")
        try Self.expectParsableNAK(frames[1], code: "AR", acknowledging: "L1")
        #expect(await rig.client.awaitClose(), "the gateway must close after an oversized frame")
        Self.expect(
            try await rig.rejection(),
            reason: "frame_too_large",
            offset: start,
            bytes: 1025,
            action: "nak_and_close",
            nakCode: "AR",
            controlID: "L1",
            detail: detail
        )
        #expect(rig.receiver.receivedBytes().elementsEqual(valid.readableBytesView))
        await rig.stop()
    }

    @Test("a payload that does not start with MSH: AE NAK from the gateway (MSA-2 unknown), connection goes on")
    func payloadNotMSH() async throws {
        let rig = try await Rig.start()
        let frame = ByteBuffer.framed("PID|1||MRN-\(HL7Samples.patientMarker)^^^SYN^MR\r")
        try await rig.client.send(frame)

        let frames = try await rig.client.frames(1)
        let detail =
            "payload does not start with an MSH segment (found \"PID\") at payload offset 0 (byte 1 of the connection)"
        #expect(
            frames[0].text
                == "\u{0B}MSH|^~\\&|PACSGATE||||20250101120000+0000||ACK|PGT-1|P|2.5.1\r"
                + "MSA|AE|\r"
                + "ERR|||100^Segment sequence error^HL70357|E|||\(detail)\r\u{1C}\r",
            "NAK was \(frames[0].visible)"
        )
        try Self.expectParsableNAK(frames[0], code: "AE", acknowledging: nil)
        Self.expect(
            try await rig.rejection(),
            reason: "not_msh",
            offset: 0,
            bytes: frame.readableBytes,
            action: "nak",
            nakCode: "AE",
            controlID: nil,
            detail: detail
        )
        #expect(rig.receiver.receivedBytes().isEmpty, "the invalid payload reached the backend")
        try await rig.expectUsable(afterFrames: 1, controlID: "N2")
        await rig.stop()
    }

    @Test("an unparseable MSH (no MSH-10) in a good frame: AE NAK naming the field and offset, connection goes on")
    func unparseableMSH() async throws {
        let rig = try await Rig.start()
        let prefix = "MSH|^~\\&|RIS|HOSP|PACS|MACH7|20250101115959||ORM^O01|"
        let payload = prefix + "|P|2.5.1\rPID|1||MRN^^^SYN^MR||\(HL7Samples.patientMarker)\r"
        let frame = ByteBuffer.framed(payload)
        try await rig.client.send(frame)

        let frames = try await rig.client.frames(1)
        let offset = prefix.utf8.count
        let detail =
            "MSH-10 message control ID missing at payload offset \(offset) (byte \(offset + 1) of the connection)"
        #expect(
            frames[0].text
                == "\u{0B}MSH|^~\\&|PACSGATE||||20250101120000+0000||ACK|PGT-1|P|2.5.1\r"
                + "MSA|AE|\r"
                + "ERR|||101^Required field missing^HL70357|E|||\(detail)\r\u{1C}\r",
            "NAK was \(frames[0].visible)"
        )
        try Self.expectParsableNAK(frames[0], code: "AE", acknowledging: nil)
        Self.expect(
            try await rig.rejection(),
            reason: "invalid_msh",
            offset: 0,
            bytes: frame.readableBytes,
            action: "nak",
            nakCode: "AE",
            controlID: nil,
            detail: detail
        )
        #expect(rig.receiver.receivedBytes().isEmpty)
        try await rig.expectUsable(afterFrames: 1, controlID: "M2")
        await rig.stop()
    }

    @Test("on_invalid: close: a bad frame closes the connection without a NAK; nothing after it is forwarded")
    func closePolicy() async throws {
        let rig = try await Rig.start(extra: "    on_invalid: close")
        let valid = ByteBuffer.framed(HL7Samples.order("C1"))
        try await rig.client.send(valid)
        _ = try await rig.client.frames(1)

        let abandoned = "\u{0B}" + HL7Samples.order("C2")
        var write = ByteBuffer(string: abandoned)
        write.writeImmutableBuffer(.framed(HL7Samples.order("C3")))
        try await rig.client.send(write)

        #expect(await rig.client.awaitClose())
        #expect(MLLPTestClient.split(rig.client.received).count == 1, "something was answered after the bad frame")
        let start = valid.readableBytes
        Self.expect(
            try await rig.rejection(),
            reason: "start_block_inside_frame",
            offset: start,
            bytes: abandoned.utf8.count,
            action: "close",
            nakCode: nil,
            controlID: "C2",
            detail: "start block 0x0B at byte \(start + abandoned.utf8.count) inside the frame started at byte \(start)"
        )
        #expect(rig.receiver.receivedBytes().elementsEqual(valid.readableBytesView))
        await rig.stop()
    }

    @Test("the client leaves in the middle of a frame: the partial message is audited, never forwarded")
    func incompleteFrameAtClose() async throws {
        let rig = try await Rig.start()
        let valid = ByteBuffer.framed(HL7Samples.order("I1"))
        try await rig.client.send(valid)
        _ = try await rig.client.frames(1)
        let partial = "\u{0B}" + HL7Samples.order("I2")
        try await rig.client.send(ByteBuffer(string: partial))
        try await Task.sleep(for: .milliseconds(200))
        await rig.client.close()

        let start = valid.readableBytes
        Self.expect(
            try await rig.rejection(),
            reason: "incomplete_frame",
            offset: start,
            bytes: partial.utf8.count,
            action: "discard",
            nakCode: nil,
            controlID: "I2",
            detail: "input ended at byte \(start + partial.utf8.count) inside the frame started at byte \(start)"
        )
        #expect(rig.receiver.receivedBytes().elementsEqual(valid.readableBytesView))
        let messages = await rig.gateway.awaitRecords("hl7.message", count: 1)
        #expect(messages.first?["control_id"] as? String == "I1")
        #expect(messages.first?["ack_code"] as? String == "AA")
        await rig.stop()
    }

    @Test("no server can take the connection: AR NAK from the peeked MSH, then close")
    func serverUnavailable() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // A port nothing listens on: every connect is refused (a Mach7 node that is down).
        let closed = try await Self.unusedPort()
        let gateway = try await HL7TestGateway.start(serverPorts: [closed], in: directory)
        let client = try await MLLPTestClient.connect(port: try await gateway.port())
        try await client.send(.framed(HL7Samples.order("U1")))

        let frames = try await client.frames(1)
        let detail = "connect failed: all 1 tried servers failed"
        #expect(
            frames[0].text
                == "\u{0B}MSH|^~\\&|PACS|MACH7|RIS|HOSP|20250101120000+0000||ACK^O01^ACK|PGT-1|P|2.5.1\r"
                + "MSA|AR|U1\r"
                + "ERR|||207^Application internal error^HL70357|E|||\(detail)\r\u{1C}\r",
            "NAK was \(frames[0].visible)"
        )
        try Self.expectParsableNAK(frames[0], code: "AR", acknowledging: "U1")
        #expect(await client.awaitClose())
        let records = await gateway.awaitRecords("hl7.rejected", count: 1)
        let record = try #require(records.first)
        Self.expect(
            record,
            reason: "server_unavailable",
            offset: 0,
            bytes: ByteBuffer.framed(HL7Samples.order("U1")).readableBytes,
            action: "nak_and_close",
            nakCode: "AR",
            controlID: "U1",
            detail: detail
        )
        #expect(record["server"] is NSNull)
        await client.close()
        await gateway.stop()
    }

    @Test("mllp_send (a real sender) gets the gateway's AR NAK when no server is up")
    func mllpSendGetsNAKWhenUnavailable() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let gateway = try await HL7TestGateway.start(serverPorts: [try await Self.unusedPort()], in: directory)
        let file = directory.file("one.hl7")
        try Data(ByteBuffer.framed(HL7Samples.order("U9", finalCarriageReturn: false)).readableBytesView)
            .write(to: URL(fileURLWithPath: file))
        let output = try await MLLPSend.run(file: file, port: try await gateway.port(), in: directory)
        #expect(output.contains("|ACK^O01^ACK|PGT-1|P|2.5.1\rMSA|AR|U9\rERR|||207^"), "mllp_send printed \(output)")
        let records = await gateway.awaitRecords("hl7.rejected", count: 1)
        #expect(records.first?["reason"] as? String == "server_unavailable")
        #expect(records.first?["control_id"] as? String == "U9")
        await gateway.stop()
    }

    /// A loopback port that was free a moment ago and has no listener.
    static func unusedPort() async throws -> Int {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let port = try #require(listener.localAddress?.port)
        try await listener.close()
        return port
    }
}

import Foundation
import NIOCore
import PacsgateCore
import Testing
import PacsgateTestSupport

/// Must show 1 and 3: real peers through a real gateway. python-hl7's `mllp_send` and a raw client send; python-hl7's
/// asyncio MLLP server (answering `create_ack()`) receives. Every message arrives byte-identical and in order and
/// gets one `hl7.message` record carrying its MSH fields and the backend's own ACK code.
@Suite("HL7 gateway: forwarding through real peers")
struct HL7GatewayForwardingTests {
    @Test("1,000 messages from mllp_send over one connection: in order, byte-identical, one audit record each")
    func thousandMessagesFromMLLPSend() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // Every 7th message is answered AE, so the audit must carry the backend's code, not a constant.
        let receiver = try await HL7Receiver.start(in: directory, aeEvery: 7)
        defer { receiver.stop() }
        let gateway = try await HL7TestGateway.start(serverPorts: [receiver.port], in: directory)
        let port = try await gateway.port()

        let count = 1000
        var stream: [UInt8] = []
        var headers: [HL7Samples.Header] = []
        var frameSizes: [Int] = []
        for index in 1...count {
            let (text, header) = HL7Samples.feedMessage(index)
            let frame = [0x0B] + Array(text.utf8) + [0x1C, 0x0D]
            stream += frame
            headers.append(header)
            frameSizes.append(frame.count)
        }
        let file = directory.file("feed.hl7")
        try Data(stream).write(to: URL(fileURLWithPath: file))

        let output = try await MLLPSend.run(file: file, port: port, in: directory)

        // mllp_send printed one ACK per message, in order, each echoing that message's control ID.
        let printed = output.utf8.split(separator: UInt8(ascii: "\r")).filter { $0.starts(with: "MSA|".utf8) }
        #expect(printed.count == count)
        for (index, header) in headers.enumerated() where index < printed.count {
            let code = (index + 1) % 7 == 0 ? "AE" : "AA"
            if !printed[index].elementsEqual("MSA|\(code)|\(header.controlID)".utf8) {
                Issue.record(
                    "ACK \(index + 1) printed by mllp_send is \(String(decoding: printed[index], as: UTF8.self))"
                )
            }
        }

        // The receiver got exactly the bytes mllp_send sent, in order.
        #expect(await eventually { receiver.receivedBytes().count >= stream.count })
        let received = receiver.receivedBytes()
        #expect(received.count == stream.count)
        #expect(received.elementsEqual(stream), "bytes at the receiver differ from what mllp_send sent")

        // One durable hl7.message record per message, in order, with its MSH fields and the backend's ACK code.
        let records = await gateway.awaitRecords("hl7.message", count: count)
        #expect(records.count == count)
        for (index, record) in records.prefix(count).enumerated() {
            let header = headers[index]
            let expected: [String: String] = [
                "service": "HL7", "sending_app": header.sendingApp,
                "sending_facility": header.sendingFacility, "receiving_app": header.receivingApp,
                "receiving_facility": header.receivingFacility, "message_type": header.messageType,
                "control_id": header.controlID, "version": header.version,
                "ack_code": (index + 1) % 7 == 0 ? "AE" : "AA",
            ]
            for (key, value) in expected where record[key] as? String != value {
                Issue.record("record \(index + 1): \(key) is \(record[key] ?? "absent"), expected \(value)")
            }
            let server = record["server"] as? [String: Any]
            if server?["label"] as? String != "HL71" || server?["address"] as? String != "127.0.0.1:\(receiver.port)" {
                Issue.record("record \(index + 1): server is \(record["server"] ?? "absent"), expected HL71 at 127.0.0.1:\(receiver.port)")
            }
            if record["bytes"] as? Int != frameSizes[index] {
                Issue.record("record \(index + 1): bytes \(record["bytes"] ?? "absent") != \(frameSizes[index])")
            }
            if ((record["ack_ms"] as? Int) ?? -1) < 0 { Issue.record("record \(index + 1): no ack_ms") }
            if !((record["client"] as? String) ?? "").hasPrefix("127.0.0.1:") {
                Issue.record("record \(index + 1): client \(record["client"] ?? "absent")")
            }
        }
        #expect(gateway.auditRecords("hl7.rejected").isEmpty)
        // Patient data (PID) reaches neither the audit trail nor the logs.
        #expect(!gateway.auditText().contains(HL7Samples.patientMarker))
        #expect(!gateway.logs.rendered.contains { $0.contains(HL7Samples.patientMarker) })
        await gateway.stop()
    }

    @Test("a frame written one byte at a time is reassembled and forwarded unchanged")
    func frameInOneByteWrites() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let receiver = try await HL7Receiver.start(in: directory)
        defer { receiver.stop() }
        let gateway = try await HL7TestGateway.start(serverPorts: [receiver.port], in: directory)
        let client = try await MLLPTestClient.connect(port: try await gateway.port())

        let frame = ByteBuffer.framed(HL7Samples.order("BYTE1"))
        try await client.sendBytewise(frame)
        let acks = try await client.frames(1)
        #expect(acks[0].text.contains("MSA|AA|BYTE1"))
        #expect(receiver.receivedBytes().elementsEqual(frame.readableBytesView))

        let records = await gateway.awaitRecords("hl7.message", count: 1)
        #expect(records.count == 1)
        #expect(records.first?["control_id"] as? String == "BYTE1")
        #expect(records.first?["bytes"] as? Int == frame.readableBytes)
        #expect(records.first?["ack_code"] as? String == "AA")
        #expect(gateway.auditRecords("hl7.rejected").isEmpty)
        await client.close()
        await gateway.stop()
    }

    @Test("100 frames in one write: all forwarded in order, 100 ACKs, 100 audit records")
    func hundredFramesInOneWrite() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let receiver = try await HL7Receiver.start(in: directory)
        defer { receiver.stop() }
        let gateway = try await HL7TestGateway.start(serverPorts: [receiver.port], in: directory)
        let client = try await MLLPTestClient.connect(port: try await gateway.port())

        var batch = ByteBuffer()
        let ids = (1...100).map { "H" + String(repeating: "0", count: 3 - String($0).count) + String($0) }
        for id in ids { batch.writeImmutableBuffer(.framed(HL7Samples.order(id))) }
        try await client.send(batch)

        let acks = try await client.frames(100)
        for (index, id) in ids.enumerated() {
            #expect(acks[index].text.contains("MSA|AA|\(id)\r"), "ACK \(index) is not for \(id)")
        }
        #expect(await eventually { receiver.receivedBytes().count >= batch.readableBytes })
        #expect(receiver.receivedBytes().elementsEqual(batch.readableBytesView))

        let records = await gateway.awaitRecords("hl7.message", count: 100)
        #expect(records.map { $0["control_id"] as? String ?? "" } == ids)
        #expect(records.allSatisfy { $0["ack_code"] as? String == "AA" })
        await client.close()
        await gateway.stop()
    }

    @Test("the connection closes before the ACK: the message is audited with ack_code none")
    func closedBeforeAcknowledgment() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let receiver = try await HL7Receiver.start(in: directory)
        defer { receiver.stop() }
        receiver.mute(true)
        let gateway = try await HL7TestGateway.start(serverPorts: [receiver.port], in: directory)
        let client = try await MLLPTestClient.connect(port: try await gateway.port())

        let frame = ByteBuffer.framed(HL7Samples.order("NOACK1"))
        try await client.send(frame)
        #expect(await eventually { receiver.receivedBytes().count == frame.readableBytes })
        #expect(gateway.auditRecords("hl7.message").isEmpty, "audited before its ACK or the end")
        await client.close()

        let records = await gateway.awaitRecords("hl7.message", count: 1)
        #expect(records.count == 1)
        #expect(records.first?["control_id"] as? String == "NOACK1")
        #expect(records.first?["ack_code"] as? String == "none")
        #expect(records.first?["ack_missing"] as? String == "connection_closed")
        #expect(records.first?["ack_ms"] is NSNull)
        await gateway.stop()
    }

    @Test("no ACK within ack_timeout: audited as none while the connection stays open")
    func acknowledgmentTimeout() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let receiver = try await HL7Receiver.start(in: directory)
        defer { receiver.stop() }
        receiver.mute(true)
        let gateway = try await HL7TestGateway.start(
            serverPorts: [receiver.port],
            extra: "    ack_timeout: 300ms",
            in: directory
        )
        let client = try await MLLPTestClient.connect(port: try await gateway.port())
        try await client.send(.framed(HL7Samples.order("SLOW1")))

        let records = await gateway.awaitRecords("hl7.message", count: 1)
        #expect(records.first?["control_id"] as? String == "SLOW1")
        #expect(records.first?["ack_code"] as? String == "none")
        #expect(records.first?["ack_missing"] as? String == "timeout")
        #expect(!client.isClosed)

        // The connection still carries messages.
        receiver.mute(false)
        try await client.send(.framed(HL7Samples.order("FAST2")))
        let acks = try await client.frames(1)
        #expect(acks[0].text.contains("MSA|AA|FAST2"))
        await client.close()
        await gateway.stop()
    }
}

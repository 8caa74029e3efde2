import NIOCore
import NIOEmbedded
import PacsgateCore
import PacsgateDemo
import Testing

@testable import PacsgateHL7

/// The demo's simulated Mach7 HL7 node: an AA ACK per message, the connection kept open.
@Suite("Simulated HL7 node")
struct SimulatedHL7NodeTests {
    @Test("answers every message with AA, in order, across split reads, and stays open")
    func answersAA() throws {
        let node = SimulatedHL7Node(name: "HL71", clock: { HL7TestGateway.noon })
        let channel = EmbeddedChannel()
        try node.configure(channel)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6667)).wait()

        var input = ByteBuffer.framed(HL7Samples.order("S1"))
        input.writeImmutableBuffer(.framed(HL7Samples.order("S2")))
        var second = input.readSlice(length: input.readableBytes - 5) ?? ByteBuffer()
        try channel.writeInbound(second)
        second = input
        try channel.writeInbound(second)

        var replies = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { replies.writeBuffer(&chunk) }
        let frames = MLLPTestClient.split(replies)
        #expect(frames.count == 2)
        #expect(
            frames.first?.text
                == "\u{0B}MSH|^~\\&|PACS|MACH7|RIS|HOSP|20250101120000+0000||ACK^O01^ACK|HL71-1|P|2.5.1\r"
                + "MSA|AA|S1\r\u{1C}\r"
        )
        #expect(frames.last?.text.contains("|HL71-2|P|2.5.1\rMSA|AA|S2\r") == true)
        #expect(channel.isActive)

        // The health check's test message is acknowledged too.
        var probe = ByteBuffer()
        try MLLPProbe(controlID: "PGW1", timestamp: HL7Timestamp(unixSeconds: 0, utcOffsetMinutes: 0))
            .writeRequest(into: &probe)
        try channel.writeInbound(probe)
        let probeReply = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(probeReply.text.contains("MSA|AA|PGW1\r"))
        _ = try channel.finish()
    }

    @Test("closes its side once the sender has closed its own, after the last ACK")
    func closesAfterTheSender() throws {
        let node = SimulatedHL7Node(name: "HL71", clock: { HL7TestGateway.noon })
        let channel = EmbeddedChannel()
        try node.configure(channel)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6667)).wait()

        try channel.writeInbound(ByteBuffer.framed(HL7Samples.order("S1")))
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        channel.embeddedEventLoop.run()

        var replies = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { replies.writeBuffer(&chunk) }
        #expect(MLLPTestClient.split(replies).first?.text.contains("MSA|AA|S1\r") == true, "the last ACK goes out first")
        #expect(!channel.isActive, "the node closed its side after the sender's FIN")
    }
}

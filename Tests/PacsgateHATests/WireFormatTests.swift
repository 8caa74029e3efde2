import NIOCore
import NIOEmbedded
import PacsgateCore
import PacsgateHA
import Testing

/// The frame format and every message of wire format version 2 (docs/ha-protocol.md).
@Suite("HA wire format")
struct WireFormatTests {
    static let report = PeerStatusReport(
        role: .primary, vrrp: .master, readiness: .standby, configVersion: ConfigVersion(bytes: Array(0..<32)), queued: 7,
        entries: [.init(service: "DICOM", entries: 12), .init(service: "HL7", entries: 0)])

    static let messages: [HAMessage] = [
        .status(report),
        .entries([
            ReplicatedEntry(service: "DICOM", key: StickKey(text: "10.1.2.3")!, server: "pacs-1", ttlMilliseconds: 1_800_000),
            ReplicatedEntry(service: "DICOM", key: StickKey(text: "0123456789abcdef")!, server: "pacs-2", ttlMilliseconds: 1),
            ReplicatedEntry(service: "HL7", key: StickKey(text: "x")!, server: "ris-é", ttlMilliseconds: UInt32.max),
        ]),
        .entries([]),
        .snapshotBegin(entries: 10_000),
        .snapshotEnd(entries: 10_000),
        .config(ConfigPush(version: ConfigVersion(bytes: Array(repeating: 9, count: 32)), origin: "upload", text: "services: []\n")),
        .configResult(ConfigResult(version: .unknown, applied: false, message: "refused: line 3")),
        .runtime(RuntimeUpdate(full: true, servers: [ServerRuntime(service: "DICOM", server: "pacs-1", weight: 50, state: .drain)])),
        .goodbye(reason: "shutting down"),
        .handover(HandoverNotice(kind: .stopping, reason: "pacsgate on gw-a is stopping")),
        .handover(HandoverNotice(kind: .switchover, reason: "requested by alice")),
    ]

    @Test("every message survives encode and decode")
    func messagesRoundTrip() throws {
        for message in Self.messages {
            let decoded = try HAMessage.decode(type: message.type, payload: message.encode())
            #expect(decoded == message)
        }
    }

    @Test("a payload cut anywhere is 'truncated', never a crash; extra bytes are refused")
    func truncatedPayloads() throws {
        for message in Self.messages {
            let payload = Array(message.encode().readableBytesView)
            for length in 0..<payload.count {
                #expect(throws: HAWireError.self) {
                    try HAMessage.decode(type: message.type, payload: ByteBuffer(bytes: payload[..<length]))
                }
            }
            #expect(throws: HAWireError.trailingBytes(count: 1)) {
                try HAMessage.decode(type: message.type, payload: ByteBuffer(bytes: payload + [0]))
            }
        }
    }

    @Test("field values outside their domain are named")
    func badFields() {
        var writer = PayloadWriter()
        writer.u8(1)  // full
        writer.u16(1)
        writer.string8("S")
        writer.string8("a")
        writer.u32(2_000_000)
        writer.u8(1)
        #expect(throws: HAWireError.badField(field: "weight", reason: "2000000 is above 1000000")) {
            try HAMessage.decode(type: HAFrameType.runtime.rawValue, payload: writer.buffer)
        }
        #expect(throws: HAWireError.self) {
            try HAMessage.decode(type: HAFrameType.status.rawValue, payload: ByteBuffer(bytes: [9]))
        }
    }

    @Test("unknown session types decode as unknown (newer peers may add some); handshake types are refused in a session")
    func unknownTypes() throws {
        #expect(try HAMessage.decode(type: 0x7F, payload: ByteBuffer()) == .unknown(type: 0x7F))
        #expect(throws: HAWireError.self) { try HAMessage.decode(type: HAFrameType.hello.rawValue, payload: ByteBuffer()) }
    }

    @Test("the frame header layout is the documented one")
    func headerLayout() {
        let frame = HAFrame(type: 0x11, flags: 0, sequence: 0x0102030405060708, body: ByteBuffer(bytes: [0xAA, 0xBB]))
        var buffer = ByteBuffer()
        frame.write(to: &buffer)
        #expect(Array(buffer.readableBytesView) == [
            0x50, 0x47, 0x48, 0x41, 0x02, 0x11, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
            0x00, 0x00, 0x00, 0x02, 0xAA, 0xBB,
        ])
    }

    @Test("frames are parsed whole and one byte at a time")
    func framesParse() throws {
        let frames = [
            HAFrame(type: 0x10, sequence: 0, body: ByteBuffer(bytes: Array(repeating: 1, count: 40))),
            HAFrame(type: 0x11, sequence: 1, body: ByteBuffer()),
            HAFrame(type: 0x01, sequence: 0, body: ByteBuffer(bytes: [1, 2, 3])),
        ]
        var stream = ByteBuffer()
        for frame in frames { frame.write(to: &stream) }
        var whole = stream
        var parsed: [HAFrame] = []
        while let frame = try HAFrame.parse(&whole) { parsed.append(frame) }
        #expect(parsed == frames)

        var trickle = ByteBuffer()
        parsed = []
        for byte in stream.readableBytesView {
            trickle.writeInteger(byte)
            while let frame = try HAFrame.parse(&trickle) { parsed.append(frame) }
        }
        #expect(parsed == frames)
    }

    @Test("a stranger, another version or a lying length is refused from the header alone")
    func badHeaders() {
        var http = ByteBuffer(string: "GET")
        #expect(throws: HAWireError.notHALink(firstBytes: Array("GET".utf8))) { try HAFrame.parse(&http) }
        var version1 = ByteBuffer(bytes: [0x50, 0x47, 0x48, 0x41, 0x01])
        #expect(throws: HAWireError.unsupportedVersion(1)) { try HAFrame.parse(&version1) }
        // Until the session is up, a session frame is held to the handshake's limit too.
        var early = ByteBuffer(bytes: HAFrame.header(type: 0x11, sequence: 0, bodyLength: 5000))
        #expect(throws: HAWireError.frameTooLarge(type: 0x11, length: 5000, limit: HAFrame.handshakeBodyLimit)) {
            try HAFrame.parse(&early, authenticated: false)
        }
        #expect((try? HAFrame.parse(&early, authenticated: true)) == .some(nil), "after it, the session limit applies")
        var huge = ByteBuffer(bytes: HAFrame.header(type: 0x01, sequence: 0, bodyLength: 5000))
        #expect(throws: HAWireError.frameTooLarge(type: 1, length: 5000, limit: HAFrame.handshakeBodyLimit)) {
            try HAFrame.parse(&huge)
        }
        var partial = ByteBuffer(bytes: [0x50, 0x47])
        #expect((try? HAFrame.parse(&partial)) == .some(nil))
        #expect(partial.readableBytes == 2)
    }

    @Test("the codec handlers cut a stream into frames in a channel and fail it on a stranger")
    func codecInChannel() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HAFrameDecoder()))
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(HAFrameEncoder()))
        let frame = HAFrame(type: 0x11, sequence: 3, body: ByteBuffer(bytes: Array(repeating: 7, count: 100)))
        try channel.writeOutbound(frame)
        guard let bytes = try channel.readOutbound(as: ByteBuffer.self) else {
            Issue.record("nothing written")
            return
        }
        #expect(bytes.readableBytes == HAFrame.headerSize + 100)
        for byte in bytes.readableBytesView {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        #expect(try channel.readInbound(as: HAFrame.self) == frame)
        #expect(try channel.readInbound(as: HAFrame.self) == nil)
        #expect(throws: HAWireError.self) { try channel.writeInbound(ByteBuffer(string: "SSH-2.0")) }
        _ = try? channel.finish()
    }
}

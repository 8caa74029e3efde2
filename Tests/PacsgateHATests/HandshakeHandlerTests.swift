import NIOCore
import NIOEmbedded
import PacsgateCore
import Testing

@testable import PacsgateHA

/// The handshake in the connection's pipeline (``HandshakeHandler``), on an embedded channel the test drives byte by
/// byte: the frame limit switches on the event loop, between the handshake's last frame and the first session frame.
@Suite("HA handshake in the pipeline")
struct HandshakeHandlerTests {
    /// A responder's pipeline as the link builds it, connected; with its frame limit.
    static func responder(timeout: TimeAmount = .seconds(600)) throws -> (EmbeddedChannel, HAFrameLimit) {
        let channel = EmbeddedChannel()
        let limit = HAFrameLimit()
        let machine = HandshakeStateMachine(
            side: .responder, secret: HandshakeTests.secret, role: .secondary, node: "gw-b", software: "t")
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(HAFrameDecoder(limit: limit), maximumBufferSize: HAFrame.headerSize + HAFrame.sessionBodyLimit + 4096))
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(HAFrameEncoder()))
        try channel.pipeline.syncOperations.addHandler(HandshakeHandler(machine: machine, limit: limit, timeout: timeout))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7778)).wait()
        return (channel, limit)
    }

    static func bytes(_ frames: [HAFrame]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for frame in frames { frame.write(to: &buffer) }
        return buffer
    }

    /// The next frame the channel wrote.
    static func written(_ channel: EmbeddedChannel) throws -> HAFrame {
        guard var buffer = try channel.readOutbound(as: ByteBuffer.self), let frame = try HAFrame.parse(&buffer, authenticated: false) else {
            throw HATestFailure("nothing written")
        }
        return frame
    }

    /// 200 entries: a session frame far above the pre-authentication limit.
    static let large = HAMessage.entries(
        (0..<200).map { ReplicatedEntry(service: "WEB", key: StickKey(text: "client-\($0)")!, server: "s1", ttlMilliseconds: 600_000) })

    @Test("a CONFIRM and a large session frame in the same read: the second is decoded under the session limit")
    func confirmAndSessionFrameInOneRead() throws {
        let (channel, limit) = try Self.responder()
        var dialler = HandshakeStateMachine(side: .initiator, secret: HandshakeTests.secret, role: .primary, node: "gw-a", software: "t")
        guard let hello = dialler.start() else { throw HATestFailure("the dialler has no hello") }
        try channel.writeInbound(Self.bytes([hello]))
        let welcome = try Self.written(channel)
        guard case .established(_, var sealer, _, let confirm?) = dialler.received(welcome) else {
            Issue.record("the dialler did not accept the welcome")
            return
        }
        let session = sealer.seal(Self.large)
        #expect(session.body.readableBytes > HAFrame.handshakeBodyLimit)
        #expect(!limit.isAuthenticated)
        // Both in one buffer, as TCP delivers them when the dialler sends its first STATUS, snapshot, configuration
        // right behind the CONFIRM.
        try channel.writeInbound(Self.bytes([confirm, session]))
        #expect(limit.isAuthenticated)
        guard case .established(let peer, _, var opener)? = try channel.readInbound(as: LinkInbound.self) else {
            Issue.record("no session")
            return
        }
        #expect(peer.node == "gw-a")
        guard case .frame(let frame)? = try channel.readInbound(as: LinkInbound.self) else {
            Issue.record("the session frame did not come through")
            return
        }
        #expect(try opener.open(frame) == Self.large)
        #expect(channel.isActive)
        _ = try channel.finish()
    }

    @Test("before the CONFIRM the same large frame is refused at its header, and the end is reported as rejected")
    func largeFrameBeforeConfirm() throws {
        let (channel, limit) = try Self.responder()
        var dialler = HandshakeStateMachine(side: .initiator, secret: HandshakeTests.secret, role: .primary, node: "gw-a", software: "t")
        guard let hello = dialler.start() else { throw HATestFailure("the dialler has no hello") }
        try channel.writeInbound(Self.bytes([hello]))
        guard case .established(_, var sealer, _, _) = dialler.received(try Self.written(channel)) else {
            Issue.record("the dialler did not accept the welcome")
            return
        }
        // The session frame without the CONFIRM before it: the unit is still unauthenticated.
        #expect(throws: HAWireError.self) { try channel.writeInbound(Self.bytes([sealer.seal(Self.large)])) }
        #expect(!limit.isAuthenticated)
        _ = try? channel.finish()
    }

    @Test("a connection that sends nothing is closed when the handshake timeout fires; the end says so")
    func timeout() throws {
        let (channel, _) = try Self.responder(timeout: .milliseconds(300))
        // The embedded loop's clock, not the machine's: nothing here depends on time passing.
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(299))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
        #expect { try channel.throwIfErrorCaught() } throws: {
            ($0 as? HandshakeEnded)?.kind == .rejected && "\($0)".contains("no handshake within 300 ms")
        }
    }
}

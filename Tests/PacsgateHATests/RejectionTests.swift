import Foundation
import NIOCore
import NIOPosix
import PacsgateCore
import PacsgateHA
import Testing
import PacsgateTestSupport

/// Bytes that are not from the peer: a stranger, another secret, a frame changed in transit. Each is rejected,
/// counted, logged and audited, and changes nothing.
@Suite("HA link rejects forged and corrupted messages", .serialized)
struct RejectionTests {
    /// A raw client speaking frames to `port` from `source`.
    static func connect(_ port: Int, from source: String = "127.0.0.1") async throws -> NIOAsyncChannel<HAFrame, HAFrame> {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(to: try SocketAddress(ipAddress: source, port: 0))
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HAFrameDecoder(limit: HAFrameLimit(authenticated: true))))
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(HAFrameEncoder()))
                    return try NIOAsyncChannel<HAFrame, HAFrame>(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// Completes a real handshake as the primary `gw-test` with `secret`; returns the session's sealer.
    static func handshake(
        _ inbound: NIOAsyncChannelInboundStream<HAFrame>, _ outbound: NIOAsyncChannelOutboundWriter<HAFrame>, secret: String
    ) async throws -> FrameSealer {
        var machine = HandshakeStateMachine(
            side: .initiator, secret: TestSecrets.secret(secret), role: .primary, node: "gw-test", software: "test")
        var frames = inbound.makeAsyncIterator()
        guard let hello = machine.start() else { throw HATestFailure("no hello") }
        try await outbound.write(hello)
        guard let welcome = try await frames.next() else { throw HATestFailure("no welcome") }
        guard case .established(_, let sealer, _, let confirm?) = machine.received(welcome) else {
            throw HATestFailure("handshake did not complete")
        }
        try await outbound.write(confirm)
        return sealer
    }

    static func entries(_ key: String, server: String) -> HAMessage {
        .entries([ReplicatedEntry(service: "WEB", key: StickKey(text: key)!, server: server, ttlMilliseconds: 600_000)])
    }

    @Test("a dialler with another secret gets no session; the refusal is logged and audited")
    func forgedHello() async throws {
        let unit = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1)
        let channel = try await Self.connect(unit.haPort)
        let attempt = try? await channel.executeThenClose { inbound, outbound in
            try await Self.handshake(inbound, outbound, secret: TestSecrets.other)
        }
        #expect(attempt == nil, "a dialler with another secret completed the handshake")
        #expect(await eventually(timeout: .seconds(10)) { await unit.controller.status().rejected == 1 })
        let audited = await unit.awaitAudit("ha.link.rejected")
        #expect(audited.count == 1)
        #expect((audited.first?["reason"] as? String)?.contains("without proving the secret") == true, "\(audited)")
        #expect(!unit.logs(containing: "HA link rejected").isEmpty)
        #expect(await unit.controller.status().link != .up)
        await unit.stop()
    }

    @Test("a sealed frame changed by one bit is rejected and its entry not taken; an intact one is")
    func corruptedFrame() async throws {
        let unit = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1)
        let table = try await unit.table()

        // Control: an intact frame from a peer with the secret is taken (so the test below can fail).
        let good = try await Self.connect(unit.haPort)
        try await good.executeThenClose { inbound, outbound in
            var sealer = try await Self.handshake(inbound, outbound, secret: TestSecrets.pair)
            try await outbound.write(sealer.seal(Self.entries("intact", server: "s2")))
            #expect(await eventually(timeout: .seconds(10)) { table.lookup(StickKey(text: "intact")!) == "s2" })
        }
        #expect(await unit.controller.status().rejected == 0)

        let bad = try await Self.connect(unit.haPort)
        try await bad.executeThenClose { inbound, badOutbound in
        var badSealer = try await Self.handshake(inbound, badOutbound, secret: TestSecrets.pair)
        try await badOutbound.write(badSealer.seal(.status(PeerStatusReport(role: .primary, vrrp: .master, configVersion: .unknown, queued: 0, entries: []))))
        var frame = badSealer.seal(Self.entries("tampered", server: "s1"))
        // Flip one bit of the ciphertext.
        var body = Array(frame.body.readableBytesView)
        body[body.count / 2] ^= 0x01
        frame.body = ByteBuffer(bytes: body)
        try await badOutbound.write(frame)
        #expect(await eventually(timeout: .seconds(10)) { await unit.controller.status().rejected == 1 })
        }
        #expect(table.lookup(StickKey(text: "tampered")!) == nil)
        let audited = await unit.awaitAudit("ha.link.rejected")
        #expect(audited.count == 1)
        #expect((audited.first?["reason"] as? String)?.contains("authentication failed for frame type 0x11 sequence 2") == true, "\(audited)")
        #expect(audited.first?["peer"] as? String == "gw-test")
        #expect(!unit.logs(containing: "HA link rejected").isEmpty)
        await unit.stop()
    }

    @Test("a replayed frame (sequence already seen) is rejected")
    func replayedFrame() async throws {
        let unit = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1)
        let channel = try await Self.connect(unit.haPort)
        try await channel.executeThenClose { inbound, outbound in
            var sealer = try await Self.handshake(inbound, outbound, secret: TestSecrets.pair)
            let frame = sealer.seal(Self.entries("once", server: "s1"))
            try await outbound.write(frame)
            try await outbound.write(frame)
            #expect(await eventually(timeout: .seconds(10)) { await unit.controller.status().rejected == 1 })
        }
        #expect((await unit.awaitAudit("ha.link.rejected").first?["reason"] as? String)?.contains("replayed or reordered") == true)
        await unit.stop()
    }

    @Test("something that is not the HA protocol is rejected after its first bytes")
    func stranger() async throws {
        let unit = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: unit.haPort).get()
        try await channel.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(await eventually(timeout: .seconds(10)) { await unit.controller.status().rejected == 1 })
        #expect((await unit.awaitAudit("ha.link.rejected").first?["reason"] as? String)?.contains("not a pacsgate HA link") == true)
        try? await channel.close()
        await unit.stop()
    }

    @Test("a unit with the same role is refused with an authenticated reason the dialler logs")
    func sameRole() async throws {
        let other = try await TestUnit.start(role: .primary, node: "gw-b", peerPort: 1)
        let unit = try await TestUnit.start(role: .primary, node: "gw-a", peerPort: other.haPort)
        #expect(await eventually(timeout: .seconds(10)) {
            if case .down(let reason) = await unit.controller.status().link { return reason.contains("both units are configured as primary") }
            return false
        })
        #expect(await other.controller.status().rejected == 0)
        await unit.stop()
        await other.stop()
    }
}

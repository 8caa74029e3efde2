import Glibc
import NIOCore
import NIOEmbedded
import Testing

@testable import PacsgateCore

/// The forwarding handler on `EmbeddedChannel`s (``EmbeddedProxy``): half-closes passed on both ways, aborts from
/// either side, and backpressure between the legs — each with the end reason the connection log line then carries.
@Suite struct ProxyConnectionTests {
    private static let reset = IOError(errnoCode: ECONNRESET, reason: "read")

    /// Both legs closed, the connection released with `reason`.
    private func expectEnded(
        _ proxy: EmbeddedProxy, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(!proxy.client.isActive, "the client leg is still open", sourceLocation: sourceLocation)
        #expect(!proxy.server.isActive, "the server leg is still open", sourceLocation: sourceLocation)
        #expect(proxy.endReason == reason, sourceLocation: sourceLocation)
        #expect(proxy.runtime.stats.activeConnections == 0, sourceLocation: sourceLocation)
    }

    /// The leg named and the other one, with the other's socket.
    private func legs(
        _ proxy: EmbeddedProxy, _ side: ConnectionSide
    ) -> (channel: EmbeddedChannel, other: EmbeddedChannel, otherSocket: EmbeddedProxy.SocketRecorder) {
        side == .client
            ? (proxy.client, proxy.server, proxy.serverSocket) : (proxy.server, proxy.client, proxy.clientSocket)
    }

    private func name(_ side: ConnectionSide) -> String { side == .client ? "client" : "server" }

    // MARK: half-close

    @Test func clientFINIsPassedToTheServerWhichMayStillAnswer() throws {
        let proxy = try EmbeddedProxy.forwarding()
        defer { proxy.finish() }
        try proxy.client.writeInbound(ByteBuffer(string: "request"))
        #expect(try proxy.written(to: proxy.server) == "request")

        proxy.client.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(proxy.serverSocket.outputClosed, "the client's FIN was not passed on to the server")
        #expect(!proxy.clientSocket.outputClosed)
        #expect(proxy.client.isActive && proxy.server.isActive)

        try proxy.server.writeInbound(ByteBuffer(string: "answer"))
        #expect(try proxy.written(to: proxy.client) == "answer", "the server's answer after the client's FIN was lost")
        #expect(proxy.endReason == nil)

        proxy.server.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        self.expectEnded(proxy, "closed by both sides")
        #expect(proxy.runtime.stats.bytesUpstream == 7)
        #expect(proxy.runtime.stats.bytesDownstream == 6)
    }

    @Test func serverFINIsPassedToTheClientWhichMayStillSend() throws {
        let proxy = try EmbeddedProxy.forwarding()
        defer { proxy.finish() }
        try proxy.server.writeInbound(ByteBuffer(string: "banner"))
        #expect(try proxy.written(to: proxy.client) == "banner")

        proxy.server.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(proxy.clientSocket.outputClosed, "the server's FIN was not passed on to the client")
        #expect(!proxy.serverSocket.outputClosed)

        try proxy.client.writeInbound(ByteBuffer(string: "more"))
        #expect(try proxy.written(to: proxy.server) == "more", "the client's bytes after the server's FIN were lost")
        #expect(proxy.endReason == nil)

        proxy.client.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        self.expectEnded(proxy, "closed by both sides")
    }

    /// NIO reports a FIN as a full close when the channel's output is already shut: after the client's FIN was passed
    /// on, the server leg closing is the other half of a clean end, not a server going away.
    @Test func serverClosingAfterTheClientsFINIsACleanEnd() throws {
        let proxy = try EmbeddedProxy.forwarding()
        defer { proxy.finish() }
        proxy.client.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        try proxy.server.writeInbound(ByteBuffer(string: "last words"))
        #expect(try proxy.written(to: proxy.client) == "last words")
        proxy.server.pipeline.syncOperations.close(promise: nil)
        self.expectEnded(proxy, "closed by both sides")
    }

    @Test func clientClosingAfterTheServersFINIsACleanEnd() throws {
        let proxy = try EmbeddedProxy.forwarding()
        defer { proxy.finish() }
        proxy.server.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        proxy.client.pipeline.syncOperations.close(promise: nil)
        self.expectEnded(proxy, "closed by both sides")
    }

    // MARK: abort

    @Test(arguments: [ConnectionSide.client, .server])
    func aResetClosesTheOtherLeg(_ side: ConnectionSide) throws {
        let proxy = try EmbeddedProxy.forwarding()
        defer { proxy.finish() }
        let legs = self.legs(proxy, side)
        legs.channel.pipeline.syncOperations.fireErrorCaught(Self.reset)
        #expect(!legs.otherSocket.outputClosed, "a reset is not passed on as a FIN")
        self.expectEnded(proxy, "\(self.name(side)) error: \(ErrorText.describe(Self.reset))")
    }

    @Test(arguments: [ConnectionSide.client, .server])
    func aLegGoingAwayWithoutFINClosesTheOther(_ side: ConnectionSide) throws {
        let proxy = try EmbeddedProxy.forwarding()
        defer { proxy.finish() }
        self.legs(proxy, side).channel.pipeline.syncOperations.close(promise: nil)
        self.expectEnded(proxy, "\(self.name(side)) went away")
    }

    /// After the client's FIN was passed on, its reset still ends both legs.
    @Test func clientResetAfterItsFINClosesBothLegs() throws {
        let proxy = try EmbeddedProxy.forwarding()
        defer { proxy.finish() }
        proxy.client.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        proxy.client.pipeline.syncOperations.fireErrorCaught(Self.reset)
        self.expectEnded(proxy, "client error: \(ErrorText.describe(Self.reset))")
    }

    @Test func gatewayCloseRequestEndsAForwardedConnection() throws {
        let proxy = try EmbeddedProxy.forwarding()
        defer { proxy.finish() }
        proxy.client.pipeline.syncOperations.fireUserInboundEventTriggered(GatewayCloseRequest(reason: .shutdown))
        self.expectEnded(proxy, "gateway shutdown")
    }

    // MARK: backpressure

    /// `full`: the leg that cannot take more writes; the other leg is not read until it can.
    @Test(arguments: [ConnectionSide.server, .client])
    func aLegNotWritableStopsReadingTheOtherUntilItIs(_ full: ConnectionSide) throws {
        let proxy = try EmbeddedProxy.forwarding()
        defer { proxy.finish() }
        let legs = self.legs(proxy, full)
        let reads = legs.otherSocket.reads
        legs.other.read()
        #expect(legs.otherSocket.reads == reads + 1, "a read was withheld while the other leg was writable")

        legs.channel.isWritable = false
        legs.channel.pipeline.syncOperations.fireChannelWritabilityChanged()
        legs.other.read()
        #expect(legs.otherSocket.reads == reads + 1, "a leg was read while the other could take no more")

        legs.channel.isWritable = true
        legs.channel.pipeline.syncOperations.fireChannelWritabilityChanged()
        #expect(legs.otherSocket.reads == reads + 2, "the withheld read was not let through")
    }
}

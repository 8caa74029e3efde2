import NIOCore
import Testing

@testable import PacsgateCore

/// While the server leg connects, the client is read on until ``ConnectionStateMachine/connectHoldLimit`` bytes are
/// held, then reading waits for the connect; everything held is written to the server, in order, once it is up.
@Suite struct ConnectHoldTests {
    private static func bytes(_ count: Int, _ value: UInt8) -> ByteBuffer {
        ByteBuffer(repeating: value, count: count)
    }

    @Test func clientIsReadWhileConnectingUpToTheLimitThenWaits() throws {
        let proxy = try EmbeddedProxy()
        defer { proxy.finish() }
        let client = proxy.client
        let counter = proxy.clientSocket

        // Connecting: the first bytes are held and the client is still read.
        try client.writeInbound(Self.bytes(1000, 1))
        let before = counter.reads
        client.read()
        #expect(counter.reads == before + 1, "a read was withheld with only 1,000 bytes held")

        // Past the limit: the next read waits for the connect.
        try client.writeInbound(Self.bytes(ConnectionStateMachine.connectHoldLimit, 2))
        client.read()
        #expect(counter.reads == before + 1, "the client was read on with more than the limit held")

        // Connected: everything held goes to the server in order, and the waiting read is let through.
        try proxy.connectServer()
        var written = ByteBuffer()
        while var part = try proxy.server.readOutbound(as: ByteBuffer.self) { written.writeBuffer(&part) }
        var expected = Self.bytes(1000, 1)
        expected.writeImmutableBuffer(Self.bytes(ConnectionStateMachine.connectHoldLimit, 2))
        #expect(written == expected)
        #expect(counter.reads == before + 2)
    }
}

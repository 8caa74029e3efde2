import NIOCore
import NIOPosix
import PacsgateTestSupport
import Testing
@testable import PacsgateCore

/// Bytes through the gateway arrive unchanged, in both directions, and half-closes are passed on.
@Suite("Forwarding through real sockets")
struct ForwardingTests {
    @Test("random payloads echo back byte-identical", arguments: [1, 2, 1000, 65_536, (1 << 20) + 7, 64 << 20])
    func payloadIntegrity(size: Int) async throws {
        let backend = try await TestBackend.start("ECHO", mode: .echo)
        let gateway = try await TestGateway.start([TestGateway.service(servers: [backend.server()])])
        let payload = randomBytes(size)
        let received = try await TestClient.exchange(port: try await gateway.port(), payload: payload)
        #expect(received.count == payload.count)
        #expect(received.count == payload.count && received.elementsEqual(payload), "echoed bytes differ from what was sent")
        let runtime = try await gateway.runtime()
        #expect(await eventually { runtime.stats.activeConnections == 0 })
        #expect(runtime.stats.bytesUpstream == size)
        #expect(runtime.stats.bytesDownstream == size)
        #expect(backend.stats.received == size)
        await gateway.stop()
        await backend.kill()
    }

    @Test("a large server-to-client stream arrives intact")
    func serverStreamIntegrity() async throws {
        let size = 32 << 20
        let backend = try await TestBackend.start("SRC", mode: .source(count: size))
        let gateway = try await TestGateway.start([TestGateway.service(servers: [backend.server()])])
        let channel = try await TestClient.connect(port: try await gateway.port())
        let received = try await channel.executeThenClose { inbound, _ in try await TestClient.readAll(inbound) }
        #expect(received.count == size)
        #expect(received.elementsEqual(Pattern.bytes(offset: 0, count: size)), "bytes differ from the pattern")
        await gateway.stop()
        await backend.kill()
    }

    @Test("the client's half-close reaches the server, which can still answer")
    func clientHalfClose() async throws {
        let backend = try await TestBackend.start("ECHO", mode: .echo)
        let gateway = try await TestGateway.start([TestGateway.service(servers: [backend.server()])])
        // The echo server answers our FIN with its own only after it saw ours: receiving the echo to EOF after
        // finishing our output proves the FIN went through while the other direction stayed open.
        let received = try await TestClient.exchange(port: try await gateway.port(), payload: Array("ping".utf8))
        #expect(String(decoding: received, as: UTF8.self) == "ping")
        #expect(backend.stats.clientFINs == 1)
        await gateway.stop()
        await backend.kill()
    }

    @Test("the server's half-close reaches the client, which can still send")
    func serverHalfClose() async throws {
        let backend = try await TestBackend.start("HALF", mode: .halfCloseFirst)
        let gateway = try await TestGateway.start([TestGateway.service(servers: [backend.server()])])
        let channel = try await TestClient.connect(port: try await gateway.port())
        try await channel.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            var text = ""
            while let chunk = try await iterator.next() { text += String(buffer: chunk) }
            // The server's FIN ended our inbound stream; our side is still open for writing.
            #expect(text == "hello")
            try await outbound.write(ByteBuffer(string: "after your FIN"))
            outbound.finish()
        }
        #expect(await eventually { backend.stats.receivedAfterOwnFIN == 14 })
        await gateway.stop()
        await backend.kill()
    }

    @Test("IPv6 listen and server addresses in brackets work, with port translation")
    func ipv6() async throws {
        let backend = try await TestBackend.start("V6", mode: .echo, host: "::1")
        var config = TestGateway.service(servers: [backend.server()])
        config.listen = Endpoint(host: "::1", port: 0)
        let gateway = try await TestGateway.start([config])
        let address = try #require(await gateway.gateway.listenAddress(of: "SVC"))
        #expect(address.protocol == .inet6)
        #expect(address.port != backend.port)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(host: "::1", port: try #require(address.port)) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        let text = try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "v6"))
            outbound.finish()
            return String(decoding: try await TestClient.readAll(inbound), as: UTF8.self)
        }
        #expect(text == "v6")
        await gateway.stop()
        await backend.kill()
    }
}

#if os(Linux)
import Logging
import NIOCore
import NIOPosix
import PacsgateTestSupport
import Testing

@testable import PacsgateCore
@testable import PacsgateDataPlane

/// What is particular to the native engine; the behaviour both engines share is checked by the forwarding, DICOM,
/// HL7, TLS, reliability and admin suites, which run on both (scripts/test.sh).
@Suite("Native engine", .serialized)
struct NativeEngineTests {
    static let logger: Logger = {
        var logger = Logger(label: "pacsgate-native-test")
        logger.logLevel = .notice
        return logger
    }()

    /// A gateway with the process's native engine and `services` as given (their `engine:` honoured).
    static func gateway(_ services: [ServiceConfiguration]) async throws -> (Gateway, AuditLog) {
        let audit = AuditLog(configuration: AuditConfiguration(), logger: Self.logger)
        try audit.start()
        let gateway = Gateway(
            configuration: GatewayConfiguration(services: services), group: MultiThreadedEventLoopGroup.singleton,
            audit: audit, logger: Self.logger, nativeEngine: try NativeEngine.shared())
        try await gateway.start()
        return (gateway, audit)
    }

    static func service(
        _ label: String = "SVC", backend: TestBackend, engine: EngineChoice = .native, port: Int = 0
    ) -> ServiceConfiguration {
        let server = backend.server()
        return ServiceConfiguration(
            label: label, listen: Endpoint(host: "127.0.0.1", port: port),
            servers: [ServerConfiguration(label: server.label, endpoint: Endpoint(host: server.host, port: server.port))],
            engine: engine)
    }

    static func reactorTotals() async throws -> (lent: Int, spliced: Int) {
        var totals = (lent: 0, spliced: 0)
        for reactor in try NativeEngine.shared().reactors {
            let (lent, spliced) = await reactor.perform { ($0.buffers.lent, $0.splicedBytes) }
            totals.lent += lent
            totals.spliced += spliced
        }
        return totals
    }

    @Test("auto runs a tcp service on the native engine, nio on NIO; the runtime says which")
    func engineOfAService() async throws {
        let backend = try await TestBackend.start("ECHO", mode: .echo)
        let (gateway, audit) = try await Self.gateway([
            Self.service("AUTO", backend: backend, engine: .auto), Self.service("NIO", backend: backend, engine: .nio),
        ])
        #expect(await gateway.service("AUTO")?.engine == .native)
        #expect(await gateway.service("NIO")?.engine == .nio)
        for label in ["AUTO", "NIO"] {
            let port = try #require(await gateway.listenAddress(of: label)?.port)
            let echoed = try await TestClient.exchange(port: port, payload: Array("hello \(label)".utf8))
            #expect(String(decoding: echoed, as: UTF8.self) == "hello \(label)")
        }
        await gateway.shutdown(grace: .seconds(2))
        await audit.shutdown()
        await backend.kill()
    }

    @Test("an idle connection holds no buffer: every buffer of the exchange is back in the reactor's pool")
    func idleConnectionHoldsNoBuffer() async throws {
        let backend = try await TestBackend.start("ECHO", mode: .echo)
        let (gateway, audit) = try await Self.gateway([Self.service(backend: backend)])
        let port = try #require(await gateway.listenAddress(of: "SVC")?.port)
        let before = try await Self.reactorTotals().lent
        let channel = try await TestClient.connect(port: port)
        try await channel.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            try await outbound.write(ByteBuffer(string: "ping"))
            let answer = try await iterator.next()
            #expect(answer.map { String(buffer: $0) } == "ping")
            // Connected and idle now.
            let runtime = try #require(await gateway.service("SVC"))
            #expect(runtime.connections.count == 1)
            #expect(await runtime.connections.bufferedBytes() == 0)
            #expect(try await Self.reactorTotals().lent == before, "a buffer is still held by the idle connection")
        }
        await gateway.shutdown(grace: .seconds(2))
        await audit.shutdown()
        await backend.kill()
    }

    @Test("a bulk transfer nobody inspects is spliced, and arrives intact")
    func bulkTransferIsSpliced() async throws {
        let backend = try await TestBackend.start("ECHO", mode: .echo)
        let (gateway, audit) = try await Self.gateway([Self.service(backend: backend)])
        let port = try #require(await gateway.listenAddress(of: "SVC")?.port)
        let before = try await Self.reactorTotals().spliced
        let payload = randomBytes(8 << 20)
        let echoed = try await TestClient.exchange(port: port, payload: payload)
        #expect(echoed.count == payload.count && echoed.elementsEqual(payload), "echoed bytes differ")
        let spliced = try await Self.reactorTotals().spliced - before
        #expect(spliced > payload.count, "only \(spliced) of \(2 * payload.count) bytes were spliced")
        await gateway.shutdown(grace: .seconds(2))
        await audit.shutdown()
        await backend.kill()
    }

    @Test("SO_REUSEPORT does not let a second gateway share a port: its bind fails as a plain bind would")
    func portConflict() async throws {
        let backend = try await TestBackend.start("ECHO", mode: .echo)
        let (first, audit) = try await Self.gateway([Self.service(backend: backend)])
        let port = try #require(await first.listenAddress(of: "SVC")?.port)
        await #expect(throws: (any Error).self) {
            _ = try await Self.gateway([Self.service(backend: backend, port: port)])
        }
        // The first gateway still has the port to itself.
        let echoed = try await TestClient.exchange(port: port, payload: Array("still mine".utf8))
        #expect(String(decoding: echoed, as: UTF8.self) == "still mine")
        await first.shutdown(grace: .seconds(2))
        await audit.shutdown()
        await backend.kill()
    }

    @Test("a reload moves a service between the engines; connections keep working on either")
    func reloadChangesTheEngine() async throws {
        let backend = try await TestBackend.start("ECHO", mode: .echo)
        let port = try Ports.free()
        let (gateway, audit) = try await Self.gateway([Self.service(backend: backend, engine: .nio, port: port)])
        let open = try await TestClient.connect(port: port)
        // Accepted by the NIO listener, not only queued in its backlog: closing a listening socket resets the
        // connections still waiting in its accept queue, and this one must be the gateway's before the reload.
        let accepted = await eventually(timeout: .seconds(20)) { await gateway.service("SVC")?.connections.count == 1 }
        try #require(accepted, "the gateway never accepted the first connection")
        for engine in [EngineChoice.native, .nio, .native] {
            _ = try await gateway.apply(GatewayConfiguration(services: [Self.service(backend: backend, engine: engine, port: port)]))
            #expect(await gateway.service("SVC")?.engine == (engine == .nio ? .nio : .native))
            let echoed = try await TestClient.exchange(port: port, payload: Array("\(engine)".utf8))
            #expect(String(decoding: echoed, as: UTF8.self) == "\(engine)")
        }
        // The connection accepted by the NIO listener before the first reload still forwards.
        try await open.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "older"))
            var iterator = inbound.makeAsyncIterator()
            #expect(try await iterator.next().map { String(buffer: $0) } == "older")
        }
        await gateway.shutdown(grace: .seconds(2))
        await audit.shutdown()
        await backend.kill()
    }
}
#endif

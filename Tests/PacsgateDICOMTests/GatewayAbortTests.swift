import Foundation
import NIOCore
import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateDICOM

#if canImport(Glibc)
import Glibc
#endif

/// The gateway's own answers and last words with real peers: transient rejections when no server can take an
/// association, and an A-ABORT (source 2) to each side still in an association when the gateway or one side ends it.
@Suite("Gateway answers and aborts", .timeLimit(.minutes(3)))
struct GatewayAbortTests {
    static let rq: [UInt8] = (try? Fixture.pdu("echoscu-storescp.client").bytes) ?? []

    /// Opens an association through the gateway with the captured echoscu request and waits for the AC.
    private func establish(port: Int, scope: TestScope) async throws -> RawConnection {
        let client = try await RawConnection.connect(port: port, scope: scope)
        try await client.send(ByteBuffer(bytes: Self.rq))
        #expect(await client.waitForBytes(6), "no answer to the A-ASSOCIATE-RQ")
        try #require(client.received.first == 0x02, "expected an A-ASSOCIATE-AC, got \(client.received.prefix(10))")
        return client
    }

    /// The bytes after the A-ASSOCIATE-AC.
    private func afterAccept(_ received: [UInt8]) -> [UInt8] {
        guard received.count >= 6 else { return [] }
        let length = Int(received[2]) << 24 | Int(received[3]) << 16 | Int(received[4]) << 8 | Int(received[5])
        return Array(received.dropFirst(6 + length))
    }

    @Test("no server up: A-ASSOCIATE-RJ 2/3/1 (temporary congestion), as echoscu reports it")
    func noServerIsATransientRejection() async throws {
        try await withTestScope { scope in
            let dead = try Ports.free()  // nothing listens there
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(servers: ["{ label: DICOM1, address: \"127.0.0.1:\(dead)\" }"]),
                scope: scope
            )
            let port = try await gateway.port()
            let echo = try await Peers.run(
                Peers.echoscu,
                ["-aet", "MODALITY1", "-aec", "MACH7", "127.0.0.1", String(port)],
                name: "echoscu",
                scope: scope
            )
            #expect(echo.status != 0)
            #expect(echo.output.contains("Association Rejected"), "\(echo.output)")
            #expect(echo.output.contains("Rejected Transient"), "\(echo.output)")
            #expect(echo.output.contains("Temporary Congestion"), "\(echo.output)")

            let client = try await RawConnection.connect(port: port, scope: scope)
            try await client.send(ByteBuffer(bytes: Self.rq))
            #expect(await client.waitForEOF())
            #expect(client.received == Wire.reject(2, 3, 1))
            await client.close()

            let records = try await gateway.associationRecords(count: 2)
            for record in records {
                #expect(record.string("outcome") == "rejected-by-gateway")
                #expect(record.object("reject")?.int("result") == 2)
                #expect(record.object("reject")?.int("source") == 3)
                #expect(record.object("reject")?.int("reason") == 1)
                #expect(record.string("calling_ae") == "MODALITY1")
                #expect(record.string("error")?.hasPrefix("connect failed") == true)
            }
        }
    }

    @Test("over maxconn: A-ASSOCIATE-RJ 2/3/2 (local limit exceeded)")
    func overCapacityIsLocalLimitExceeded() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(servers: [scp.server("DICOM1")], extra: ["    maxconn: 1"]),
                scope: scope
            )
            let port = try await gateway.port()
            let held = try await self.establish(port: port, scope: scope)
            let echo = try await Peers.run(
                Peers.echoscu,
                ["-aet", "MODALITY2", "-aec", "MACH7", "127.0.0.1", String(port)],
                name: "echoscu",
                scope: scope
            )
            #expect(echo.status != 0)
            #expect(echo.output.contains("Rejected Transient"), "\(echo.output)")
            #expect(echo.output.contains("Local Limit Exceeded"), "\(echo.output)")
            let refused = try #require(try await gateway.associationRecords(count: 1).first)
            #expect(refused.string("outcome") == "rejected-by-gateway")
            #expect(refused.object("reject")?.int("reason") == 2)
            #expect(refused.isNull("calling_ae"), "refused on accept, before the request was read")
            await held.close()
        }
    }

    @Test("idle timeout: the gateway aborts both sides (source 2) and records a timeout")
    func idleTimeoutAbortsBothSides() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(servers: [scp.server("DICOM1")], extra: ["    idle_timeout: 4s"]),
                scope: scope
            )
            let client = try await self.establish(port: try await gateway.port(), scope: scope)
            #expect(await client.waitForEOF(timeout: .seconds(20)))
            #expect(self.afterAccept(client.received) == Wire.abort(reason: 0))
            // storescp got an A-ABORT, not just a closed socket.
            #expect(
                await eventually(timeout: .seconds(10)) { scp.process.output.contains("Association Aborted") },
                "\(scp.process.output)"
            )
            let record = try #require(try await gateway.associationRecords(count: 1).first)
            #expect(record.string("outcome") == "timeout")
            #expect(record.string("error") == "idle timeout")
            #expect(record.object("abort")?.string("by") == "gateway")
            #expect(record.int("accepted_contexts") == 1)
        }
    }

    @Test("the backend dies mid-association: the client gets an A-ABORT (source 2)")
    func backendDeathAbortsTheClient() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(servers: [scp.server("DICOM1")]),
                scope: scope
            )
            let client = try await self.establish(port: try await gateway.port(), scope: scope)
            await scp.process.stop()  // SIGKILL
            #expect(await client.waitForEOF())
            #expect(self.afterAccept(client.received) == Wire.abort(reason: 0))
            await client.close()
            let record = try #require(try await gateway.associationRecords(count: 1).first)
            #expect(record.string("outcome") == "aborted-by-server")
            #expect(record.object("abort")?.string("by") == "gateway")
            #expect(record.string("end") == "server closed its side")
        }
    }

    @Test("the client vanishes mid-association: the server gets an A-ABORT (source 2)")
    func clientDeathAbortsTheServer() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(servers: [scp.server("DICOM1")]),
                scope: scope
            )
            let client = try await self.establish(port: try await gateway.port(), scope: scope)
            await client.close()
            #expect(
                await eventually(timeout: .seconds(10)) { scp.process.output.contains("Association Aborted") },
                "\(scp.process.output)"
            )
            let record = try #require(try await gateway.associationRecords(count: 1).first)
            #expect(record.string("outcome") == "aborted-by-client")
            #expect(record.object("abort")?.string("by") == "gateway", "the server got the gateway's A-ABORT")
            #expect(record.string("end") == "client closed its side")
        }
    }
}

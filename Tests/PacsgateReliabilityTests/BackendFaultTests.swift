import Foundation
import NIOCore
import PacsgateCore
import PacsgateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Backends that die or hang under a real DICOM peer: the client gets the gateway's A-ABORT (source 2), the audit
/// record says what happened, and no connection is left behind.
@Suite("Faults: backends", .timeLimit(.minutes(3)))
struct BackendFaultTests {
    /// The captured storescu A-ASSOCIATE-RQ (CT Image Storage and friends).
    static let storeRQ: [UInt8] = (try? Fixture.firstPDU("storescu-storescp.client").readableBytesView).map(Array.init)
        ?? []

    /// Bytes the client received after the A-ASSOCIATE-AC.
    static func afterAccept(_ received: [UInt8]) -> [UInt8] {
        guard received.count >= 6 else { return [] }
        let length = Int(received[2]) << 24 | Int(received[3]) << 16 | Int(received[4]) << 8 | Int(received[5])
        return Array(received.dropFirst(6 + length))
    }

    @Test("backend killed mid-transfer: the client gets exactly A-ABORT 2/0, aborted-by-server, gauges back to zero")
    func backendKilledMidTransfer() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await RelGateway.start(
                services: """
                      - label: DICOM
                        listen: "127.0.0.1:11112"
                        protocol: dicom
                        servers:
                          - \(scp.server("DICOM1"))
                    """,
                scope: scope
            )
            let port = try await gateway.port("DICOM")
            let client = try await RawConnection.connect(port: port, scope: scope)
            try await client.send(ByteBuffer(bytes: Self.storeRQ))
            #expect(await client.waitForBytes(6), "no answer to the A-ASSOCIATE-RQ")
            try #require(client.received.first == 0x02, "expected an A-ASSOCIATE-AC: \(client.received.prefix(10))")
            // A P-DATA-TF announcing 16 KiB (storescp's maximum PDU): one PDV item (context 1, a command
            // fragment that is not the last), of which the first 1,000 bytes are sent: the transfer is under way.
            var pdata = ByteBuffer()
            pdata.writeInteger(UInt8(0x04))
            pdata.writeInteger(UInt8(0))
            pdata.writeInteger(UInt32(16384))
            pdata.writeInteger(UInt32(16380))
            pdata.writeInteger(UInt8(1))
            pdata.writeInteger(UInt8(0x01))
            pdata.writeRepeatingByte(0, count: 994)
            try await client.send(pdata)
            // Relayed at once; the record's pdata_pdus_up == 1 below proves the gateway saw it on its way.
            try await Task.sleep(for: .seconds(1))
            let before = client.received.count

            kill(scp.process.pid, SIGKILL)

            #expect(await client.waitForEOF(), "the client was not closed")
            #expect(Array(client.received.dropFirst(before)) == gatewayAbortBytes)
            #expect(Self.afterAccept(client.received) == gatewayAbortBytes)
            await client.close()
            let record = try #require(try await gateway.records("dicom.association", count: 1).first)
            #expect(record.string("outcome") == "aborted-by-server")
            #expect(record.int("pdata_pdus_up") == 1)
            // FIN or RST, as the kernel chose for the killed process's socket with unread data.
            let end = record.string("end") ?? ""
            #expect(["server closed its side", "server error: connection reset"].contains(end), "\(end)")
            #expect(try await gateway.drained("DICOM"), "connections left after the backend died")
            #expect(try await gateway.runtime("DICOM").stats.activeConnections == 0)
        }
    }

    @Test("backend accepts and never answers: A-ABORT 2/0 at idle_timeout, timeout record, server down by its checks")
    func backendNeverAnswers() async throws {
        try await withTestScope { scope in
            let silent = try await CountingListener.start(scope: scope)
            let gateway = try await RelGateway.start(
                services: """
                      - label: DICOM
                        listen: "127.0.0.1:11112"
                        protocol: dicom
                        idle_timeout: 3s
                        health_check:
                          { type: dicom-echo, called_ae: MACH7, interval: 1s, timeout: 1s, rise: 1, fall: 2 }
                        servers:
                          - \(silent.server("DICOM1"))
                    """,
                scope: scope
            )
            let port = try await gateway.port("DICOM")
            // A real requestor: dcmtk's echoscu, with its own ACSE timeout well past the gateway's.
            let echo = try await ChildProcess.start(
                Peers.echoscu,
                ["-v", "-ta", "60", "-aet", "MODALITY1", "-aec", "MACH7", "127.0.0.1", String(port)],
                name: "echoscu",
                directory: scope.directory,
                scope: scope
            )
            let client = try await RawConnection.connect(port: port, scope: scope)
            try await client.send(ByteBuffer(bytes: Self.storeRQ))

            #expect(await client.waitForEOF(timeout: .seconds(30)), "the gateway never gave up on the silent server")
            #expect(client.received == gatewayAbortBytes, "expected only the gateway's A-ABORT: \(client.received)")
            #expect(await echo.waitForExit(timeout: .seconds(30)) != 0)
            #expect(echo.output.lowercased().contains("abort"), "\(echo.output)")

            let records = try await gateway.records("dicom.association", count: 2)
            for record in records {
                #expect(record.string("outcome") == "timeout")
                #expect(record.string("error") == "idle timeout")
            }
            let runtime = try await gateway.runtime("DICOM")
            #expect(
                await eventually(timeout: .seconds(20)) { runtime.pool.snapshot().first?.health == .down },
                "the health check did not mark the silent server down"
            )
            #expect(try await gateway.drained("DICOM"))
        }
    }
}

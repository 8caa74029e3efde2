import Foundation
import NIOCore
import PacsgateCore
import PacsgateTestSupport
import Testing

/// Slow clients and services with no server left: the exact answers PS3.8 and the HL7 docs promise.
@Suite("Faults: clients and dead services", .timeLimit(.minutes(3)))
struct ClientFaultTests {
    @Test("A-ASSOCIATE-RQ at one byte per second: closed at peek_timeout without a byte, audited as timeout")
    func oneBytePerSecond() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await RelGateway.start(
                services: """
                      - label: DICOM
                        listen: "127.0.0.1:11112"
                        protocol: dicom
                        peek_timeout: 3s
                        servers:
                          - \(scp.server("DICOM1"))
                    """,
                scope: scope
            )
            let client = try await RawConnection.connect(port: try await gateway.port("DICOM"), scope: scope)
            let request = BackendFaultTests.storeRQ
            let trickle = Task {
                for byte in request {
                    guard !client.sawEOF else { return }
                    try? await client.send(ByteBuffer(bytes: [byte]))
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            defer { trickle.cancel() }
            #expect(await client.waitForEOF(timeout: .seconds(30)), "the trickling client was never cut off")
            trickle.cancel()
            // ARTIM expiry in Sta2 (AA-2): the transport is closed, nothing is sent.
            #expect(client.received.isEmpty, "expected no answer, got \(client.received)")
            let record = try #require(try await gateway.records("dicom.association", count: 1).first)
            #expect(record.string("outcome") == "timeout")
            #expect(record.string("error")?.hasPrefix("no complete A-ASSOCIATE-RQ within peek_timeout (ARTIM)") == true)
            #expect(scp.associationsReceived == 0, "the incomplete request must not reach the server")
            #expect(try await gateway.drained("DICOM"))
        }
    }

    @Test("all servers down: echoscu gets A-ASSOCIATE-RJ 2/3/1, an HL7 sender an AR NAK and a close")
    func allServersDown() async throws {
        try await withTestScope { scope in
            let dead1 = try Ports.free()
            let dead2 = try Ports.free()
            let gateway = try await RelGateway.start(
                services: """
                      - label: DICOM
                        listen: "127.0.0.1:11112"
                        protocol: dicom
                        connect_timeout: 2s
                        servers:
                          - { label: DICOM1, address: "127.0.0.1:\(dead1)" }
                          - { label: DICOM2, address: "127.0.0.1:\(dead2)" }
                      - label: HL7
                        listen: "127.0.0.1:6667"
                        protocol: hl7
                        connect_timeout: 2s
                        servers:
                          - { label: HL7A, address: "127.0.0.1:\(dead1)" }
                          - { label: HL7B, address: "127.0.0.1:\(dead2)" }
                    """,
                scope: scope
            )
            let dicomPort = try await gateway.port("DICOM")
            let echo = try await Peers.run(
                Peers.echoscu,
                ["-aet", "MODALITY1", "-aec", "MACH7", "127.0.0.1", String(dicomPort)],
                name: "echoscu",
                scope: scope
            )
            #expect(echo.status != 0)
            #expect(echo.output.contains("Association Rejected"), "\(echo.output)")
            #expect(echo.output.contains("Rejected Transient"), "\(echo.output)")

            let client = try await RawConnection.connect(port: dicomPort, scope: scope)
            try await client.send(ByteBuffer(bytes: BackendFaultTests.storeRQ))
            #expect(await client.waitForEOF())
            // A-ASSOCIATE-RJ: type 3, length 4, result 2 (rejected-transient), source 3 (presentation), reason 1.
            #expect(client.received == [0x03, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x02, 0x03, 0x01])
            await client.close()
            for record in try await gateway.records("dicom.association", count: 2) {
                #expect(record.string("outcome") == "rejected-by-gateway")
            }

            // python-hl7's MLLP client, as an HL7 sender would use it.
            let hl7Port = try await gateway.port("HL7")
            let output = try await Peers.python(
                Self.hl7Sender,
                [String(hl7Port)],
                name: "hl7-sender",
                scope: scope
            )
            #expect(output.contains("ACK-SEGMENTS MSH|MSA"), "\(output)")
            #expect(output.contains("MSA-1 AR"), "\(output)")
            #expect(output.contains("MSA-2 MSG00001"), "\(output)")
            #expect(output.contains("CLOSED yes"), "the gateway must close after the NAK: \(output)")
            let rejected = try #require(try await gateway.records("hl7.rejected", count: 1).first)
            #expect(rejected.string("reason") == "server_unavailable")
            #expect(rejected.string("nak_code") == "AR")
            #expect(try await gateway.drained("DICOM"))
            #expect(try await gateway.drained("HL7"))
        }
    }

    /// Sends one ADT^A01 with python-hl7's MLLPClient and prints the NAK's segments, MSA-1/2 and whether the
    /// gateway closed the connection afterwards.
    static let hl7Sender = #"""
        import socket, sys
        import hl7
        from hl7.client import MLLPClient
        port = int(sys.argv[1])
        message = "\r".join([
            "MSH|^~\\&|RIS|HOSP|MACH7|PACS|20250101120000||ADT^A01|MSG00001|P|2.5.1",
            "EVN|A01|20250101120000",
            "PID|1||DEMO-0001^^^HOSP^MR||DEMO^PATIENT",
        ]) + "\r"
        client = MLLPClient("127.0.0.1", port)
        client.socket.settimeout(20)
        reply = client.send_message(message)
        if isinstance(reply, bytes):
            reply = reply.decode("ascii", "replace")
        ack = hl7.parse(reply)
        print("ACK-SEGMENTS " + "|".join(str(segment[0]) for segment in ack))
        print("MSA-1 " + str(ack.segment("MSA")[1]))
        print("MSA-2 " + str(ack.segment("MSA")[2]))
        try:
            rest = client.socket.recv(1)
            print("CLOSED " + ("yes" if rest == b"" else "no"))
        except socket.timeout:
            print("CLOSED no")
        """#
}

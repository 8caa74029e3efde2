import Foundation
import NIOCore
import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateDICOM

/// Must show 3: every bad first input through a real gateway — the exact answer bytes on the wire, the close, one
/// audit record, no backend connection, and a gateway that still forwards the next good association.
@Suite("Bad input through the gateway", .timeLimit(.minutes(3)))
struct BadInputTests {
    enum Delivery: Sendable {
        /// Write everything at once and wait.
        case whole
        /// Write everything, then half-close (a client that gives up mid-PDU).
        case thenClose
        /// One byte per second (a slow drip that must not pin a socket past `peek_timeout`).
        case drip
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var delivery: Delivery = .whole
        /// The gateway's answer, byte for byte (empty: it closes without a word, as PS3.8 prescribes there).
        var answer: [UInt8]
        var outcome: String
        var error: String
        var testDescription: String { self.name }
    }

    static let rq: [UInt8] = (try? Fixture.pdu("echoscu-storescp.client").bytes) ?? []

    static let cases: [Case] = {
        var version = rq
        version[6...7] = [0x00, 0x02]
        var overrun = rq
        overrun[99 + 3] = 0xFF  // presentation context item (offset 99) length 0x00FF: past the user information
        return [
            Case(
                name: "garbage (an HTTP request)",
                bytes: Array("GET / HTTP/1.1\r\nHost: pacs\r\n\r\n".utf8),
                answer: Wire.abort(reason: 1),
                outcome: "protocol-error",
                error: "unrecognized PDU type 0x47 at offset 0"
            ),
            Case(
                name: "garbage (a TLS ClientHello on the plain port)",
                bytes: [0x16, 0x03, 0x01, 0x02, 0x00, 0x01],
                answer: Wire.abort(reason: 1),
                outcome: "protocol-error",
                error: "unrecognized PDU type 0x16 at offset 0"
            ),
            Case(
                name: "first PDU not an A-ASSOCIATE-RQ (A-RELEASE-RQ)",
                bytes: [0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0],
                answer: Wire.abort(reason: 2),
                outcome: "protocol-error",
                error: "unexpected A-RELEASE-RQ (type 0x05) at offset 0"
            ),
            Case(
                name: "first PDU not an A-ASSOCIATE-RQ (P-DATA-TF)",
                bytes: [0x04, 0, 0, 0, 0, 6, 0, 0, 0, 2, 1, 3],
                answer: Wire.abort(reason: 2),
                outcome: "protocol-error",
                error: "unexpected P-DATA-TF (type 0x04) at offset 0"
            ),
            Case(
                name: "length field larger than max_pdu_peek",
                bytes: [0x01, 0x00, 0x00, 0x10, 0x00, 0x00],
                answer: Wire.abort(reason: 6),
                outcome: "protocol-error",
                error: "A-ASSOCIATE-RQ length 1048576 at offset 2 exceeds the limit of 65530"
            ),
            Case(
                name: "wrong protocol version",
                bytes: version,
                answer: Wire.reject(1, 2, 2),
                outcome: "protocol-error",
                error: "protocol version 0x0002 at offset 6 is not supported (bit 0 clear)"
            ),
            Case(
                name: "item length overruns its parent",
                bytes: overrun,
                answer: Wire.abort(reason: 6),
                outcome: "protocol-error",
                error: "item 0x20 at offset 99 ends at 358, past its parent's end at 211"
            ),
            Case(
                name: "truncated PDU then close",
                bytes: Array(rq.prefix(120)),
                delivery: .thenClose,
                answer: [],
                outcome: "protocol-error",
                error: "connection closed after 120 bytes of an incomplete A-ASSOCIATE-RQ"
            ),
            Case(
                name: "slow drip of one byte per second",
                bytes: rq,
                delivery: .drip,
                answer: [],
                outcome: "timeout",
                error: "no complete A-ASSOCIATE-RQ within peek_timeout (ARTIM)"
            ),
            Case(
                name: "A-ABORT before any request",
                bytes: Wire.abort(source: 0, reason: 0),
                answer: [],
                outcome: "aborted-by-client",
                error: "A-ABORT before any A-ASSOCIATE-RQ"
            ),
        ]
    }()

    @Test(arguments: cases)
    func badInput(_ input: Case) async throws {
        try await withTestScope { scope in
            let backend = try await CountingListener.start(scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(
                    servers: [backend.server("DICOM1")],
                    // A short ARTIM only where the case is about it: a loaded test machine must not turn the
                    // other cases into timeouts.
                    extra: ["    peek_timeout: \(input.delivery == .drip ? "3s" : "30s")", "    close_linger: 10s"]
                ),
                scope: scope
            )
            let port = try await gateway.port()
            let client = try await RawConnection.connect(port: port, scope: scope)

            var dripped = 0
            switch input.delivery {
            case .whole:
                try await client.send(ByteBuffer(bytes: input.bytes))
            case .thenClose:
                try await client.send(ByteBuffer(bytes: input.bytes))
                try await client.finishOutput()
            case .drip:
                for byte in input.bytes where !client.sawEOF {
                    try? await client.send(ByteBuffer(bytes: [byte]))
                    dripped += 1
                    try await Task.sleep(for: .seconds(1))
                }
            }
            #expect(await client.waitForEOF(), "the gateway did not close its side")
            #expect(client.received == input.answer, "answer \(client.received) instead of \(input.answer)")
            if input.delivery == .drip {
                #expect(dripped < input.bytes.count, "the drip kept the socket until the whole request was in")
            }
            // Sta13: after its A-ABORT / RJ the gateway waits for the requestor to close; then the record is written.
            await client.close()

            let record = try #require(try await gateway.associationRecords(count: 1).first)
            #expect(record.string("outcome") == input.outcome)
            #expect(record.string("error")?.hasPrefix(input.error) == true, "error: \(record.string("error") ?? "-")")
            #expect(record.isNull("server"))
            #expect(record.int("bytes_down") == input.answer.count)
            if input.delivery != .drip { #expect(record.int("bytes_up") == input.bytes.count) }
            if let abort = record.object("abort") {
                #expect(abort.string("by") == "gateway")
                #expect(abort.int("reason") == Int(input.answer[9]))
            }
            #expect(try gateway.records(AssociationRecord.startEvent).isEmpty)
            #expect(backend.connections == 0, "the backend was contacted")

            // No crash, nothing stuck: the next good association is forwarded.
            let good = try await RawConnection.connect(port: port, scope: scope)
            try await good.send(ByteBuffer(bytes: Self.rq))
            #expect(await eventually(timeout: .seconds(60)) { backend.connections == 1 })
        }
    }
}

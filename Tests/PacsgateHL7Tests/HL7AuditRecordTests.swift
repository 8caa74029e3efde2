import Foundation
import NIOCore
import PacsgateAuditRecords
import PacsgateCore
import Testing

@testable import PacsgateHL7

/// The audit records' exact shape: fixed key order, every value escaped, nothing beyond MSH.
@Suite("HL7 audit records")
struct HL7AuditRecordTests {
    static let connection = HL7AuditRecord.Connection(
        service: "HL7",
        client: "10.0.0.5:40000",
        server: ServerIdentity(label: "HL71", endpoint: Endpoint(host: "10.0.0.9", port: 6667))
    )
    static let noon = WallClock.Instant(millisecondsSinceEpoch: 1_735_732_800_000)

    @Test("hl7.message: every field of the issue, in order, ack_code and ack_ms")
    func message() {
        let summary = HL7MessageSummary(
            sendingApplication: "RIS",
            sendingFacility: "HOSP",
            receivingApplication: "PACS",
            receivingFacility: "MACH7",
            messageType: "ORM^O01^ORM_O01",
            controlID: "C1",
            version: "2.5.1"
        )
        let message = HL7ForwardedMessage(summary: summary, bytes: 160, streamOffset: 0, receivedAt: Self.noon)
        let acked = HL7AuditRecord.message(
            HL7MessageOutcome(
                message: message,
                acknowledgment: .received(.applicationAccept, latency: .milliseconds(12))
            ),
            connection: Self.connection
        )
        #expect(
            acked.text
                == #"{"time":"2025-01-01T12:00:00.000Z","event":"hl7.message","service":"HL7","#
                + #""client":"10.0.0.5:40000","server":{"label":"HL71","address":"10.0.0.9:6667"},"sending_app":"RIS","#
                + #""sending_facility":"HOSP","receiving_app":"PACS","receiving_facility":"MACH7","#
                + #""message_type":"ORM^O01^ORM_O01","control_id":"C1","version":"2.5.1","#
                + #""bytes":160,"ack_code":"AA","ack_ms":12}"#
        )
        let missing = HL7AuditRecord.message(
            HL7MessageOutcome(message: message, acknowledgment: .missing(.connectionClosed)),
            connection: Self.connection
        )
        #expect(
            missing.text.hasSuffix(#""bytes":160,"ack_code":"none","ack_ms":null,"ack_missing":"connection_closed"}"#)
        )
    }

    @Test("hostile MSH values cannot forge fields or lines")
    func escaping() throws {
        let summary = HL7MessageSummary(
            sendingApplication: "R\"IS\",\"event\":\"x",
            sendingFacility: "H\u{2028}",
            receivingApplication: "\\",
            receivingFacility: "",
            messageType: "A",
            controlID: "C",
            version: "2"
        )
        let line = HL7AuditRecord.message(
            HL7MessageOutcome(
                message: HL7ForwardedMessage(summary: summary, bytes: 1, streamOffset: 0, receivedAt: Self.noon),
                acknowledgment: .missing(.timeout)
            ),
            connection: Self.connection
        )
        let bytes = line.line
        #expect(bytes.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["event"] as? String == "hl7.message")
        #expect(object["sending_app"] as? String == summary.sendingApplication)
        #expect(object["sending_facility"] as? String == summary.sendingFacility)
    }

    @Test("hl7.rejected: reason, detail, offset, action and NAK code; MSH fields null when unreadable")
    func rejected() {
        let input = HL7RejectedInput(
            reason: .notMSH,
            detail: "payload does not start with an MSH segment",
            streamOffset: 7,
            byteCount: 20,
            summary: nil,
            response: .negativeAcknowledgment(.applicationError),
            time: Self.noon
        )
        #expect(
            HL7AuditRecord.rejected(input, connection: Self.connection).text
                == #"{"time":"2025-01-01T12:00:00.000Z","event":"hl7.rejected","service":"HL7","#
                + #""client":"10.0.0.5:40000","server":{"label":"HL71","address":"10.0.0.9:6667"},"reason":"not_msh","#
                + #""detail":"payload does not start with an MSH segment","#
                + #""offset":7,"bytes":20,"action":"nak","nak_code":"AE","sending_app":null,"sending_facility":null,"#
                + #""receiving_app":null,"receiving_facility":null,"message_type":null,"control_id":null,"#
                + #""version":null}"#
        )
    }
}

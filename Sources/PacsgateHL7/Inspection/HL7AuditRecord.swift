import NIOCore
import PacsgateCore

/// The audit records of HL7 services, one JSON line each; ``JSONLine`` escapes every value.
///
/// Only MSH values and the gateway's own findings (offsets, counts, reasons) are written: never a byte of
/// PID or any later segment.
enum HL7AuditRecord {
    /// Who talked on the connection.
    struct Connection: Sendable, Equatable {
        var service: String
        var client: String
        /// The Mach7 node, once forwarding started.
        var server: ServerIdentity? {
            didSet { self.renderedServer = self.server.map(AuditServer.init) }
        }
        /// `server` as the records write it: described once per connection, not once per message.
        private(set) var renderedServer: AuditServer?
        /// The client's TLS session on a terminating service: `tls` and `client_certificate` of every record.
        var secureTransport: SecureTransportFacts?

        init(service: String, client: String, server: ServerIdentity?) {
            self.service = service
            self.client = client
            self.server = server
            self.renderedServer = server.map(AuditServer.init)
        }
    }

    static let messageEvent: AuditEvent = "hl7.message"
    static let rejectedEvent: AuditEvent = "hl7.rejected"
    static let lateAcknowledgmentEvent: AuditEvent = "hl7.late_ack"

    /// `hl7.message`: one per forwarded message, written when its ACK arrives or it is closed out without one.
    /// `time` is when the gateway received the message.
    static func message(_ outcome: HL7MessageOutcome, connection: Connection) -> AuditRecord {
        let message = outcome.message
        // Sized for a typical record (about 360 bytes, longer MSH values) so it is built without growing.
        var line = AuditLog.record(event: Self.messageEvent, time: message.receivedAt, capacity: 640)
        Self.connectionFields(connection, into: &line)
        Self.summaryFields(message.summary, into: &line)
        line.field("bytes", message.bytes)
        switch outcome.acknowledgment {
        case .received(let code, let latency):
            line.field("ack_code", code.rawValue)
            line.field("ack_ms", Self.milliseconds(latency))
        case .missing(let why):
            line.field("ack_code", "none")
            line.nullField("ack_ms")
            line.field("ack_missing", why.rawValue)
        }
        return line
    }

    /// `hl7.rejected`: one per piece of client input the gateway refused to forward.
    static func rejected(_ input: HL7RejectedInput, connection: Connection) -> AuditRecord {
        var line = AuditLog.record(event: Self.rejectedEvent, time: input.time)
        Self.connectionFields(connection, into: &line)
        line.field("reason", input.reason.rawValue)
        line.field("detail", input.detail)
        line.field("offset", input.streamOffset)
        line.field("bytes", input.byteCount)
        line.field("action", input.response.action)
        line.field("nak_code", input.response.code?.rawValue)
        if let summary = input.summary {
            Self.summaryFields(summary, into: &line)
        } else {
            for key in [
                "sending_app", "sending_facility", "receiving_app", "receiving_facility", "message_type", "control_id",
                "version",
            ] {
                line.nullField(key)
            }
        }
        return line
    }

    /// `hl7.late_ack`: the server acknowledged a message after it had been audited without an ACK.
    static func lateAcknowledgment(
        _ message: HL7ForwardedMessage,
        code: HL7AcknowledgmentCode,
        latency: TimeAmount,
        time: WallClock.Instant,
        connection: Connection
    ) -> AuditRecord {
        var line = AuditLog.record(event: Self.lateAcknowledgmentEvent, time: time)
        Self.connectionFields(connection, into: &line)
        Self.summaryFields(message.summary, into: &line)
        line.field("received", message.receivedAt)
        line.field("ack_code", code.rawValue)
        line.field("ack_ms", Self.milliseconds(latency))
        return line
    }

    private static func connectionFields(_ connection: Connection, into line: inout AuditRecord) {
        line.field("service", connection.service)
        line.field("client", connection.client)
        if let rendered = connection.renderedServer {
            line.field("server", rendered)
        } else {
            line.nullField("server")
        }
        line.secureTransportFields(connection.secureTransport)
    }

    private static func summaryFields(_ summary: HL7MessageSummary, into line: inout AuditRecord) {
        line.field("sending_app", summary.sendingApplication)
        line.field("sending_facility", summary.sendingFacility)
        line.field("receiving_app", summary.receivingApplication)
        line.field("receiving_facility", summary.receivingFacility)
        line.field("message_type", summary.messageType)
        line.field("control_id", summary.controlID)
        line.field("version", summary.version)
    }

    static func milliseconds(_ amount: TimeAmount) -> Int {
        Int(amount.nanoseconds / 1_000_000)
    }
}

import NIOCore
import PacsgateAuditRecords
import PacsgateCore

/// The audit records of HL7 services, built as PacsgateAuditRecords' typed values (``HL7MessageAudit``,
/// ``HL7RejectedAudit``, ``HL7LateAcknowledgmentAudit``), which write the lines; ``JSONLine`` escapes every value.
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

        /// The connection as every record of it reports it.
        var audit: HL7ConnectionAudit {
            HL7ConnectionAudit(
                service: self.service, client: self.client, server: self.renderedServer,
                secureTransport: self.secureTransport)
        }

        init(service: String, client: String, server: ServerIdentity?) {
            self.service = service
            self.client = client
            self.server = server
            self.renderedServer = server.map(AuditServer.init)
        }
    }

    /// `hl7.message`: one per forwarded message, written when its ACK arrives or it is closed out without one.
    /// `time` is when the gateway received the message.
    static func message(_ outcome: HL7MessageOutcome, connection: Connection) -> AuditRecord {
        let message = outcome.message
        let acknowledgment: HL7MessageAudit.Acknowledgment =
            switch outcome.acknowledgment {
            case .received(let code, let latency): .received(code: code.rawValue, milliseconds: Self.milliseconds(latency))
            case .missing(let why): .missing(why.rawValue)
            }
        return HL7MessageAudit(
            time: message.receivedAt, connection: connection.audit, summary: message.summary, bytes: message.bytes,
            acknowledgment: acknowledgment
        ).auditRecord
    }

    /// `hl7.rejected`: one per piece of client input the gateway refused to forward.
    static func rejected(_ input: HL7RejectedInput, connection: Connection) -> AuditRecord {
        HL7RejectedAudit(
            time: input.time, connection: connection.audit, reason: input.reason.rawValue, detail: input.detail,
            offset: input.streamOffset, bytes: input.byteCount, action: input.response.action,
            nakCode: input.response.code?.rawValue, summary: input.summary
        ).auditRecord
    }

    /// `hl7.late_ack`: the server acknowledged a message after it had been audited without an ACK.
    static func lateAcknowledgment(
        _ message: HL7ForwardedMessage,
        code: HL7AcknowledgmentCode,
        latency: TimeAmount,
        time: WallClock.Instant,
        connection: Connection
    ) -> AuditRecord {
        HL7LateAcknowledgmentAudit(
            time: time, connection: connection.audit, summary: message.summary, received: message.receivedAt,
            code: code.rawValue, milliseconds: Self.milliseconds(latency)
        ).auditRecord
    }

    static func milliseconds(_ amount: TimeAmount) -> Int {
        Int(amount.nanoseconds / 1_000_000)
    }
}

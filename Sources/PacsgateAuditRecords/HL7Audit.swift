public import PacsgateCore

/// Who talked on an HL7 connection, as every record of it writes it: `service`, `client`, `server`, and on a
/// terminating service `tls` and `client_certificate`.
public struct HL7ConnectionAudit: Sendable, Equatable {
    public var service: String
    /// `ip:port` of the client.
    public var client: String
    /// The Mach7 node, once forwarding started (described once per connection, not once per message).
    public var server: AuditServer?
    /// The client's TLS session on a terminating service; `nil` on a plain one, whose records have neither key.
    public var secureTransport: SecureTransportFacts?

    public init(service: String, client: String, server: AuditServer?, secureTransport: SecureTransportFacts?) {
        self.service = service
        self.client = client
        self.server = server
        self.secureTransport = secureTransport
    }

    fileprivate func write(into line: inout AuditRecord) {
        line.field("service", self.service)
        line.field("client", self.client)
        line.field("server", self.server)
        line.secureTransportFields(self.secureTransport)
    }
}

/// The MSH values of one message that its audit records and log lines carry (MSH-3, -4, -5, -6, -9, -10, -12).
///
/// Only MSH is read, so nothing here is patient data. Values are copied out of the received bytes (a header would keep
/// the whole read buffer alive until the message's ACK arrives) and kept in wire form (escape sequences undecoded,
/// components joined by the message's own separator). The HL7 module builds it from a parsed header
/// (`HL7MessageSummary(header)`).
public struct HL7MessageSummary: Sendable, Hashable {
    /// MSH-3.
    public var sendingApplication: String
    /// MSH-4.
    public var sendingFacility: String
    /// MSH-5.
    public var receivingApplication: String
    /// MSH-6.
    public var receivingFacility: String
    /// MSH-9 in full, e.g. `ORM^O01^ORM_O01`.
    public var messageType: String
    /// MSH-10.
    public var controlID: String
    /// MSH-12.
    public var version: String

    /// Creates a summary from explicit values.
    public init(
        sendingApplication: String, sendingFacility: String, receivingApplication: String, receivingFacility: String,
        messageType: String, controlID: String, version: String
    ) {
        self.sendingApplication = sendingApplication
        self.sendingFacility = sendingFacility
        self.receivingApplication = receivingApplication
        self.receivingFacility = receivingFacility
        self.messageType = messageType
        self.controlID = controlID
        self.version = version
    }

    static let keys = [
        "sending_app", "sending_facility", "receiving_app", "receiving_facility", "message_type", "control_id", "version",
    ]

    fileprivate static func write(_ summary: HL7MessageSummary?, into line: inout AuditRecord) {
        guard let summary else {
            for key in Self.keys { line.nullField(key) }
            return
        }
        line.field("sending_app", summary.sendingApplication)
        line.field("sending_facility", summary.sendingFacility)
        line.field("receiving_app", summary.receivingApplication)
        line.field("receiving_facility", summary.receivingFacility)
        line.field("message_type", summary.messageType)
        line.field("control_id", summary.controlID)
        line.field("version", summary.version)
    }
}

/// An `hl7.message` record: one forwarded message, written when its ACK arrived or it was closed out without one
/// (docs/hl7.md). `time` is when the gateway received the message.
public struct HL7MessageAudit: Sendable, Equatable {
    /// What became of the message's acknowledgment.
    public enum Acknowledgment: Sendable, Equatable {
        /// The server's ACK: its code (`AA`, `AE`, …) and the time it took.
        case received(code: String, milliseconds: Int)
        /// None came: why (`timeout`, `connection_closed`, `evicted`, `duplicate_control_id`).
        case missing(String)

        /// `ack_code`: the code, or `none`.
        public var code: String {
            switch self {
            case .received(let code, _): code
            case .missing: "none"
            }
        }
    }

    public var time: WallClock.Instant
    public var connection: HL7ConnectionAudit
    public var summary: HL7MessageSummary
    /// The message's length in bytes.
    public var bytes: Int
    public var acknowledgment: Acknowledgment

    public init(
        time: WallClock.Instant, connection: HL7ConnectionAudit, summary: HL7MessageSummary, bytes: Int,
        acknowledgment: Acknowledgment
    ) {
        self.time = time
        self.connection = connection
        self.summary = summary
        self.bytes = bytes
        self.acknowledgment = acknowledgment
    }

    /// The record, keys in the documented order; this value is its payload.
    public var auditRecord: AuditRecord {
        // Sized for a typical record (about 360 bytes, longer MSH values) so it is built without growing.
        var line = AuditRecord(event: .hl7Message, time: self.time, capacity: 640)
        self.connection.write(into: &line)
        HL7MessageSummary.write(self.summary, into: &line)
        line.field("bytes", self.bytes)
        line.field("ack_code", self.acknowledgment.code)
        switch self.acknowledgment {
        case .received(_, let milliseconds):
            line.field("ack_ms", milliseconds)
        case .missing(let why):
            line.nullField("ack_ms")
            line.field("ack_missing", why)
        }
        line.payload = self
        return line
    }
}

/// An `hl7.rejected` record: one piece of client input the gateway refused to forward (docs/hl7.md).
public struct HL7RejectedAudit: Sendable, Equatable {
    public var time: WallClock.Instant
    public var connection: HL7ConnectionAudit
    /// Why (`bad_msh`, `not_msh`, `sender_not_allowed`, …).
    public var reason: String
    /// What was wrong, in the gateway's words (offsets and lengths, never field contents beyond MSH).
    public var detail: String
    /// Where the input started in the client's stream.
    public var offset: Int
    public var bytes: Int
    /// What the gateway did (`nak`, `close`, …).
    public var action: String
    /// The NAK's code, when one was sent.
    public var nakCode: String?
    /// The MSH values, when the header could be read (the keys are `null` otherwise).
    public var summary: HL7MessageSummary?

    public init(
        time: WallClock.Instant, connection: HL7ConnectionAudit, reason: String, detail: String, offset: Int,
        bytes: Int, action: String, nakCode: String?, summary: HL7MessageSummary?
    ) {
        self.time = time
        self.connection = connection
        self.reason = reason
        self.detail = detail
        self.offset = offset
        self.bytes = bytes
        self.action = action
        self.nakCode = nakCode
        self.summary = summary
    }

    /// The record, keys in the documented order; this value is its payload.
    public var auditRecord: AuditRecord {
        var line = AuditRecord(event: .hl7Rejected, time: self.time)
        self.connection.write(into: &line)
        line.field("reason", self.reason)
        line.field("detail", self.detail)
        line.field("offset", self.offset)
        line.field("bytes", self.bytes)
        line.field("action", self.action)
        line.field("nak_code", self.nakCode)
        HL7MessageSummary.write(self.summary, into: &line)
        line.payload = self
        return line
    }
}

/// An `hl7.late_ack` record: the server acknowledged a message after it had been audited without an ACK
/// (docs/hl7.md). `time` is when the ACK came; `received` when the message did.
public struct HL7LateAcknowledgmentAudit: Sendable, Equatable {
    public var time: WallClock.Instant
    public var connection: HL7ConnectionAudit
    public var summary: HL7MessageSummary
    public var received: WallClock.Instant
    public var code: String
    public var milliseconds: Int

    public init(
        time: WallClock.Instant, connection: HL7ConnectionAudit, summary: HL7MessageSummary, received: WallClock.Instant,
        code: String, milliseconds: Int
    ) {
        self.time = time
        self.connection = connection
        self.summary = summary
        self.received = received
        self.code = code
        self.milliseconds = milliseconds
    }

    /// The record; this value is its payload.
    public var auditRecord: AuditRecord {
        var line = AuditRecord(event: .hl7LateAcknowledgment, time: self.time)
        self.connection.write(into: &line)
        HL7MessageSummary.write(self.summary, into: &line)
        line.field("received", self.received)
        line.field("ack_code", self.code)
        line.field("ack_ms", self.milliseconds)
        line.payload = self
        return line
    }
}

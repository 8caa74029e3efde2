public import NIOCore
public import PacsgateAuditRecords
public import PacsgateCore

/// A message the gateway validated and forwarded to the server, awaiting (or past) its acknowledgment.
public struct HL7ForwardedMessage: Sendable, Hashable {
    /// Its MSH values.
    public var summary: HL7MessageSummary
    /// Size of the frame as forwarded, start block to final CR.
    public var bytes: Int
    /// Offset of its start block in the client's byte stream.
    public var streamOffset: Int
    /// When the gateway received (and forwarded) it: the `time` of its `hl7.message` record.
    public var receivedAt: WallClock.Instant

    /// Creates a record of a forwarded message.
    public init(summary: HL7MessageSummary, bytes: Int, streamOffset: Int, receivedAt: WallClock.Instant) {
        self.summary = summary
        self.bytes = bytes
        self.streamOffset = streamOffset
        self.receivedAt = receivedAt
    }
}

/// How a forwarded message ended up: the `ack_code`/`ack_ms` of its `hl7.message` record.
public struct HL7MessageOutcome: Sendable, Hashable {
    /// Why no acknowledgment was matched to a message.
    public enum MissingAcknowledgment: String, Sendable, Hashable {
        /// No ACK within the service's `ack_timeout` (one arriving later is reported as `hl7.late_ack`).
        case timeout
        /// The connection ended first.
        case connectionClosed = "connection_closed"
        /// Too many messages (256) awaited an ACK at once; the oldest stopped being tracked.
        case evicted
        /// The client sent another message with the same MSH-10 before this one was acknowledged.
        case duplicateControlID = "duplicate_control_id"
    }

    /// The server's answer, or why there was none.
    public enum Acknowledgment: Sendable, Hashable {
        /// The server's MSA-1 and the time from forwarding the message to receiving the ACK.
        case received(HL7AcknowledgmentCode, latency: TimeAmount)
        /// No ACK was matched.
        case missing(MissingAcknowledgment)
    }

    /// The message.
    public var message: HL7ForwardedMessage
    /// Its acknowledgment.
    public var acknowledgment: Acknowledgment

    /// Creates an outcome.
    public init(message: HL7ForwardedMessage, acknowledgment: Acknowledgment) {
        self.message = message
        self.acknowledgment = acknowledgment
    }
}

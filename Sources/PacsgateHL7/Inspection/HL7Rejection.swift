public import PacsgateAuditRecords
public import PacsgateCore

/// Why the gateway refused client input on an HL7 service; the `reason` of an `hl7.rejected` audit record.
public enum HL7RejectionReason: String, Sendable, Hashable, CaseIterable {
    /// Bytes other than CR/LF/NUL outside any frame (log text, an unframed message, another protocol).
    case dataBeforeStartBlock = "data_before_start_block"
    /// A new start block before the current frame's end block: the partial message is dropped.
    case startBlockInsideFrame = "start_block_inside_frame"
    /// An end block followed by something other than CR.
    case endBlockWithoutCarriageReturn = "end_block_without_cr"
    /// No end block within `max_message_bytes` payload bytes.
    case frameTooLarge = "frame_too_large"
    /// The connection ended (or the first message did not complete in time) inside a frame.
    case incompleteFrame = "incomplete_frame"
    /// A well-framed payload that does not start with an MSH segment.
    case notMSH = "not_msh"
    /// A well-framed HL7 batch (`FHS`/`BHS`), which the gateway does not relay.
    case batchNotSupported = "batch_not_supported"
    /// A well-framed payload whose MSH cannot be parsed (delimiters, control characters, no MSH-10).
    case invalidMSH = "invalid_msh"
    /// No server could take the connection (none up, all connects failed, service at `maxconn`).
    case serverUnavailable = "server_unavailable"
    /// The audit log cannot be written and `audit.on_failure` is `refuse`: the message is answered AE, not forwarded.
    case auditUnavailable = "audit_unavailable"
    /// The message's sender (MSH-3/MSH-4) is not on `sender_allow`, or is bound to a client certificate the client
    /// did not present.
    case senderNotAllowed = "sender_not_allowed"
}

/// What the gateway did about rejected input; the `action` (and `nak_code`) of an `hl7.rejected` record.
public enum HL7RejectionResponse: Sendable, Hashable {
    /// Answered with this negative acknowledgment; the connection goes on.
    case negativeAcknowledgment(HL7AcknowledgmentCode)
    /// Answered with this negative acknowledgment, then closed the connection.
    case negativeAcknowledgmentAndClose(HL7AcknowledgmentCode)
    /// Closed the connection without an answer.
    case close
    /// Dropped the bytes without an answer (none can be addressed); the connection goes on or had already ended.
    case discard

    /// The `action` value of the audit record.
    public var action: String {
        switch self {
        case .negativeAcknowledgment: "nak"
        case .negativeAcknowledgmentAndClose: "nak_and_close"
        case .close: "close"
        case .discard: "discard"
        }
    }

    /// The MSA-1 code sent, if any.
    public var code: HL7AcknowledgmentCode? {
        switch self {
        case .negativeAcknowledgment(let code), .negativeAcknowledgmentAndClose(let code): code
        case .close, .discard: nil
        }
    }
}

/// One piece of client input the gateway refused to forward.
public struct HL7RejectedInput: Sendable, Hashable {
    /// Why.
    public var reason: HL7RejectionReason
    /// Log-safe text naming the defect and its byte offsets (never payload bytes).
    public var detail: String
    /// Offset in the client's byte stream where the rejected input starts (its start block, or the first junk byte).
    public var streamOffset: Int
    /// How many bytes were dropped (for an oversized frame: up to the limit).
    public var byteCount: Int
    /// The MSH values of the rejected message, when its MSH could be read.
    public var summary: HL7MessageSummary?
    /// What the gateway did.
    public var response: HL7RejectionResponse
    /// When it happened.
    public var time: WallClock.Instant

    /// Creates a record of rejected input.
    public init(
        reason: HL7RejectionReason,
        detail: String,
        streamOffset: Int,
        byteCount: Int,
        summary: HL7MessageSummary?,
        response: HL7RejectionResponse,
        time: WallClock.Instant
    ) {
        self.reason = reason
        self.detail = detail
        self.streamOffset = streamOffset
        self.byteCount = byteCount
        self.summary = summary
        self.response = response
        self.time = time
    }
}

extension MSHParseError {
    /// The rejection reason for a well-framed payload with this MSH defect.
    var rejectionReason: HL7RejectionReason {
        switch self {
        case .notMSH: .notMSH
        case .batchNotSupported: .batchNotSupported
        case .segmentTooShort, .invalidFieldSeparator, .invalidEncodingCharacters, .controlCharacter,
            .missingControlID, .controlIDTooLong:
            .invalidMSH
        }
    }

    /// The table 0357 code reported in the NAK's ERR segment.
    package var errorCode: HL7ErrorCode {
        switch self {
        case .notMSH, .batchNotSupported: .segmentSequenceError
        case .segmentTooShort, .missingControlID: .requiredFieldMissing
        case .invalidFieldSeparator, .invalidEncodingCharacters, .controlCharacter, .controlIDTooLong: .dataTypeError
        }
    }
}

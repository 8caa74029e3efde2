/// How a segment was terminated on the wire.
///
/// HL7 v2 requires a single CR. CRLF and LF come from senders that build messages as text files; the
/// parsers accept them so the gateway can report the defect instead of rejecting the message.
public enum HL7SegmentTerminator: Sendable, Hashable {
    /// `0x0D`, the only standard terminator.
    case carriageReturn
    /// `0x0D 0x0A`.
    case carriageReturnLineFeed
    /// `0x0A` alone.
    case lineFeed
    /// The payload ended without a terminator (common for the last segment, e.g. python-hl7's ACKs).
    case endOfPayload

    /// `true` for anything other than a single CR.
    public var isNonStandard: Bool { self != .carriageReturn }

    /// Number of terminator bytes this terminator occupies.
    var byteCount: Int {
        switch self {
        case .carriageReturn, .lineFeed: 1
        case .carriageReturnLineFeed: 2
        case .endOfPayload: 0
        }
    }
}

/// Why a payload is not a usable acknowledgment. Offsets are from the first payload byte.
public enum MSAParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The acknowledgment's own MSH is unusable.
    case header(MSHParseError)
    /// No MSA segment where one must be: the segment at `offset` is neither MSA nor one of the segments
    /// allowed before it (SFT, UAC), or the payload ends at `offset`.
    case missingMSA(offset: Int)
    /// MSA-1 is not one of AA, AE, AR, CA, CE, CR; `found` is a printable rendering of (up to 8 bytes of) it.
    case invalidAcknowledgmentCode(found: String, offset: Int)
    /// MSA-2 is absent or empty; `offset` is where it should start.
    case missingControlID(offset: Int)
    /// MSA-2 is longer than ``MSHParser/maximumControlIDLength``.
    case controlIDTooLong(length: Int, offset: Int)
    /// A control character (below 0x20 or 0x7F, other than a segment terminator) inside the MSA segment.
    case controlCharacter(byte: UInt8, offset: Int)

    /// Offset of the problem from the first payload byte.
    public var offset: Int {
        switch self {
        case .header(let error): error.offset
        case .missingMSA(let offset), .missingControlID(let offset): offset
        case .invalidAcknowledgmentCode(_, let offset), .controlIDTooLong(_, let offset),
            .controlCharacter(_, let offset):
            offset
        }
    }

    /// Log-safe, operator-readable text naming the defect and its offset.
    public var description: String {
        switch self {
        case .header(let error):
            "acknowledgment header: \(error)"
        case .missingMSA(let offset):
            "no MSA segment at payload offset \(offset)"
        case .invalidAcknowledgmentCode(let found, let offset):
            "invalid MSA-1 acknowledgment code \"\(found)\" at payload offset \(offset)"
        case .missingControlID(let offset):
            "MSA-2 control ID missing at payload offset \(offset)"
        case .controlIDTooLong(let length, let offset):
            "MSA-2 control ID of \(length) bytes at payload offset \(offset) exceeds "
                + "\(MSHParser.maximumControlIDLength)"
        case .controlCharacter(let byte, let offset):
            "control character \(DiagnosticRendering.hex(byte)) in MSA at payload offset \(offset)"
        }
    }
}

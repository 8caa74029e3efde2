/// Why a payload's first segment is not a usable MSH. Offsets are from the first payload byte
/// (add the frame's stream offset + 1 for the offset in the connection).
public enum MSHParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The payload does not start with `MSH`. `segmentID` is the printable rendering of its first
    /// (up to three) bytes, e.g. `PID` or `\x06` for an MLLP R2 commit acknowledgment.
    case notMSH(segmentID: String)
    /// The payload starts with a batch (`BHS`) or file (`FHS`) header; the HL7 batch protocol is not supported.
    case batchNotSupported(segmentID: String)
    /// The segment ends at `offset`, before MSH-1 and MSH-2 are complete.
    case segmentTooShort(offset: Int)
    /// MSH-1 (byte 3) is not a printable, non-alphanumeric ASCII character.
    case invalidFieldSeparator(byte: UInt8, offset: Int)
    /// MSH-2 is not 4 (or, v2.7+, 5) distinct delimiter characters different from MSH-1; `offset` is the
    /// first offending byte (or the start of MSH-2 if its length is wrong).
    case invalidEncodingCharacters(offset: Int)
    /// A control character (below 0x20 or 0x7F, other than a segment terminator) inside the MSH segment.
    case controlCharacter(byte: UInt8, offset: Int)
    /// MSH-10 (message control ID) is absent or empty; `offset` is where it should start.
    case missingControlID(offset: Int)
    /// MSH-10 is longer than ``MSHParser/maximumControlIDLength``.
    case controlIDTooLong(length: Int, offset: Int)

    /// Offset of the problem from the first payload byte.
    public var offset: Int {
        switch self {
        case .notMSH, .batchNotSupported: 0
        case .segmentTooShort(let offset), .invalidEncodingCharacters(let offset), .missingControlID(let offset):
            offset
        case .invalidFieldSeparator(_, let offset), .controlCharacter(_, let offset),
            .controlIDTooLong(_, let offset):
            offset
        }
    }

    /// Log-safe, operator-readable text naming the defect and its offset.
    public var description: String {
        switch self {
        case .notMSH(let segmentID):
            "payload does not start with an MSH segment (found \"\(segmentID)\") at payload offset 0"
        case .batchNotSupported(let segmentID):
            "HL7 batch header \(segmentID) at payload offset 0: batches are not supported"
        case .segmentTooShort(let offset):
            "MSH segment ends at payload offset \(offset) before its encoding characters"
        case .invalidFieldSeparator(let byte, let offset):
            "invalid MSH-1 field separator \(DiagnosticRendering.hex(byte)) at payload offset \(offset)"
        case .invalidEncodingCharacters(let offset):
            "invalid MSH-2 encoding characters at payload offset \(offset)"
        case .controlCharacter(let byte, let offset):
            "control character \(DiagnosticRendering.hex(byte)) in MSH at payload offset \(offset)"
        case .missingControlID(let offset):
            "MSH-10 message control ID missing at payload offset \(offset)"
        case .controlIDTooLong(let length, let offset):
            "MSH-10 message control ID of \(length) bytes at payload offset \(offset) exceeds "
                + "\(MSHParser.maximumControlIDLength)"
        }
    }
}

/// HL7 table 0357 message error condition codes, for the ERR segment of generated NAKs.
public enum HL7ErrorCode: Int, Sendable, Hashable, CaseIterable {
    /// 100: segment sequence error (segments missing, out of order or unexpected).
    case segmentSequenceError = 100
    /// 101: a required field is missing.
    case requiredFieldMissing = 101
    /// 102: a field's value does not match its data type.
    case dataTypeError = 102
    /// 103: a coded value is not in its table.
    case tableValueNotFound = 103
    /// 200: MSH-9.1 is not supported.
    case unsupportedMessageType = 200
    /// 201: MSH-9.2 is not supported.
    case unsupportedEventCode = 201
    /// 202: MSH-11 is not supported.
    case unsupportedProcessingID = 202
    /// 203: MSH-12 is not supported.
    case unsupportedVersionID = 203
    /// 207: the receiver failed for reasons unrelated to the message (e.g. no healthy backend, framing fault).
    case applicationInternalError = 207

    /// The table's text for the code, e.g. `Application internal error`.
    public var text: String {
        switch self {
        case .segmentSequenceError: "Segment sequence error"
        case .requiredFieldMissing: "Required field missing"
        case .dataTypeError: "Data type error"
        case .tableValueNotFound: "Table value not found"
        case .unsupportedMessageType: "Unsupported message type"
        case .unsupportedEventCode: "Unsupported event code"
        case .unsupportedProcessingID: "Unsupported processing id"
        case .unsupportedVersionID: "Unsupported version id"
        case .applicationInternalError: "Application internal error"
        }
    }
}

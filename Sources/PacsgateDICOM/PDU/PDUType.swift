/// The seven PDU types of the DICOM upper layer (PS3.8 §9.3.1). Any other first byte is an
/// "unrecognized or invalid PDU" (``DICOMParseError/unrecognizedPDUType(_:offset:)``).
public enum PDUType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// A-ASSOCIATE-RQ, sent by the association requestor.
    case associateRequest = 0x01
    /// A-ASSOCIATE-AC, the acceptor's positive answer.
    case associateAccept = 0x02
    /// A-ASSOCIATE-RJ, the acceptor's negative answer.
    case associateReject = 0x03
    /// P-DATA-TF, carrying one or more presentation data values.
    case dataTransfer = 0x04
    /// A-RELEASE-RQ.
    case releaseRequest = 0x05
    /// A-RELEASE-RP.
    case releaseResponse = 0x06
    /// A-ABORT.
    case abort = 0x07

    /// The PS3.8 name, e.g. `A-ASSOCIATE-RQ`.
    public var description: String {
        switch self {
        case .associateRequest: "A-ASSOCIATE-RQ"
        case .associateAccept: "A-ASSOCIATE-AC"
        case .associateReject: "A-ASSOCIATE-RJ"
        case .dataTransfer: "P-DATA-TF"
        case .releaseRequest: "A-RELEASE-RQ"
        case .releaseResponse: "A-RELEASE-RP"
        case .abort: "A-ABORT"
        }
    }
}

public import NIOCore

/// Any upper-layer PDU, fully parsed (P-DATA-TF down to its PDV items).
///
/// ``parse(_:maxLength:)`` is the streaming decoder for a peer that must be fully understood
/// (the simulated SCP, the health check). To watch a relayed stream without buffering P-DATA
/// bodies use ``PDUStreamObserver``.
public enum PDU: Sendable, Hashable {
    /// A-ASSOCIATE-RQ.
    case associateRequest(AssociateRequest)
    /// A-ASSOCIATE-AC.
    case associateAccept(AssociateAccept)
    /// A-ASSOCIATE-RJ.
    case associateReject(AssociateReject)
    /// P-DATA-TF.
    case dataTransfer(PDataTransfer)
    /// A-RELEASE-RQ.
    case releaseRequest
    /// A-RELEASE-RP.
    case releaseResponse
    /// A-ABORT.
    case abort(AssociationAbort)

    /// The PDU type.
    public var type: PDUType {
        switch self {
        case .associateRequest: .associateRequest
        case .associateAccept: .associateAccept
        case .associateReject: .associateReject
        case .dataTransfer: .dataTransfer
        case .releaseRequest: .releaseRequest
        case .releaseResponse: .releaseResponse
        case .abort: .abort
        }
    }

    /// Parses the PDU at the reader index.
    ///
    /// On success the reader index moves past the PDU; on `nil` or error it does not move.
    /// - Parameter maxLength: largest acceptable PDU-length field for RQ, AC and P-DATA-TF;
    ///   checked as soon as the header is in.
    /// - Returns: the PDU, or `nil` when more bytes are needed.
    public static func parse(_ buffer: inout ByteBuffer, maxLength: Int) throws(DICOMParseError) -> PDU? {
        guard let header = try PDUHeader.peek(buffer) else { return nil }
        try header.validate(maxLength: maxLength)
        guard let pdu = buffer.getSlice(at: buffer.readerIndex, length: header.totalLength) else { return nil }
        let parsed = try PDU(header: header, pdu: pdu)
        buffer.moveReaderIndex(forwardBy: header.totalLength)
        return parsed
    }

    /// Decodes a complete PDU whose header was validated; `pdu` starts at index 0.
    init(header: PDUHeader, pdu: ByteBuffer) throws(DICOMParseError) {
        switch header.type {
        case .associateRequest: self = .associateRequest(try AssociateRequest(pdu: pdu))
        case .associateAccept: self = .associateAccept(try AssociateAccept(pdu: pdu))
        case .associateReject: self = .associateReject(AssociateReject(pdu: pdu))
        case .dataTransfer: self = .dataTransfer(try PDataTransfer(pdu: pdu))
        case .releaseRequest: self = .releaseRequest
        case .releaseResponse: self = .releaseResponse
        case .abort: self = .abort(AssociationAbort(pdu: pdu))
        }
    }

    /// Writes the PDU.
    public func encode(into buffer: inout ByteBuffer) {
        switch self {
        case .associateRequest(let request): request.encode(into: &buffer)
        case .associateAccept(let accept): accept.encode(into: &buffer)
        case .associateReject(let reject): reject.encode(into: &buffer)
        case .dataTransfer(let data): data.encode(into: &buffer)
        case .releaseRequest, .releaseResponse:
            PDUHeader(type: self.type, length: PDUHeader.fixedBodyLength).encode(into: &buffer)
            buffer.writeInteger(UInt32(0))
        case .abort(let abort): abort.encode(into: &buffer)
        }
    }
}

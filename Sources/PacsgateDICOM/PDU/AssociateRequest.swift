public import NIOCore

/// A parsed A-ASSOCIATE-RQ (PS3.8 §9.3.2).
///
/// The gateway holds the client's bytes until ``parse(_:maxLength:)`` returns a value, logs and
/// routes on it, then forwards the original bytes untouched; this value is never re-encoded for
/// forwarding. Parsed values copy what they keep (no view into the PDU, which may hold a
/// passcode) and never hold a User Identity secondary field.
public typealias AssociateRequest = AssociatePDU<PresentationContextProposal>

extension AssociateRequest {
    /// Parses the A-ASSOCIATE-RQ at the reader index of a stream's first bytes.
    ///
    /// On success the reader index moves past the PDU; on `nil` or error it does not move.
    /// - Parameters:
    ///   - buffer: the bytes received so far.
    ///   - maxLength: largest acceptable PDU-length field (bytes after the 6-byte header),
    ///     e.g. 65536; a larger declared length fails as soon as the header is in.
    /// - Returns: the request, or `nil` when more bytes are needed.
    /// - Throws: ``DICOMParseError``: ``DICOMParseError/unexpectedPDU(_:offset:)`` or
    ///   ``DICOMParseError/unrecognizedPDUType(_:offset:)`` from the first byte when it is not
    ///   0x01, ``DICOMParseError/pduTooLarge(_:length:limit:offset:)`` from the header, or any
    ///   structural error of the body once complete.
    public static func parse(_ buffer: inout ByteBuffer, maxLength: Int) throws(DICOMParseError) -> AssociateRequest? {
        guard let firstByte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        guard firstByte == PDUType.associateRequest.rawValue else {
            guard let type = PDUType(rawValue: firstByte) else { throw .unrecognizedPDUType(firstByte, offset: 0) }
            throw .unexpectedPDU(type, offset: 0)
        }
        guard let header = try PDUHeader.peek(buffer) else { return nil }
        try header.validate(maxLength: maxLength)
        guard let pdu = buffer.getSlice(at: buffer.readerIndex, length: header.totalLength) else { return nil }
        let request = try AssociateRequest(pdu: pdu)
        buffer.moveReaderIndex(forwardBy: header.totalLength)
        return request
    }

    /// Writes the PDU. User identity and extended negotiation sub-items are not encoded.
    public func encode(into buffer: inout ByteBuffer) { self.write(into: &buffer) }
}

/// One proposed presentation context (item 0x20): an abstract syntax and the transfer
/// syntaxes the requestor can use for it.
public struct PresentationContextProposal: Sendable, Hashable, AssociatePresentationContext {
    static let pduType = PDUType.associateRequest
    static let itemType = ItemType.presentationContextRequest

    /// Presentation context ID: odd, 1–255, unique within the association.
    public var id: UInt8
    /// Abstract syntax (SOP class) UID.
    public var abstractSyntax: String
    /// Proposed transfer syntax UIDs, in preference order.
    public var transferSyntaxes: [String]

    /// Creates a proposal.
    public init(id: UInt8, abstractSyntax: String, transferSyntaxes: [String]) {
        self.id = id
        self.abstractSyntax = abstractSyntax
        self.transferSyntaxes = transferSyntaxes
    }

    /// Parses item 0x20: ID at body offset 0, 3 reserved bytes, one 0x30, one or more 0x40.
    init(pdu: ByteBuffer, item: PDUItem) throws(DICOMParseError) {
        guard item.length >= 4, let id = pdu.getInteger(at: item.bodyStart, as: UInt8.self) else {
            throw .invalidItemLength(itemType: item.type, length: item.length, offset: item.offset)
        }
        var abstractSyntax: String?
        var transferSyntaxes: [String] = []
        var reader = PDUItemReader(pdu: pdu, start: item.bodyStart + 4, end: item.end)
        while let sub = try reader.next() {
            switch sub.type {
            case ItemType.abstractSyntax:
                guard abstractSyntax == nil else { throw .duplicateItem(itemType: sub.type, offset: sub.offset) }
                abstractSyntax = pdu.getTrimmedString(of: sub)
            case ItemType.transferSyntax:
                transferSyntaxes.append(pdu.getTrimmedString(of: sub))
            default:
                continue
            }
        }
        guard let abstractSyntax else { throw .missingItem(itemType: ItemType.abstractSyntax, offset: item.offset) }
        guard !transferSyntaxes.isEmpty else {
            throw .missingItem(itemType: ItemType.transferSyntax, offset: item.offset)
        }
        self.init(id: id, abstractSyntax: abstractSyntax, transferSyntaxes: transferSyntaxes)
    }

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeItem(type: ItemType.presentationContextRequest) { body in
            body.writeMultipleIntegers(self.id, UInt8(0), UInt16(0))
            body.writeItem(type: ItemType.abstractSyntax, string: self.abstractSyntax)
            for transferSyntax in self.transferSyntaxes {
                body.writeItem(type: ItemType.transferSyntax, string: transferSyntax)
            }
        }
    }
}

/// Everything that can be wrong with upper-layer or DIMSE command bytes.
///
/// Offsets count from the first byte of the PDU (for PDU and item errors, matching the tables
/// in PS3.8 §9.3) or of the command set (for command errors). Each case maps to the A-ABORT
/// a gateway should answer with (``abort``), except a bad protocol version in an
/// A-ASSOCIATE-RQ, which is answered with an A-ASSOCIATE-RJ (``associateReject``).
/// Descriptions name types, lengths and offsets only, never field contents.
public enum DICOMParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The PDU type byte is not 0x01–0x07.
    case unrecognizedPDUType(UInt8, offset: Int)
    /// A valid PDU type that is not allowed here, e.g. a first PDU that is not an A-ASSOCIATE-RQ.
    case unexpectedPDU(PDUType, offset: Int)
    /// The length field exceeds the caller's limit. Raised from the header alone.
    case pduTooLarge(PDUType, length: UInt32, limit: Int, offset: Int)
    /// The length field is impossible for the type (RJ, RELEASE and ABORT ≠ 4; RQ and AC < 68;
    /// P-DATA-TF < 6).
    case invalidPDULength(PDUType, length: UInt32, offset: Int)
    /// Bit 0 of the protocol version is clear (PS3.8 §9.3.2).
    case unsupportedProtocolVersion(UInt16, offset: Int)
    /// An item (or its 4-byte header) ends at `end`, beyond its parent's end.
    case itemOverrunsParent(itemType: UInt8, offset: Int, end: Int, parentEnd: Int)
    /// An item's length does not fit its type's layout (e.g. Maximum Length sub-item ≠ 4 bytes,
    /// or an inner length field that runs past the item).
    case invalidItemLength(itemType: UInt8, length: Int, offset: Int)
    /// A mandatory item is absent from the parent starting at `offset`.
    case missingItem(itemType: UInt8, offset: Int)
    /// An item that may occur once occurs again.
    case duplicateItem(itemType: UInt8, offset: Int)
    /// A presentation context ID that is zero or even (PS3.8 §9.3.2.2).
    case invalidPresentationContextID(UInt8, offset: Int)
    /// A presentation context ID used by two items of one PDU.
    case duplicatePresentationContextID(UInt8, offset: Int)
    /// A PDV item length below 2 or running past the end of its P-DATA-TF.
    case invalidPDVLength(UInt32, offset: Int)
    /// A PDV on a presentation context that the association did not accept.
    case unknownPresentationContext(UInt8)
    /// A PDV out of sequence: a data fragment before its command is complete or without a
    /// command announcing a data set, or a fragment switching context mid-message (PS3.8 Annex E).
    case unexpectedPDV(contextID: UInt8, isCommand: Bool)
    /// A command set element outside group 0000, with an undefined or wrong-sized length,
    /// or whose value runs past the end of the command set.
    case invalidCommandElement(DICOMTag, offset: Int)
    /// Fewer than the 8 bytes of an element header remain in the command set.
    case truncatedCommandSet(offset: Int)
    /// A command set lacks a mandatory element.
    case missingCommandElement(DICOMTag)
    /// Command fragments add up to more than the reassembler's limit.
    case commandSetTooLarge(limit: Int)

    /// The A-ABORT reason for this error (PS3.8 Table 9-26), sent with source 2 (provider).
    public var abortReason: AssociationAbort.Reason {
        switch self {
        case .unrecognizedPDUType: .unrecognizedPDU
        case .unexpectedPDU: .unexpectedPDU
        case .duplicateItem: .unexpectedPDUParameter
        case .pduTooLarge, .invalidPDULength, .unsupportedProtocolVersion, .itemOverrunsParent,
            .invalidItemLength, .missingItem, .invalidPresentationContextID, .duplicatePresentationContextID,
            .invalidPDVLength, .unknownPresentationContext:
            .invalidPDUParameterValue
        case .unexpectedPDV, .invalidCommandElement, .truncatedCommandSet, .missingCommandElement,
            .commandSetTooLarge:
            .notSpecified
        }
    }

    /// The A-ABORT to send for this error: source service-provider, reason ``abortReason``.
    public var abort: AssociationAbort {
        AssociationAbort(source: .serviceProvider, reason: self.abortReason)
    }

    /// Non-`nil` when the error means "wrong protocol version": answer an A-ASSOCIATE-RQ
    /// carrying it with this A-ASSOCIATE-RJ (result 1, source 2, reason 2) instead of an A-ABORT.
    public var associateReject: AssociateReject? {
        if case .unsupportedProtocolVersion = self { return .protocolVersionNotSupported }
        return nil
    }

    /// One operator-readable line.
    public var description: String {
        switch self {
        case .unrecognizedPDUType(let type, let offset):
            "unrecognized PDU type \(hexByte(type)) at offset \(offset)"
        case .unexpectedPDU(let type, let offset):
            "unexpected \(type) (type \(hexByte(type.rawValue))) at offset \(offset)"
        case .pduTooLarge(let type, let length, let limit, let offset):
            "\(type) length \(length) at offset \(offset) exceeds the limit of \(limit)"
        case .invalidPDULength(let type, let length, let offset):
            "\(type) length \(length) at offset \(offset) is invalid for this PDU type"
        case .unsupportedProtocolVersion(let version, let offset):
            "protocol version 0x\(hexWord(version)) at offset \(offset) is not supported (bit 0 clear)"
        case .itemOverrunsParent(let type, let offset, let end, let parentEnd):
            "item \(hexByte(type)) at offset \(offset) ends at \(end), past its parent's end at \(parentEnd)"
        case .invalidItemLength(let type, let length, let offset):
            "item \(hexByte(type)) at offset \(offset) has invalid length \(length)"
        case .missingItem(let type, let offset):
            "mandatory item \(hexByte(type)) missing from the structure at offset \(offset)"
        case .duplicateItem(let type, let offset):
            "item \(hexByte(type)) at offset \(offset) repeats an item allowed once"
        case .invalidPresentationContextID(let id, let offset):
            "presentation context ID \(id) at offset \(offset) is not an odd number 1-255"
        case .duplicatePresentationContextID(let id, let offset):
            "presentation context ID \(id) at offset \(offset) is used twice"
        case .invalidPDVLength(let length, let offset):
            "PDV item length \(length) at offset \(offset) is below 2 or overruns the P-DATA-TF"
        case .unknownPresentationContext(let id):
            "PDV on presentation context \(id), which was not accepted"
        case .unexpectedPDV(let id, let isCommand):
            "unexpected \(isCommand ? "command" : "data set") fragment on presentation context \(id)"
        case .invalidCommandElement(let tag, let offset):
            "command element \(tag) at offset \(offset) is malformed"
        case .truncatedCommandSet(let offset):
            "command set truncated at offset \(offset)"
        case .missingCommandElement(let tag):
            "command set lacks mandatory element \(tag)"
        case .commandSetTooLarge(let limit):
            "command set exceeds the limit of \(limit) bytes"
        }
    }
}

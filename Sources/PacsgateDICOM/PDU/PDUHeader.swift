public import NIOCore

/// The 6-byte header every upper-layer PDU starts with (PS3.8 §9.3.1): type, one reserved
/// byte (not tested), and a big-endian `UInt32` counting the bytes that follow the header.
public struct PDUHeader: Sendable, Hashable {
    /// Size of the header on the wire.
    public static let size = 6

    /// Length-field value of the four PDUs whose body is always four bytes (RJ, RELEASE, ABORT).
    static let fixedBodyLength: UInt32 = 4

    /// Fixed part of A-ASSOCIATE-RQ/-AC after the header: version through the reserved 32 bytes.
    static let associateFixedBodyLength: UInt32 = 68

    /// Smallest P-DATA-TF body: one PDV item header (4-byte length, context ID, control header).
    static let minimumDataTransferBodyLength: UInt32 = 6

    /// The PDU type.
    public var type: PDUType

    /// The PDU-length field: bytes after the header.
    public var length: UInt32

    /// Creates a header.
    public init(type: PDUType, length: UInt32) {
        self.type = type
        self.length = length
    }

    /// Header plus body, in bytes. Only used after ``validate(maxLength:)`` bounded the length.
    var totalLength: Int { PDUHeader.size + Int(self.length) }

    /// Reads the header at `buffer.readerIndex` without consuming anything.
    ///
    /// The type byte is checked as soon as it is available, so garbage fails on its first byte.
    /// - Returns: the header, or `nil` when fewer than 6 bytes are readable.
    /// - Throws: ``DICOMParseError/unrecognizedPDUType(_:offset:)``.
    public static func peek(_ buffer: ByteBuffer) throws(DICOMParseError) -> PDUHeader? {
        guard let rawType = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else {
            return nil
        }
        guard let type = PDUType(rawValue: rawType) else {
            throw .unrecognizedPDUType(rawType, offset: 0)
        }
        guard let length = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt32.self) else {
            return nil
        }
        return PDUHeader(type: type, length: length)
    }

    /// Checks the length field against what the type allows, before any body byte is awaited.
    ///
    /// - Parameter maxLength: largest acceptable length-field value for the variable-length
    ///   types (RQ, AC, P-DATA-TF); the fixed-length types must declare exactly 4.
    /// - Throws: ``DICOMParseError/invalidPDULength(_:length:offset:)`` or
    ///   ``DICOMParseError/pduTooLarge(_:length:limit:offset:)``.
    public func validate(maxLength: Int) throws(DICOMParseError) {
        let minimum: UInt32
        switch self.type {
        case .associateReject, .releaseRequest, .releaseResponse, .abort:
            guard self.length == PDUHeader.fixedBodyLength else {
                throw .invalidPDULength(self.type, length: self.length, offset: 2)
            }
            return
        case .associateRequest, .associateAccept:
            minimum = PDUHeader.associateFixedBodyLength
        case .dataTransfer:
            minimum = PDUHeader.minimumDataTransferBodyLength
        }
        guard self.length >= minimum else {
            throw .invalidPDULength(self.type, length: self.length, offset: 2)
        }
        guard UInt64(self.length) <= UInt64(clamping: maxLength) else {
            throw .pduTooLarge(self.type, length: self.length, limit: maxLength, offset: 2)
        }
    }

    /// Writes the header.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(self.type.rawValue, UInt8(0), self.length)
    }
}

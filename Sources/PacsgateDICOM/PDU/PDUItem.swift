import NIOCore

/// Item and sub-item types used in A-ASSOCIATE PDUs (PS3.8 §9.3.2–9.3.3, Annex D).
enum ItemType {
    static let applicationContext: UInt8 = 0x10
    static let presentationContextRequest: UInt8 = 0x20
    static let presentationContextAccept: UInt8 = 0x21
    static let abstractSyntax: UInt8 = 0x30
    static let transferSyntax: UInt8 = 0x40
    static let userInformation: UInt8 = 0x50
    static let maximumLength: UInt8 = 0x51
    static let implementationClassUID: UInt8 = 0x52
    static let asynchronousOperationsWindow: UInt8 = 0x53
    static let roleSelection: UInt8 = 0x54
    static let implementationVersionName: UInt8 = 0x55
    static let sopClassExtendedNegotiation: UInt8 = 0x56
    static let sopClassCommonExtendedNegotiation: UInt8 = 0x57
    static let userIdentityRequest: UInt8 = 0x58
    static let userIdentityResponse: UInt8 = 0x59
}

/// One item located inside a PDU: `type(1) reserved(1) length(2 BE)` then the body.
/// Offsets are indices into the PDU buffer, whose index 0 is the PDU type byte.
struct PDUItem {
    /// Item type byte.
    let type: UInt8
    /// Offset of the item header.
    let offset: Int
    /// Offset of the first body byte.
    var bodyStart: Int { self.offset + 4 }
    /// Body length from the item header.
    let length: Int
    /// Offset just past the body.
    var end: Int { self.bodyStart + self.length }
}

/// Walks the items in `start..<end` of a PDU, checking each against the parent's end.
struct PDUItemReader {
    private let pdu: ByteBuffer
    private var position: Int
    private let end: Int

    /// - Precondition (caller's, not input's): `pdu.readerIndex == 0` and `end <= pdu.writerIndex`.
    init(pdu: ByteBuffer, start: Int, end: Int) {
        self.pdu = pdu
        self.position = start
        self.end = end
    }

    /// The next item, `nil` at the parent's end.
    mutating func next() throws(DICOMParseError) -> PDUItem? {
        guard self.position < self.end, let type = self.pdu.getInteger(at: self.position, as: UInt8.self) else {
            return nil
        }
        guard self.end - self.position >= 4, let length = self.pdu.getInteger(at: self.position + 2, as: UInt16.self)
        else {
            throw .itemOverrunsParent(
                itemType: type,
                offset: self.position,
                end: self.position + 4,
                parentEnd: self.end
            )
        }
        let item = PDUItem(type: type, offset: self.position, length: Int(length))
        guard item.end <= self.end else {
            throw .itemOverrunsParent(itemType: type, offset: item.offset, end: item.end, parentEnd: self.end)
        }
        self.position = item.end
        return item
    }
}

extension ByteBuffer {
    /// A UID or name of `length` bytes at `index`, without trailing NUL/space padding
    /// (PS3.8 Annex F: some stacks pad UIDs although the UL forbids it).
    func getTrimmedString(at index: Int, length: Int) -> String {
        var trimmed = length
        while trimmed > 0, let byte = self.getInteger(at: index + trimmed - 1, as: UInt8.self),
            byte == 0x00 || byte == 0x20
        {
            trimmed -= 1
        }
        return self.getString(at: index, length: trimmed) ?? ""
    }

    /// The body of `item` as a trimmed string.
    func getTrimmedString(of item: PDUItem) -> String {
        self.getTrimmedString(at: item.bodyStart, length: item.length)
    }

    /// Writes an item header, lets `body` write the body, then patches the 16-bit length.
    ///
    /// Bodies come from this module's encoders (UIDs, AE titles, small sub-items); a body above
    /// 65535 bytes is a programming error.
    mutating func writeItem(type: UInt8, _ body: (inout ByteBuffer) -> Void) {
        self.writeMultipleIntegers(type, UInt8(0), UInt16(0))
        let bodyStart = self.writerIndex
        body(&self)
        let length = self.writerIndex - bodyStart
        precondition(length <= Int(UInt16.max), "PDU item body of \(length) bytes cannot be encoded")
        self.setInteger(UInt16(length), at: bodyStart - 2)
    }

    /// Writes an item whose body is `string`'s UTF-8 bytes.
    mutating func writeItem(type: UInt8, string: String) {
        self.writeItem(type: type) { $0.writeString(string) }
    }

    /// Writes a PDU header, lets `body` write the body, then patches the 32-bit length.
    mutating func writePDU(type: PDUType, _ body: (inout ByteBuffer) -> Void) {
        PDUHeader(type: type, length: 0).encode(into: &self)
        let bodyStart = self.writerIndex
        body(&self)
        self.setInteger(UInt32(self.writerIndex - bodyStart), at: bodyStart - 4)
    }
}

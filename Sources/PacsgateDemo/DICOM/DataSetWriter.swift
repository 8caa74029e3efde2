import PacsgateDICOM
import NIOCore

/// Writes data elements in Implicit or Explicit VR Little Endian (PS3.5 §7.1). Just enough for
/// short text values and one undefined-length sequence; callers write elements in tag order.
struct DataSetWriter {
    private static let itemTag = DICOMTag(0xFFFE, 0xE000)
    private static let itemDelimitationTag = DICOMTag(0xFFFE, 0xE00D)
    private static let sequenceDelimitationTag = DICOMTag(0xFFFE, 0xE0DD)
    private static let undefinedLength = UInt32.max

    let encoding: DataSetEncoding

    /// Writes a text element (AE, CS, DA, LO, PN, SH …), space padded to even length.
    /// Values come from configuration and must be well under 64 KiB.
    func writeText(_ tag: DICOMTag, vr: StaticString, _ value: String, into buffer: inout ByteBuffer) {
        let length = value.utf8.count
        let padded = length + length % 2
        self.writeHeader(tag, vr: vr, length: UInt32(padded), into: &buffer)
        buffer.writeString(value)
        if padded > length { buffer.writeInteger(UInt8(0x20)) }
    }

    /// Writes an undefined-length sequence holding one undefined-length item.
    func writeSequence(_ tag: DICOMTag, into buffer: inout ByteBuffer, item: (inout ByteBuffer) -> Void) {
        switch self.encoding {
        case .implicitVRLittleEndian:
            buffer.writeMultipleIntegers(tag.group, tag.element, Self.undefinedLength, endianness: .little)
        case .explicitVRLittleEndian:
            buffer.writeMultipleIntegers(tag.group, tag.element, endianness: .little)
            buffer.writeStaticString("SQ")
            buffer.writeMultipleIntegers(UInt16(0), Self.undefinedLength, endianness: .little)
        }
        Self.writeDelimiter(Self.itemTag, length: Self.undefinedLength, into: &buffer)
        item(&buffer)
        Self.writeDelimiter(Self.itemDelimitationTag, length: 0, into: &buffer)
        Self.writeDelimiter(Self.sequenceDelimitationTag, length: 0, into: &buffer)
    }

    /// Short-form element header: explicit VRs used here all have a 2-byte length.
    private func writeHeader(_ tag: DICOMTag, vr: StaticString, length: UInt32, into buffer: inout ByteBuffer) {
        switch self.encoding {
        case .implicitVRLittleEndian:
            buffer.writeMultipleIntegers(tag.group, tag.element, length, endianness: .little)
        case .explicitVRLittleEndian:
            buffer.writeMultipleIntegers(tag.group, tag.element, endianness: .little)
            buffer.writeStaticString(vr)
            buffer.writeInteger(UInt16(length), endianness: .little)
        }
    }

    /// Item and delimitation tags carry no VR in either encoding.
    private static func writeDelimiter(_ tag: DICOMTag, length: UInt32, into buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(tag.group, tag.element, length, endianness: .little)
    }
}

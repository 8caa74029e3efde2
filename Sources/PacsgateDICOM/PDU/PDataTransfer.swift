public import NIOCore

/// A P-DATA-TF PDU's body (PS3.8 §9.3.5): one or more PDV items, validated when parsed and
/// iterated without copying. A sequence of ``PresentationDataValue``. Its description lists
/// the PDV headers only, never their bytes.
public struct PDataTransfer: Sendable, Hashable, Sequence, CustomStringConvertible {
    /// The PDV items: everything after the 6-byte PDU header.
    public let items: ByteBuffer

    /// Creates a P-DATA-TF carrying `values` in order.
    public init(_ values: some Sequence<PresentationDataValue>) {
        var items = ByteBuffer()
        for value in values {
            items.writeMultipleIntegers(
                UInt32(value.itemLength),
                value.presentationContextID,
                value.messageControlHeader
            )
            items.writeImmutableBuffer(value.fragment)
        }
        self.items = items
    }

    /// Validates the PDV items of a complete P-DATA-TF in `pdu` (readerIndex 0): each item
    /// length at least 2 and within the PDU. Offsets in errors count from the PDU start.
    init(pdu: ByteBuffer) throws(DICOMParseError) {
        var position = PDUHeader.size
        while position < pdu.writerIndex {
            guard let length = pdu.getInteger(at: position, as: UInt32.self) else {
                throw .invalidPDVLength(0, offset: position)
            }
            let available = pdu.writerIndex - position - 4
            guard length >= 2, UInt64(length) <= UInt64(available) else {
                throw .invalidPDVLength(length, offset: position)
            }
            position += 4 + Int(length)
        }
        self.items = pdu.getSlice(at: PDUHeader.size, length: pdu.writerIndex - PDUHeader.size) ?? ByteBuffer()
    }

    /// E.g. `P-DATA-TF [PDV context 1 command last 68 bytes]`.
    public var description: String {
        "P-DATA-TF \(self.map(\.description))"
    }

    /// Writes the PDU.
    public func encode(into buffer: inout ByteBuffer) {
        PDUHeader(type: .dataTransfer, length: UInt32(self.items.readableBytes)).encode(into: &buffer)
        buffer.writeImmutableBuffer(self.items)
    }

    /// Iterates the PDVs.
    public func makeIterator() -> Iterator {
        Iterator(items: self.items)
    }

    /// Yields each PDV as a view into ``items``.
    public struct Iterator: IteratorProtocol {
        private var items: ByteBuffer

        init(items: ByteBuffer) {
            self.items = items
        }

        /// The next PDV, `nil` after the last.
        public mutating func next() -> PresentationDataValue? {
            guard let (length, contextID, control) = self.items.readMultipleIntegers(as: (UInt32, UInt8, UInt8).self),
                length >= 2,
                let fragment = self.items.readSlice(length: Int(length) - 2)
            else {
                return nil
            }
            return PresentationDataValue(
                presentationContextID: contextID,
                messageControlHeader: control,
                fragment: fragment
            )
        }
    }
}

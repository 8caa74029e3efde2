import NIOCore

/// Reads the fields of one bounded structure inside a handshake message.
///
/// Wraps a `ByteBuffer` slice (a view, not a copy) that ends where the structure ends, so nothing can be read
/// past the parent, and remembers where the slice starts in the handshake message so every error names its
/// position. Length-prefixed vectors come back as child readers bounded by their announced length.
struct FieldReader {
    private var buffer: ByteBuffer
    /// Handshake-message offset of the slice's first byte.
    private let origin: Int
    private let startIndex: Int

    init(_ buffer: ByteBuffer, origin: Int) {
        self.buffer = buffer
        self.origin = origin
        self.startIndex = buffer.readerIndex
    }

    /// Handshake-message offset of the next unread byte.
    var offset: Int {
        self.origin + (self.buffer.readerIndex - self.startIndex)
    }

    var isAtEnd: Bool {
        self.buffer.readableBytes == 0
    }

    /// The unread bytes.
    var unreadBytes: ByteBuffer {
        self.buffer
    }

    mutating func readUInt8(_ field: TLSParseError.Field) throws(TLSParseError) -> UInt8 {
        try self.readInteger(field)
    }

    mutating func readUInt16(_ field: TLSParseError.Field) throws(TLSParseError) -> UInt16 {
        try self.readInteger(field)
    }

    /// A big-endian integer, or `lengthOverrun(field)` where the bytes run out.
    private mutating func readInteger<Value: FixedWidthInteger>(
        _ field: TLSParseError.Field
    ) throws(TLSParseError) -> Value {
        guard let value = self.buffer.readInteger(as: Value.self) else {
            throw TLSParseError(.lengthOverrun(field), at: self.offset)
        }
        return value
    }

    mutating func skip(_ count: Int, _ field: TLSParseError.Field) throws(TLSParseError) {
        guard self.buffer.readSlice(length: count) != nil else {
            throw TLSParseError(.lengthOverrun(field), at: self.offset)
        }
    }

    /// Reads a vector with a `Prefix` length prefix (`UInt8.self` or `UInt16.self`, RFC 8446 section 3.4),
    /// checking the length against `allowed` (default: any the prefix can say) and `multipleOf` before checking it
    /// fits the parent. Errors point at the prefix.
    mutating func readVector<Prefix: FixedWidthInteger & UnsignedInteger>(
        _ field: TLSParseError.Field,
        prefix: Prefix.Type,
        allowed: ClosedRange<Int>? = nil,
        multipleOf: Int = 1
    ) throws(TLSParseError) -> FieldReader {
        let lengthOffset = self.offset
        let length = Int(try self.readInteger(field) as Prefix)
        guard (allowed ?? 0...Int(Prefix.max)).contains(length), length % multipleOf == 0 else {
            throw TLSParseError(.invalidLength(field, length: length), at: lengthOffset)
        }
        guard let content = self.buffer.readSlice(length: length) else {
            throw TLSParseError(.lengthOverrun(field), at: lengthOffset)
        }
        return FieldReader(content, origin: lengthOffset + Prefix.bitWidth / 8)
    }

    /// Throws `trailingBytes(field)` unless every byte has been read.
    func expectEnd(_ field: TLSParseError.Field) throws(TLSParseError) {
        guard self.isAtEnd else {
            throw TLSParseError(.trailingBytes(field), at: self.offset)
        }
    }
}

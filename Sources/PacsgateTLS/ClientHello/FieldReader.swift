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
        guard let value = self.buffer.readInteger(as: UInt8.self) else {
            throw TLSParseError(.lengthOverrun(field), at: self.offset)
        }
        return value
    }

    mutating func readUInt16(_ field: TLSParseError.Field) throws(TLSParseError) -> UInt16 {
        guard let value = self.buffer.readInteger(as: UInt16.self) else {
            throw TLSParseError(.lengthOverrun(field), at: self.offset)
        }
        return value
    }

    mutating func skip(_ count: Int, _ field: TLSParseError.Field) throws(TLSParseError) {
        guard self.buffer.readSlice(length: count) != nil else {
            throw TLSParseError(.lengthOverrun(field), at: self.offset)
        }
    }

    /// Reads a vector with a one-byte length prefix, checking the length against `allowed` and
    /// `multipleOf` before checking it fits the parent.
    mutating func readVector8(
        _ field: TLSParseError.Field,
        allowed: ClosedRange<Int> = 0...Int(UInt8.max),
        multipleOf: Int = 1
    ) throws(TLSParseError) -> FieldReader {
        let lengthOffset = self.offset
        let length = Int(try self.readUInt8(field))
        return try self.readVectorContent(
            field,
            length: length,
            lengthOffset: lengthOffset,
            lengthWidth: 1,
            allowed: allowed,
            multipleOf: multipleOf
        )
    }

    /// Reads a vector with a two-byte length prefix; see `readVector8`.
    mutating func readVector16(
        _ field: TLSParseError.Field,
        allowed: ClosedRange<Int> = 0...Int(UInt16.max),
        multipleOf: Int = 1
    ) throws(TLSParseError) -> FieldReader {
        let lengthOffset = self.offset
        let length = Int(try self.readUInt16(field))
        return try self.readVectorContent(
            field,
            length: length,
            lengthOffset: lengthOffset,
            lengthWidth: 2,
            allowed: allowed,
            multipleOf: multipleOf
        )
    }

    private mutating func readVectorContent(
        _ field: TLSParseError.Field,
        length: Int,
        lengthOffset: Int,
        lengthWidth: Int,
        allowed: ClosedRange<Int>,
        multipleOf: Int
    ) throws(TLSParseError) -> FieldReader {
        guard allowed.contains(length), length % multipleOf == 0 else {
            throw TLSParseError(.invalidLength(field, length: length), at: lengthOffset)
        }
        guard let content = self.buffer.readSlice(length: length) else {
            throw TLSParseError(.lengthOverrun(field), at: lengthOffset)
        }
        return FieldReader(content, origin: lengthOffset + lengthWidth)
    }

    /// Throws `trailingBytes(field)` unless every byte has been read.
    func expectEnd(_ field: TLSParseError.Field) throws(TLSParseError) {
        guard self.isAtEnd else {
            throw TLSParseError(.trailingBytes(field), at: self.offset)
        }
    }
}

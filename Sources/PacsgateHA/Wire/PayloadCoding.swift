public import NIOCore

/// Writes the fields of an HA payload: big-endian integers and length-prefixed UTF-8 strings.
public struct PayloadWriter {
    public private(set) var buffer: ByteBuffer

    public init(capacity: Int = 256) {
        self.buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    public mutating func u8(_ value: UInt8) { self.buffer.writeInteger(value) }
    public mutating func u16(_ value: UInt16) { self.buffer.writeInteger(value) }
    public mutating func u32(_ value: UInt32) { self.buffer.writeInteger(value) }
    public mutating func u64(_ value: UInt64) { self.buffer.writeInteger(value) }
    public mutating func bytes(_ value: [UInt8]) { self.buffer.writeBytes(value) }

    /// A string of at most 255 UTF-8 bytes after a one-byte length (longer text is cut at a character boundary).
    public mutating func string8(_ value: String) { self.string(value, limit: Int(UInt8.max)) { $0.u8(UInt8($1)) } }
    /// A string of at most 65,535 bytes after a two-byte length.
    public mutating func string16(_ value: String) { self.string(value, limit: Int(UInt16.max)) { $0.u16(UInt16($1)) } }
    /// A string after a four-byte length.
    public mutating func string32(_ value: String) { self.string(value, limit: Int(UInt32.max)) { $0.u32(UInt32($1)) } }

    private mutating func string(_ value: String, limit: Int, length: (inout PayloadWriter, Int) -> Void) {
        var bytes = Array(value.utf8)
        if bytes.count > limit {
            var end = limit
            // Do not cut a multi-byte character in half: back up to a lead byte.
            while end > 0, bytes[end] & 0xC0 == 0x80 { end -= 1 }
            bytes = Array(bytes[..<end])
        }
        length(&self, bytes.count)
        self.buffer.writeBytes(bytes)
    }
}

/// Reads the fields of an HA payload; every shortfall names the field.
public struct PayloadReader {
    private var buffer: ByteBuffer

    public init(_ buffer: ByteBuffer) {
        self.buffer = buffer
    }

    public var remaining: Int { self.buffer.readableBytes }

    public mutating func u8(_ field: String) throws(HAWireError) -> UInt8 { try self.integer(field) }

    public mutating func u16(_ field: String) throws(HAWireError) -> UInt16 { try self.integer(field) }

    public mutating func u32(_ field: String) throws(HAWireError) -> UInt32 { try self.integer(field) }

    public mutating func u64(_ field: String) throws(HAWireError) -> UInt64 { try self.integer(field) }

    /// A big-endian integer, or `.truncated` naming `field`.
    private mutating func integer<Value: FixedWidthInteger>(_ field: String) throws(HAWireError) -> Value {
        guard let value = self.buffer.readInteger(as: Value.self) else { throw .truncated(field: field) }
        return value
    }

    public mutating func bytes(_ count: Int, _ field: String) throws(HAWireError) -> [UInt8] {
        guard let value = self.buffer.readBytes(length: count) else { throw .truncated(field: field) }
        return value
    }

    public mutating func string8(_ field: String) throws(HAWireError) -> String {
        try self.string(Int(try self.u8(field)), field)
    }

    public mutating func string16(_ field: String) throws(HAWireError) -> String {
        try self.string(Int(try self.u16(field)), field)
    }

    public mutating func string32(_ field: String) throws(HAWireError) -> String {
        try self.string(Int(try self.u32(field)), field)
    }

    private mutating func string(_ length: Int, _ field: String) throws(HAWireError) -> String {
        guard let bytes = self.buffer.readBytes(length: length) else { throw .truncated(field: field) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .badField(field: field, reason: "not UTF-8")
        }
        return text
    }

    /// Throws if anything is left.
    public func finish() throws(HAWireError) {
        if self.buffer.readableBytes > 0 { throw .trailingBytes(count: self.buffer.readableBytes) }
    }
}

public import NIOCore

/// The frame types of wire format version 2 (see docs/ha-protocol.md).
public enum HAFrameType: UInt8, Sendable, CaseIterable {
    // Handshake frames: the two messages of the Noise NNpsk2 handshake, then the dialler's proof.
    case hello = 0x01
    case welcome = 0x02
    // 0x03 was version 1's refusal; a refusal is now a welcome frame's authenticated verdict.
    case confirm = 0x04
    // Session frames: ChaCha20-Poly1305 sealed with the session key of the sending direction.
    case status = 0x10
    case entries = 0x11
    case snapshotBegin = 0x12
    case snapshotEnd = 0x13
    case config = 0x14
    case configResult = 0x15
    case runtime = 0x16
    case goodbye = 0x17
    case handover = 0x18

    /// Whether frames of raw type `raw` belong to the handshake rather than the session.
    public static func isHandshake(_ raw: UInt8) -> Bool { raw < 0x10 }
}

/// One frame of the HA link: a fixed 20-byte header and a body.
///
/// ```
/// offset size
///  0     4    magic "PGHA"
///  4     1    wire format version (2)
///  5     1    type
///  6     2    flags (0; receivers ignore them)
///  8     8    sequence number, big endian (0 for handshake frames)
/// 16     4    body length, big endian
/// 20     n    body: payload followed by its authentication tag
/// ```
///
/// The header is the associated data of the tag, so none of it can be changed in transit either.
public struct HAFrame: Sendable, Equatable {
    /// `PGHA`.
    public static let magic: [UInt8] = [0x50, 0x47, 0x48, 0x41]
    /// The wire format version this code speaks.
    public static let version: UInt8 = 2
    /// Bytes of the header.
    public static let headerSize = 20
    /// Largest body of any frame until the session is authenticated (the handshake's frames are a few hundred
    /// bytes): an unauthenticated peer cannot make this unit buffer more.
    public static let handshakeBodyLimit = 1024
    /// Largest body of a session frame (a configuration file travels in one frame).
    public static let sessionBodyLimit = 4 << 20

    /// The raw type (unknown session types are authenticated and then ignored, so newer peers can add some).
    public var type: UInt8
    public var flags: UInt16
    public var sequence: UInt64
    /// Payload and tag.
    public var body: ByteBuffer

    public init(type: UInt8, flags: UInt16 = 0, sequence: UInt64, body: ByteBuffer) {
        self.type = type
        self.flags = flags
        self.sequence = sequence
        self.body = body
    }

    /// The 20 header bytes for a body of `bodyLength` bytes (the associated data of the tag).
    public static func header(type: UInt8, flags: UInt16 = 0, sequence: UInt64, bodyLength: Int) -> [UInt8] {
        var bytes = Self.magic
        bytes.reserveCapacity(Self.headerSize)
        bytes.append(Self.version)
        bytes.append(type)
        bytes.append(UInt8(truncatingIfNeeded: flags >> 8))
        bytes.append(UInt8(truncatingIfNeeded: flags))
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: sequence >> UInt64(shift))) }
        let length = UInt32(truncatingIfNeeded: bodyLength)
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: length >> UInt32(shift))) }
        return bytes
    }

    /// This frame's header bytes.
    public var header: [UInt8] {
        Self.header(type: self.type, flags: self.flags, sequence: self.sequence, bodyLength: self.body.readableBytes)
    }

    /// Appends the frame to `buffer`.
    public func write(to buffer: inout ByteBuffer) {
        buffer.writeBytes(self.header)
        buffer.writeImmutableBuffer(self.body)
    }

    /// Reads one frame from `buffer`; `nil` (with nothing consumed) when more bytes are needed.
    ///
    /// Checks the magic and the version as soon as they are there, and the announced length before waiting for the
    /// body, so a stranger or a lying length is refused after at most 20 bytes. Until the session is `authenticated`
    /// every frame is held to ``handshakeBodyLimit``; after it, session frames may be up to ``sessionBodyLimit``.
    public static func parse(_ buffer: inout ByteBuffer, authenticated: Bool = true) throws(HAWireError) -> HAFrame? {
        let available = buffer.readableBytes
        let start = buffer.readerIndex
        let magicBytes = min(4, available)
        if magicBytes > 0, let prefix = buffer.getBytes(at: start, length: magicBytes), prefix != Array(Self.magic.prefix(magicBytes)) {
            throw .notHALink(firstBytes: prefix)
        }
        if available > 4, let version = buffer.getInteger(at: start + 4, as: UInt8.self), version != Self.version {
            throw .unsupportedVersion(version)
        }
        guard available >= Self.headerSize,
            let type = buffer.getInteger(at: start + 5, as: UInt8.self),
            let flags = buffer.getInteger(at: start + 6, as: UInt16.self),
            let sequence = buffer.getInteger(at: start + 8, as: UInt64.self),
            let length = buffer.getInteger(at: start + 16, as: UInt32.self)
        else { return nil }
        let limit = !authenticated || HAFrameType.isHandshake(type) ? Self.handshakeBodyLimit : Self.sessionBodyLimit
        guard Int(length) <= limit else { throw .frameTooLarge(type: type, length: Int(length), limit: limit) }
        guard available >= Self.headerSize + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: Self.headerSize)
        guard let body = buffer.readSlice(length: Int(length)) else { return nil }
        return HAFrame(type: type, flags: flags, sequence: sequence, body: body)
    }
}

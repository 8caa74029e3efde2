public import NIOCore

/// Cuts the HA link's byte stream into frames (see ``HAFrame/parse(_:)``); a malformed stream fails the channel with
/// the ``HAWireError``.
public struct HAFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = HAFrame

    public init() {}

    public mutating func decode(buffer: inout ByteBuffer) throws -> HAFrame? {
        try HAFrame.parse(&buffer)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> HAFrame? {
        try HAFrame.parse(&buffer)
    }
}

/// Writes frames.
public struct HAFrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = HAFrame

    public init() {}

    public func encode(data: HAFrame, out: inout ByteBuffer) throws {
        data.write(to: &out)
    }
}

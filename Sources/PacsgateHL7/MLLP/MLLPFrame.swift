public import NIOCore

/// One complete MLLP content block, `0x0B` payload `0x1C 0x0D`, exactly as received.
public struct MLLPFrame: Sendable, Hashable {
    /// The whole frame including SB, EB and the final CR: forward exactly these bytes.
    ///
    /// A view of the chunk it arrived in when the frame lay inside one read (no copy); otherwise the
    /// scanner's single accumulation buffer.
    public let bytes: ByteBuffer
    /// The HL7 payload between SB and EB: a view of ``bytes``, never a copy.
    public let payload: ByteBuffer
    /// Offset of the frame's SB in the connection's byte stream.
    public let streamOffset: Int

    /// - Precondition: `bytes` holds at least SB, EB, CR (an internal invariant of the scanner).
    init(bytes: ByteBuffer, streamOffset: Int) {
        var payload = bytes
        payload.moveReaderIndex(forwardBy: 1)
        payload.moveWriterIndex(to: bytes.writerIndex - 2)
        self.bytes = bytes
        self.payload = payload
        self.streamOffset = streamOffset
    }
}

package import NIOCore

/// Collects a peer's chunks and hands out complete PDUs, holding at most one partial PDU
/// (bounded by the `maxLength` passed to ``next(maxLength:)``). Used by the state machines
/// that must understand everything the peer sends (``EchoProbe``, ``SimulatedSCP``).
package struct PDUReader {
    private var buffer = ByteBuffer()

    package init() {}

    /// Adds received bytes.
    package mutating func append(_ chunk: ByteBuffer) {
        if self.buffer.readableBytes == 0 {
            self.buffer = chunk
        } else {
            self.buffer.writeImmutableBuffer(chunk)
        }
    }

    /// The next complete PDU, or `nil` when more bytes are needed.
    package mutating func next(maxLength: Int) throws(DICOMParseError) -> PDU? {
        guard let pdu = try PDU.parse(&self.buffer, maxLength: maxLength) else {
            self.buffer.discardReadBytes()
            return nil
        }
        return pdu
    }
}

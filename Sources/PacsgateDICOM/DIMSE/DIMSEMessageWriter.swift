package import NIOCore

/// Frames a DIMSE message (command set plus optional data set) into P-DATA-TF PDUs.
package enum DIMSEMessageWriter {
    /// Writes `command` and `dataSet` on `contextID`, one PDV per PDU, each PDU's length field
    /// at most `maxPDULength` (the peer's Maximum Length; 0 = no limit). The command set is
    /// always Implicit VR Little Endian; `dataSet` must already be in the context's encoding.
    package static func write(
        _ command: DIMSECommand,
        dataSet: ByteBuffer? = nil,
        contextID: UInt8,
        maxPDULength: UInt32,
        into buffer: inout ByteBuffer
    ) {
        var commandSet = ByteBuffer()
        command.encode(into: &commandSet)
        Self.writeFragments(of: commandSet, isCommand: true, contextID: contextID, maxPDULength, into: &buffer)
        if let dataSet {
            Self.writeFragments(of: dataSet, isCommand: false, contextID: contextID, maxPDULength, into: &buffer)
        }
    }

    private static func writeFragments(
        of bytes: ByteBuffer,
        isCommand: Bool,
        contextID: UInt8,
        _ maxPDULength: UInt32,
        into buffer: inout ByteBuffer
    ) {
        // A PDU holding one PDV: 4-byte item length + context ID + control header + fragment.
        let overhead = PresentationDataValue.headerSize
        let maxFragment = maxPDULength == 0 ? Int.max : max(Int(maxPDULength) - overhead, 1)
        var remaining = bytes
        repeat {
            let fragment = remaining.readSlice(length: min(maxFragment, remaining.readableBytes)) ?? ByteBuffer()
            let pdv = PresentationDataValue(
                presentationContextID: contextID,
                isCommand: isCommand,
                isLastFragment: remaining.readableBytes == 0,
                fragment: fragment
            )
            PDUHeader(type: .dataTransfer, length: UInt32(overhead + fragment.readableBytes)).encode(into: &buffer)
            buffer.writeMultipleIntegers(UInt32(pdv.itemLength), contextID, pdv.messageControlHeader)
            buffer.writeImmutableBuffer(fragment)
        } while remaining.readableBytes > 0
    }
}

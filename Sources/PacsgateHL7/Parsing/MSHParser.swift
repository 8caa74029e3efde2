public import NIOCore

/// Parses the MSH segment at the start of an HL7 v2 payload (the bytes between MLLP SB and EB).
///
/// Only the first segment is read: PID and every later segment (patient data) are never touched.
/// MSH-1 and MSH-2 are taken from the message itself. A segment may end with CR, CRLF, LF or the end
/// of the payload; the terminator is reported in ``HL7MessageHeader/segmentTerminator``.
///
/// The parser is strict only where the gateway needs it: it requires valid delimiters, a non-empty
/// MSH-10 (without it no acknowledgment can be built) and no control characters in MSH (header fields
/// are ST/ID/HD/TS values, which exclude them). Other fields may be empty; whether a message type or
/// version is acceptable is the caller's decision, answered with an AR acknowledgment if need be.
///
/// Batches (`FHS`/`BHS` first) are rejected with ``MSHParseError/batchNotSupported(segmentID:)``: their
/// acknowledgment is a batch acknowledgment, which neither the gateway nor Mach7's feed uses.
public enum MSHParser {
    /// Longest MSH-10 accepted: the v2.7+ field length (v2.3–v2.6 allow 20). Bounds what the gateway
    /// stores per outstanding message and echoes in MSA-2.
    public static let maximumControlIDLength = 199

    private static let carriageReturn: UInt8 = 0x0D
    private static let lineFeed: UInt8 = 0x0A

    /// Parses the MSH segment of a complete message payload.
    ///
    /// - Parameter payload: the message payload (readable bytes), without MLLP framing.
    /// - Returns: the header, viewing `payload`'s storage.
    /// - Throws: ``MSHParseError`` naming the defect and its offset from the first payload byte.
    public static func parse(_ payload: ByteBuffer) throws(MSHParseError) -> HL7MessageHeader {
        // Read through the buffer's pointer: ByteBufferView's subscript checks its range and reads through
        // `getInteger` for every byte, several times the work of the scan itself (about 9k instructions per
        // message's MSH, callgrind). The bytes are only read, within the closure, and the header returned views the
        // buffer itself.
        try payload.withUnsafeReadableBytes { (bytes) throws(MSHParseError) -> HL7MessageHeader in
            try Self.parse(bytes, of: payload)
        }
    }

    /// The body of ``parse(_:)``: `bytes` are `payload`'s readable bytes.
    private static func parse(_ bytes: UnsafeRawBufferPointer, of payload: ByteBuffer) throws(MSHParseError) -> HL7MessageHeader {
        let count = bytes.count

        // Segment ID: exactly "MSH". A shorter prefix of it that ends is a truncated MSH.
        var idLength = 0
        while idLength < min(3, count), !Self.isTerminator(bytes[idLength]) { idLength += 1 }
        let segmentID = bytes[0..<idLength]
        guard idLength == 3, segmentID.elementsEqual("MSH".utf8) else {
            if idLength > 0, idLength < 3, "MSH".utf8.starts(with: segmentID) {
                throw .segmentTooShort(offset: idLength)
            }
            if idLength == 3, segmentID.elementsEqual("FHS".utf8) || segmentID.elementsEqual("BHS".utf8) {
                throw .batchNotSupported(segmentID: DiagnosticRendering.printable(segmentID))
            }
            throw .notMSH(segmentID: DiagnosticRendering.printable(bytes[0..<min(3, count)]))
        }

        // MSH-1.
        guard count > 3, !Self.isTerminator(bytes[3]) else { throw .segmentTooShort(offset: 3) }
        let fieldSeparator = bytes[3]
        guard HL7Delimiters.isValidDelimiter(fieldSeparator) else {
            throw .invalidFieldSeparator(byte: fieldSeparator, offset: 3)
        }

        // MSH-2: 4 or 5 distinct delimiters, none equal to MSH-1.
        var index = 4
        while index < count, bytes[index] != fieldSeparator, !Self.isTerminator(bytes[index]) {
            index += 1
        }
        let encodingLength = index - 4
        guard encodingLength > 0 || (index < count && bytes[index] == fieldSeparator) else {
            throw .segmentTooShort(offset: 4)
        }
        guard encodingLength == 4 || encodingLength == 5 else { throw .invalidEncodingCharacters(offset: 4) }
        for position in 4..<index {
            let character = bytes[position]
            guard HL7Delimiters.isValidDelimiter(character), character != fieldSeparator,
                !bytes[4..<position].contains(character)
            else { throw .invalidEncodingCharacters(offset: position) }
        }
        let delimiters = HL7Delimiters(
            field: fieldSeparator,
            component: bytes[4],
            repetition: bytes[5],
            escape: bytes[6],
            subcomponent: bytes[7],
            truncation: encodingLength == 5 ? bytes[8] : nil
        )
        var spans = HL7MessageHeader.FieldSpans()
        spans.encodingCharacters = 4..<index

        // MSH-3 onwards, up to the segment terminator.
        var fieldCount = 2
        if index < count, bytes[index] == fieldSeparator {
            fieldCount = 3
            index += 1
            var fieldStart = index
            while index < count {
                let byte = bytes[index]
                if byte == fieldSeparator {
                    spans.record(field: fieldCount, fieldStart..<index)
                    fieldCount += 1
                    fieldStart = index + 1
                } else if Self.isTerminator(byte) {
                    break
                } else if byte < 0x20 || byte == 0x7F {
                    throw .controlCharacter(byte: byte, offset: index)
                }
                index += 1
            }
            spans.record(field: fieldCount, fieldStart..<index)
        }
        let segmentEnd = index

        let terminator: HL7SegmentTerminator
        if segmentEnd == count {
            terminator = .endOfPayload
        } else if bytes[segmentEnd] == Self.lineFeed {
            terminator = .lineFeed
        } else if segmentEnd + 1 < count, bytes[segmentEnd + 1] == Self.lineFeed {
            terminator = .carriageReturnLineFeed
        } else {
            terminator = .carriageReturn
        }

        guard fieldCount >= 10, !spans.controlID.isEmpty else {
            throw .missingControlID(offset: fieldCount >= 10 ? spans.controlID.lowerBound : segmentEnd)
        }
        guard spans.controlID.count <= Self.maximumControlIDLength else {
            throw .controlIDTooLong(length: spans.controlID.count, offset: spans.controlID.lowerBound)
        }

        var segment = payload
        segment.moveWriterIndex(to: payload.readerIndex + segmentEnd)
        return HL7MessageHeader(
            segment: segment,
            spans: spans,
            nextSegmentOffset: segmentEnd + terminator.byteCount,
            delimiters: delimiters,
            segmentTerminator: terminator
        )
    }

    static func isTerminator(_ byte: UInt8) -> Bool {
        byte == Self.carriageReturn || byte == Self.lineFeed
    }
}

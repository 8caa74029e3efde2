public import NIOCore

/// Parses an acknowledgment payload: its MSH (via ``MSHParser``) and its MSA segment.
///
/// Per the v2.5+ ACK structure `MSH [SFT] [UAC] MSA [ERR]`, only SFT and UAC segments may precede
/// MSA; they are skipped without being read. Nothing after MSA is read. MSH-9 is not checked, so
/// application-level responses that carry an MSA (e.g. `ORR^O02`) parse too. Segment terminators CR,
/// CRLF and LF are accepted; blank lines between segments are skipped.
public enum MSAParser {
    /// Parses a complete acknowledgment payload (without MLLP framing).
    ///
    /// - Throws: ``MSAParseError`` naming the defect and its offset from the first payload byte.
    public static func parse(_ payload: ByteBuffer) throws(MSAParseError) -> HL7Acknowledgment {
        let header: HL7MessageHeader
        do {
            header = try MSHParser.parse(payload)
        } catch {
            throw .header(error)
        }
        // Read through the buffer's pointer, as MSHParser does (ByteBufferView checks and reads every byte apart).
        return try payload.withUnsafeReadableBytes { (bytes) throws(MSAParseError) -> HL7Acknowledgment in
            try Self.parse(bytes, header: header)
        }
    }

    /// The segments after MSH: `bytes` are the payload's readable bytes, `header` its parsed MSH.
    private static func parse(
        _ bytes: UnsafeRawBufferPointer, header: HL7MessageHeader
    ) throws(MSAParseError) -> HL7Acknowledgment {
        let count = bytes.count
        let fieldSeparator = header.delimiters.field

        var index = header.nextSegmentOffset
        while true {
            while index < count, MSHParser.isTerminator(bytes[index]) { index += 1 }
            guard count - index >= 3 else { throw .missingMSA(offset: index) }
            let segmentID = bytes[index..<(index + 3)]
            let idEnd = index + 3
            guard idEnd == count || bytes[idEnd] == fieldSeparator || MSHParser.isTerminator(bytes[idEnd])
            else { throw .missingMSA(offset: index) }
            if segmentID.elementsEqual("MSA".utf8) { break }
            guard segmentID.elementsEqual("SFT".utf8) || segmentID.elementsEqual("UAC".utf8) else {
                throw .missingMSA(offset: index)
            }
            while index < count, !MSHParser.isTerminator(bytes[index]) { index += 1 }
        }

        // MSA-1 … MSA-3, up to the segment terminator.
        var codeSpan = (index + 3)..<(index + 3)
        var controlIDSpan: Range<Int>? = nil
        var textSpan: Range<Int>? = nil
        index += 3
        if index < count, bytes[index] == fieldSeparator {
            var fieldNumber = 1
            index += 1
            var fieldStart = index
            fields: while true {
                let atEnd = index == count || MSHParser.isTerminator(bytes[index])
                if atEnd || bytes[index] == fieldSeparator {
                    switch fieldNumber {
                    case 1: codeSpan = fieldStart..<index
                    case 2: controlIDSpan = fieldStart..<index
                    case 3: textSpan = fieldStart..<index
                    default: break
                    }
                    if atEnd { break fields }
                    fieldNumber += 1
                    fieldStart = index + 1
                } else if bytes[index] < 0x20 || bytes[index] == 0x7F {
                    throw .controlCharacter(byte: bytes[index], offset: index)
                }
                index += 1
            }
        }
        let segmentEnd = index

        let codeBytes = bytes[codeSpan.lowerBound..<codeSpan.upperBound]
        guard let code = HL7AcknowledgmentCode(ascii: codeBytes) else {
            throw .invalidAcknowledgmentCode(
                found: DiagnosticRendering.printable(codeBytes.prefix(8)),
                offset: codeSpan.lowerBound
            )
        }
        guard let controlIDSpan, !controlIDSpan.isEmpty else {
            throw .missingControlID(offset: controlIDSpan?.lowerBound ?? segmentEnd)
        }
        guard controlIDSpan.count <= MSHParser.maximumControlIDLength else {
            throw .controlIDTooLong(length: controlIDSpan.count, offset: controlIDSpan.lowerBound)
        }
        let text = textSpan.flatMap { span in
            span.isEmpty
                ? nil : String(decoding: bytes[span.lowerBound..<span.upperBound], as: UTF8.self)
        }
        return HL7Acknowledgment(
            header: header,
            code: code,
            acknowledgedControlID: String(
                decoding: bytes[controlIDSpan.lowerBound..<controlIDSpan.upperBound],
                as: UTF8.self
            ),
            textMessage: text
        )
    }
}

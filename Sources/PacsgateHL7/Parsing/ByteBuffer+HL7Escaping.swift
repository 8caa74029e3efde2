import NIOCore

extension ByteBuffer {
    /// Writes `text` as the content of one HL7 field, escaped per HL7 v2.5.1 §2.7.4 with the given delimiters.
    ///
    /// Delimiters become `\F\ \S\ \R\ \E\ \T\` (and `\P\` for a declared truncation character); control
    /// bytes (CR, LF, VT, FS, NUL, …) become `\Xhh\`, so no value can end a field, a segment or the
    /// MLLP frame. Other bytes, including UTF-8 sequences, are written unchanged.
    @discardableResult
    mutating func writeHL7Escaped(_ text: String, delimiters: HL7Delimiters) -> Int {
        var written = 0
        for byte in text.utf8 {
            let escapeCode: UInt8?
            switch byte {
            case delimiters.field: escapeCode = UInt8(ascii: "F")
            case delimiters.component: escapeCode = UInt8(ascii: "S")
            case delimiters.repetition: escapeCode = UInt8(ascii: "R")
            case delimiters.escape: escapeCode = UInt8(ascii: "E")
            case delimiters.subcomponent: escapeCode = UInt8(ascii: "T")
            case delimiters.truncation: escapeCode = UInt8(ascii: "P")
            default: escapeCode = nil
            }
            if let escapeCode {
                written += self.writeMultipleIntegers(delimiters.escape, escapeCode, delimiters.escape)
            } else if byte < 0x20 || byte == 0x7F {
                written += self.writeMultipleIntegers(
                    delimiters.escape,
                    UInt8(ascii: "X"),
                    Self.hexDigit(byte >> 4),
                    Self.hexDigit(byte & 0x0F),
                    delimiters.escape
                )
            } else {
                written += self.writeInteger(byte)
            }
        }
        return written
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") + nibble - 10
    }
}

/// Renderings of untrusted bytes for diagnostics: never raw control characters, never payload text.
enum DiagnosticRendering {
    /// `0x1C`-style rendering of one byte.
    static func hex(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return byte < 0x10 ? "0x0" + digits : "0x" + digits
    }

    /// Printable ASCII as is (except `\` and `"`), every other byte as `\xHH`.
    ///
    /// Only for short, non-patient values such as segment IDs.
    static func printable<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        var result = ""
        for byte in bytes {
            if (0x20...0x7E).contains(byte), byte != UInt8(ascii: "\\"), byte != UInt8(ascii: "\"") {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += "\\x" + self.hex(byte).dropFirst(2)
            }
        }
        return result
    }
}

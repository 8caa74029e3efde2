/// The delimiters a message declares in MSH-1 and MSH-2 (HL7 v2.5.1 §2.5.4).
///
/// Values are only produced by ``MSHParser`` (or ``standard``), so every delimiter is a printable,
/// non-alphanumeric ASCII byte and all of them are distinct.
public struct HL7Delimiters: Sendable, Hashable {
    /// MSH-1, normally `|`.
    public let field: UInt8
    /// MSH-2 position 1, normally `^`.
    public let component: UInt8
    /// MSH-2 position 2, normally `~`.
    public let repetition: UInt8
    /// MSH-2 position 3, normally `\`.
    public let escape: UInt8
    /// MSH-2 position 4, normally `&`.
    public let subcomponent: UInt8
    /// MSH-2 position 5 (v2.7+ truncation character, normally `#`), when the message declares one.
    public let truncation: UInt8?

    /// `|^~\&`, the delimiters HL7 recommends and nearly every sender uses.
    public static let standard = HL7Delimiters(
        field: UInt8(ascii: "|"),
        component: UInt8(ascii: "^"),
        repetition: UInt8(ascii: "~"),
        escape: UInt8(ascii: "\\"),
        subcomponent: UInt8(ascii: "&"),
        truncation: nil
    )

    init(field: UInt8, component: UInt8, repetition: UInt8, escape: UInt8, subcomponent: UInt8, truncation: UInt8?) {
        self.field = field
        self.component = component
        self.repetition = repetition
        self.escape = escape
        self.subcomponent = subcomponent
        self.truncation = truncation
    }

    /// Whether `byte` may serve as a delimiter: printable ASCII that is neither a letter, a digit nor a space.
    static func isValidDelimiter(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: true
        default: false
        }
    }
}

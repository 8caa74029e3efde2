/// Builds one JSON object as a single line, keys in the order written.
///
/// Written by hand rather than with `JSONEncoder` because audit records need a fixed key order (people read them at
/// 3 a.m. with `grep`), must escape every control character and U+2028/U+2029 so a hostile AE title or HL7 field
/// cannot forge a line, and are built on the event loop where Foundation's encoder would allocate far more.
public struct JSONLine: Sendable, Equatable {
    public private(set) var bytes: [UInt8]
    private var needsComma = false

    public init(capacity: Int = 256) {
        self.bytes = []
        self.bytes.reserveCapacity(capacity)
        self.bytes.append(UInt8(ascii: "{"))
    }

    /// A string field.
    public mutating func field(_ key: String, _ value: String) {
        self.key(key)
        Self.appendString(value, to: &self.bytes)
    }

    /// A string field, or `null` when `value` is nil.
    public mutating func field(_ key: String, _ value: String?) {
        if let value { self.field(key, value) } else { self.nullField(key) }
    }

    /// A time field in ISO 8601 UTC with milliseconds (``WallClock/Instant/iso8601``).
    public mutating func field(_ key: String, _ time: WallClock.Instant) {
        self.key(key)
        self.bytes.append(UInt8(ascii: "\""))
        time.appendISO8601(to: &self.bytes)
        self.bytes.append(UInt8(ascii: "\""))
    }

    /// An integer field.
    public mutating func field(_ key: String, _ value: Int) {
        self.key(key)
        self.bytes.append(contentsOf: String(value).utf8)
    }

    /// An integer field, or `null`.
    public mutating func field(_ key: String, _ value: Int?) {
        if let value { self.field(key, value) } else { self.nullField(key) }
    }

    /// A boolean field.
    public mutating func field(_ key: String, _ value: Bool) {
        self.key(key)
        self.bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// A list of strings.
    public mutating func field(_ key: String, _ values: [String]) {
        self.key(key)
        self.bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { self.bytes.append(UInt8(ascii: ",")) }
            Self.appendString(value, to: &self.bytes)
        }
        self.bytes.append(UInt8(ascii: "]"))
    }

    /// A nested object.
    public mutating func field(_ key: String, _ object: JSONLine) {
        self.key(key)
        self.bytes.append(contentsOf: object.bytes)
        self.bytes.append(UInt8(ascii: "}"))
    }

    /// A list of nested objects.
    public mutating func field(_ key: String, _ objects: [JSONLine]) {
        self.key(key)
        self.bytes.append(UInt8(ascii: "["))
        for (index, object) in objects.enumerated() {
            if index > 0 { self.bytes.append(UInt8(ascii: ",")) }
            self.bytes.append(contentsOf: object.bytes)
            self.bytes.append(UInt8(ascii: "}"))
        }
        self.bytes.append(UInt8(ascii: "]"))
    }

    /// The real server a connection went to, as every module's audit records write it:
    /// `{"label":"DICOM1","address":"192.168.1.21:11112"}`, or `null` when none was chosen (refused, timed out).
    public mutating func field(_ key: String, _ server: ServerIdentity?) {
        guard let server else {
            self.nullField(key)
            return
        }
        self.field(key, Self.object(server))
    }

    /// The `{label, address}` object of a real server, for writers that render it once and add it to many records.
    public static func object(_ server: ServerIdentity) -> JSONLine {
        Self.object(label: server.label, address: server.endpoint.description)
    }

    /// The `{label, address}` object of a real server whose address is already described.
    static func object(label: String, address: String) -> JSONLine {
        var object = JSONLine(capacity: 64)
        object.field("label", label)
        object.field("address", address)
        return object
    }

    /// A `null` field.
    public mutating func nullField(_ key: String) {
        self.key(key)
        self.bytes.append(contentsOf: "null".utf8)
    }

    /// The finished object followed by a newline, taking this line's bytes instead of copying them.
    public consuming func finishedLine() -> [UInt8] {
        var result = self.bytes
        self.bytes = []
        result.append(UInt8(ascii: "}"))
        result.append(UInt8(ascii: "\n"))
        return result
    }

    /// Closes the object and adds its newline in place (``AuditRecord``, which then shares the bytes with the log).
    mutating func close() {
        self.bytes.append(UInt8(ascii: "}"))
        self.bytes.append(UInt8(ascii: "\n"))
    }

    /// The finished object followed by a newline.
    public var line: [UInt8] {
        var result = self.bytes
        result.append(UInt8(ascii: "}"))
        result.append(UInt8(ascii: "\n"))
        return result
    }

    /// The finished object as text (no newline).
    public var text: String {
        var result = self.bytes
        result.append(UInt8(ascii: "}"))
        return String(decoding: result, as: UTF8.self)
    }

    /// Keys are the writers' own constants (`"calling_ae"`, `"bytes_up"`): printable ASCII without a quote or
    /// backslash, copied whole after a check of their bytes instead of going through the escaping of values. A key
    /// that does need escaping still gets it.
    private mutating func key(_ key: String) {
        if self.needsComma { self.bytes.append(UInt8(ascii: ",")) }
        self.needsComma = true
        let copied =
            key.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
                guard utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
                else { return false }
                self.bytes.append(UInt8(ascii: "\""))
                self.bytes.append(contentsOf: utf8)
                self.bytes.append(UInt8(ascii: "\""))
                return true
            } ?? false
        if !copied { Self.appendString(key, to: &self.bytes) }
        self.bytes.append(UInt8(ascii: ":"))
    }

    /// Appends `value` as a JSON string. Invalid UTF-8 cannot occur (Swift strings are valid); control characters,
    /// quotes, backslashes, DEL and the JavaScript line separators are escaped. Runs without an escape are copied
    /// whole: most values (AE titles, addresses, message types) have none.
    static func appendString(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        // A native or small string lends its UTF-8 without the copy `withUTF8` on a `var` may make.
        if value.utf8.withContiguousStorageIfAvailable({ Self.appendEscaped($0, to: &bytes) }) == nil {
            var value = value
            value.withUTF8 { Self.appendEscaped($0, to: &bytes) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// The body of ``appendString(_:to:)``: `utf8` escaped, without the quotes.
    private static func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        var runStart = 0
        var index = 0
        while index < utf8.count {
            let byte = utf8[index]
            // Most bytes need nothing: one range test and three comparisons before the switch below.
            if byte >= 0x20, byte < 0x7f, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            let escape: Escape
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): escape = .backslash(byte)
            case UInt8(ascii: "\n"): escape = .backslash(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): escape = .backslash(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"): escape = .backslash(UInt8(ascii: "t"))
            case 0..<0x20, 0x7f: escape = .unicode(byte)
            case 0xe2 where index + 2 < utf8.count && utf8[index + 1] == 0x80
                && (utf8[index + 2] == 0xa8 || utf8[index + 2] == 0xa9):
                // U+2028 / U+2029 (E2 80 A8 / E2 80 A9) end lines in JavaScript; escape them.
                escape = .lineSeparator(utf8[index + 2] == 0xa8 ? UInt8(ascii: "8") : UInt8(ascii: "9"))
            default:
                index += 1
                continue
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
            switch escape {
            case .backslash(let letter):
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(letter)
                index += 1
            case .unicode(let control):
                for ascii in "\\u00".utf8 { bytes.append(ascii) }
                bytes.append(Self.hexDigit(control >> 4))
                bytes.append(Self.hexDigit(control & 0xf))
                index += 1
            case .lineSeparator(let last):
                for ascii in "\\u202".utf8 { bytes.append(ascii) }
                bytes.append(last)
                index += 3
            }
            runStart = index
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count]))
    }

    private enum Escape {
        case backslash(UInt8)
        case unicode(UInt8)
        case lineSeparator(UInt8)
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}

extension String {
    /// The string with bytes that are not printable ASCII shown as `\xNN` — for values taken from the wire (AE
    /// titles, SNI, HL7 fields) before they go into logs or audit records, so the raw bytes stay visible.
    public init(printableASCII bytes: some Sequence<UInt8>) {
        let plain = bytes.withContiguousStorageIfAvailable { buffer in
            buffer.allSatisfy { $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\\") }
                ? String(decoding: buffer, as: UTF8.self) : nil
        }
        if let plain = plain ?? nil {
            self = plain  // the usual case (an AE title, a host name): one copy, no per-byte appends
            return
        }
        var result = ""
        for byte in bytes {
            if byte >= 0x20, byte < 0x7f, byte != UInt8(ascii: "\\") {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                result += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        self = result
    }
}

public import PacsgateCore

/// Reading ``AuditRecordFields`` (module `PacsgateCore`) from a record's JSON line: what the index does for lines it
/// was not handed by the writer (records of earlier runs, another process's catch-up), and what the search pages do
/// with the lines they show.
///
/// The audit log's lines are written by ``JSONLine`` (module `PacsgateCore`): one object per line, top-level keys in
/// a fixed order, strings escaped as JSON requires. This reader takes the top-level values it needs and skips the
/// rest (nested objects and lists are skipped whole, except `server`'s `label` and `address`). It is written by hand
/// rather than with Foundation's `JSONSerialization` because it runs once per record over the whole retained log
/// (millions of lines) and needs none of the values it skips: it allocates only the strings it keeps.
///
/// Parsing is pure; a line that is not a JSON object gives `nil` (it is not indexed, and is still found by a scan of
/// the file).
extension AuditRecordFields {
    /// Reads the fields of one line (without its newline).
    public static func parse(_ line: UnsafeRawBufferPointer) -> AuditRecordFields? {
        var scanner = JSONScanner(line)
        return scanner.record()
    }

    /// Reads the fields of one line (without its newline).
    public static func parse(_ line: some StringProtocol) -> AuditRecordFields? {
        var text = String(line)
        return text.withUTF8 { Self.parse(UnsafeRawBufferPointer($0)) }
    }

    /// The top-level keys of a record in the order written, each with its value: the text of a string, the JSON text
    /// of anything else (`null`, numbers, objects and lists as written). `nil` when the line is not a JSON object.
    public static func entries(_ line: some StringProtocol) -> [(key: String, value: String)]? {
        var text = String(line)
        return text.withUTF8 { bytes in
            var scanner = JSONScanner(UnsafeRawBufferPointer(bytes))
            return scanner.entries()
        }
    }

    // MARK: time

    /// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fff]Z` (what ``WallClock/Instant/iso8601`` writes), or
    /// `nil` for anything else.
    static func milliseconds(iso8601 bytes: UnsafeRawBufferPointer) -> Int64? {
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes[bytes.count - 1] == UInt8(ascii: "Z")
        else { return nil }
        func number(_ start: Int, _ count: Int) -> Int64? {
            var value: Int64 = 0
            for index in start..<(start + count) {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int64(digit)
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2), (1...12).contains(month), (1...31).contains(day),
            hour < 24, minute < 60, second < 61
        else { return nil }
        var milliseconds: Int64 = 0
        if bytes.count > 21 {
            // Fraction: ".f", ".ff", ".fff" or longer (digits after the third are ignored).
            guard bytes[19] == UInt8(ascii: "."), bytes.count > 21 else { return nil }
            var scale: Int64 = 100
            for index in 20..<(bytes.count - 1) {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                milliseconds += Int64(digit) * scale
                scale /= 10
            }
        } else if bytes.count != 20 {
            return nil
        }
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + milliseconds
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

/// A forward-only reader of one JSON object's top level (see ``AuditRecordFields``).
private struct JSONScanner {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    private static let quote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")

    mutating func record() -> AuditRecordFields? {
        var fields = AuditRecordFields()
        let complete = self.members { scanner, key in scanner.value(for: key, into: &fields) }
        return complete ? fields : nil
    }

    mutating func entries() -> [(key: String, value: String)]? {
        var entries: [(key: String, value: String)] = []
        let complete = self.members { scanner, key in
            let start = scanner.position
            let isString = scanner.bytes[scanner.position] == Self.quote
            guard scanner.skipValue() else { return false }
            let value =
                isString
                ? scanner.decode((start + 1)..<(scanner.position - 1))
                : String(decoding: UnsafeRawBufferPointer(rebasing: scanner.bytes[start..<scanner.position]), as: UTF8.self)
            entries.append((scanner.decode(key), value))
            return true
        }
        return complete ? entries : nil
    }

    /// Walks the members of the object at the current position: `member` is called with each key (the position at
    /// the start of its value) and reads the value. `false` when the object is not well formed or `member` says so.
    private mutating func members(_ member: (inout JSONScanner, Range<Int>) -> Bool) -> Bool {
        guard self.skipSpace(), self.bytes[self.position] == UInt8(ascii: "{") else { return false }
        self.position += 1
        guard self.skipSpace() else { return false }
        if self.bytes[self.position] == UInt8(ascii: "}") { return true }
        while true {
            guard self.skipSpace(), self.bytes[self.position] == Self.quote, let key = self.rawString(),
                self.skipSpace(), self.bytes[self.position] == UInt8(ascii: ":")
            else { return false }
            self.position += 1
            guard self.skipSpace(), member(&self, key), self.skipSpace() else { return false }
            switch self.bytes[self.position] {
            case UInt8(ascii: ","): self.position += 1
            case UInt8(ascii: "}"): return true
            default: return false
            }
        }
    }

    /// Reads the value of `key`, keeping it when the index needs it.
    private mutating func value(for key: Range<Int>, into fields: inout AuditRecordFields) -> Bool {
        let name = UnsafeRawBufferPointer(rebasing: self.bytes[key])
        if self.bytes[self.position] == Self.quote {
            if Self.equal(name, "time") {
                guard let range = self.rawString() else { return false }
                fields.time = AuditRecordFields.milliseconds(iso8601: UnsafeRawBufferPointer(rebasing: self.bytes[range]))
                return true
            }
            guard let range = self.rawString() else { return false }
            // Keys in the order records usually carry them; a key the index does not keep costs one comparison each.
            switch name.count {
            case 5 where Self.equal(name, "event"): fields.event = self.decode(range)
            case 6 where Self.equal(name, "client"): fields.client = self.decode(range)
            case 6 where Self.equal(name, "server"): fields.server = self.decode(range)
            case 6 where Self.equal(name, "result"): if fields.outcome == nil { fields.outcome = self.decode(range) }
            case 6 where Self.equal(name, "reason"): if fields.outcome == nil { fields.outcome = self.decode(range) }
            case 7 where Self.equal(name, "service"): fields.service = self.decode(range)
            case 7 where Self.equal(name, "outcome"): fields.outcome = self.decode(range)
            case 3 where Self.equal(name, "sni"): fields.sni = self.decode(range)
            case 8 where Self.equal(name, "ack_code"): if fields.outcome == nil { fields.outcome = self.decode(range) }
            case 9 where Self.equal(name, "called_ae"): fields.calledAE = self.decode(range)
            case 10 where Self.equal(name, "calling_ae"): fields.callingAE = self.decode(range)
            case 10 where Self.equal(name, "control_id"): fields.controlID = self.decode(range)
            case 11 where Self.equal(name, "sending_app"): fields.sendingApp = self.decode(range)
            case 12 where Self.equal(name, "message_type"): fields.messageType = self.decode(range)
            default: break
            }
            return true
        }
        if self.bytes[self.position] == UInt8(ascii: "{"), Self.equal(name, "server") {
            return self.serverObject(into: &fields)
        }
        return self.skipValue()
    }

    /// `"server": {"label": …, "address": …}`.
    private mutating func serverObject(into fields: inout AuditRecordFields) -> Bool {
        self.position += 1
        guard self.skipSpace() else { return false }
        if self.bytes[self.position] == UInt8(ascii: "}") {
            self.position += 1
            return true
        }
        while true {
            guard self.skipSpace(), self.bytes[self.position] == Self.quote, let key = self.rawString(), self.skipSpace(),
                self.bytes[self.position] == UInt8(ascii: ":")
            else { return false }
            self.position += 1
            guard self.skipSpace() else { return false }
            let name = UnsafeRawBufferPointer(rebasing: self.bytes[key])
            if self.bytes[self.position] == Self.quote, Self.equal(name, "label") || Self.equal(name, "address") {
                guard let range = self.rawString() else { return false }
                if Self.equal(name, "label") { fields.server = self.decode(range) } else { fields.serverAddress = self.decode(range) }
            } else if !self.skipValue() {
                return false
            }
            guard self.skipSpace() else { return false }
            switch self.bytes[self.position] {
            case UInt8(ascii: ","): self.position += 1
            case UInt8(ascii: "}"):
                self.position += 1
                return true
            default: return false
            }
        }
    }

    /// Skips whitespace; `false` at the end of the line.
    private mutating func skipSpace() -> Bool {
        while self.position < self.bytes.count {
            switch self.bytes[self.position] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"): self.position += 1
            default: return true
            }
        }
        return false
    }

    /// At an opening quote: the range of the string's contents (still escaped), the position after its closing quote.
    private mutating func rawString() -> Range<Int>? {
        let start = self.position + 1
        var index = start
        while index < self.bytes.count {
            let byte = self.bytes[index]
            if byte == Self.quote {
                self.position = index + 1
                return start..<index
            }
            index += byte == Self.backslash ? 2 : 1
        }
        return nil
    }

    /// Skips one value of any kind.
    private mutating func skipValue() -> Bool {
        guard self.position < self.bytes.count else { return false }
        switch self.bytes[self.position] {
        case Self.quote:
            return self.rawString() != nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            while self.position < self.bytes.count {
                switch self.bytes[self.position] {
                case Self.quote:
                    guard self.rawString() != nil else { return false }
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 {
                        self.position += 1
                        return true
                    }
                default: break
                }
                self.position += 1
            }
            return false
        default:
            // A number, true, false or null: up to the next delimiter.
            let start = self.position
            while self.position < self.bytes.count {
                switch self.bytes[self.position] {
                case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), UInt8(ascii: " "): return self.position > start
                default: self.position += 1
                }
            }
            return self.position > start
        }
    }

    /// The text of a string's contents, with JSON escapes undone.
    private func decode(_ range: Range<Int>) -> String {
        let raw = UnsafeRawBufferPointer(rebasing: self.bytes[range])
        guard raw.contains(Self.backslash) else { return String(decoding: raw, as: UTF8.self) }
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        func flush() {
            if !utf8.isEmpty {
                scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
                utf8.removeAll(keepingCapacity: true)
            }
        }
        var index = 0
        var pendingHigh: UInt32?
        while index < raw.count {
            let byte = raw[index]
            guard byte == Self.backslash, index + 1 < raw.count else {
                utf8.append(byte)
                index += 1
                continue
            }
            let escape = raw[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "u"):
                guard index + 4 <= raw.count, let code = UInt32(String(decoding: raw[index..<(index + 4)], as: UTF8.self), radix: 16)
                else { continue }
                index += 4
                flush()
                if (0xD800...0xDBFF).contains(code) {
                    pendingHigh = code
                    continue
                }
                if (0xDC00...0xDFFF).contains(code), let high = pendingHigh {
                    pendingHigh = nil
                    if let scalar = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)) { scalars.append(scalar) }
                    continue
                }
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default: utf8.append(escape)  // \" \\ \/
            }
        }
        flush()
        return String(scalars)
    }

    private static func equal(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        guard bytes.count == text.utf8CodeUnitCount else { return false }
        let expected = UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        return bytes.elementsEqual(expected)
    }
}

import PacsgateCore

// The audit records' times as the samples write them; the export reads a record's time from its typed value, so this
// parser is the tests' own (it was the export's while the export parsed lines).
extension WallClock.Instant {
    /// Parses the audit records' `time` (`2026-11-25T22:13:55.412Z`; the fraction is optional).
    init?(iso8601 text: String) {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            bytes.last == UInt8(ascii: "Z"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var milliseconds = 0
        if bytes[19] == UInt8(ascii: ".") {
            let digits = bytes.count - 1 - 20
            guard (1...9).contains(digits), let fraction = number(20..<(bytes.count - 1)) else { return nil }
            var scaled = fraction
            if digits < 3 {
                for _ in digits..<3 { scaled *= 10 }
            } else {
                for _ in 3..<digits { scaled /= 10 }
            }
            milliseconds = scaled
        } else if bytes.count != 20 {
            return nil
        }
        self.init(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second, millisecond: milliseconds)
    }
}

/// Parsers for the scalar value formats used in configuration files.
public enum ConfigValueParser {
    /// The longest duration accepted anywhere (a year); longer values are refused as mistakes.
    public static let maximumDuration: Duration = .seconds(366 * 86_400)

    /// Parses `500ms`, `2s`, `30m`, `1h`, `1d`, `1h30m` or a plain number of seconds, up to ``maximumDuration``.
    public static func duration(_ text: String) -> Duration? {
        guard let value = self.unboundedDuration(text), value <= self.maximumDuration else { return nil }
        return value
    }

    private static func unboundedDuration(_ text: String) -> Duration? {
        let trimmed = text.trimmingSpaces
        if trimmed.isEmpty { return nil }
        if let seconds = Int(trimmed) { return seconds >= 0 && seconds <= 100_000_000 ? .seconds(seconds) : nil }
        var total: Duration = .zero
        var number = 0
        var haveDigits = false
        var iterator = Array(trimmed.utf8)[...]
        while let byte = iterator.first {
            if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                let (times, o1) = number.multipliedReportingOverflow(by: 10)
                let (plus, o2) = times.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
                if o1 || o2 || plus > 10_000_000 { return nil }
                number = plus
                haveDigits = true
                iterator = iterator.dropFirst()
                continue
            }
            guard haveDigits else { return nil }
            let unit: Duration
            if iterator.starts(with: "ms".utf8) {
                unit = .milliseconds(1)
                iterator = iterator.dropFirst(2)
            } else {
                switch byte {
                case UInt8(ascii: "s"): unit = .seconds(1)
                case UInt8(ascii: "m"): unit = .seconds(60)
                case UInt8(ascii: "h"): unit = .seconds(3600)
                case UInt8(ascii: "d"): unit = .seconds(86400)
                default: return nil
                }
                iterator = iterator.dropFirst()
            }
            total += unit * number
            number = 0
            haveDigits = false
        }
        return haveDigits ? nil : total
    }

    /// Parses `512`, `64KiB`, `64KB`, `4MiB`, `1GiB` (binary multiples; `KB`/`MB`/`GB` are read the same way).
    public static func byteSize(_ text: String) -> Int? {
        let trimmed = text.trimmingSpaces
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let number = Int(digits) else { return nil }
        let unit = trimmed.dropFirst(digits.count).trimmingSpaces.lowercased()
        let multiplier: Int
        switch unit {
        case "", "b": multiplier = 1
        case "k", "kb", "kib": multiplier = 1 << 10
        case "m", "mb", "mib": multiplier = 1 << 20
        case "g", "gb", "gib": multiplier = 1 << 30
        default: return nil
        }
        let (value, overflow) = number.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : value
    }

    /// Formats a duration the way configuration files write it (`2s`, `30m`, `250ms`).
    public static func format(_ duration: Duration) -> String {
        let ms = duration.milliseconds
        if ms % 86_400_000 == 0, ms > 0 { return "\(ms / 86_400_000)d" }
        if ms % 3_600_000 == 0, ms > 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0, ms > 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}

extension Duration {
    /// The duration in whole milliseconds (truncated).
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" { view = view.dropFirst() }
        while let last = view.last, last == " " || last == "\t" { view = view.dropLast() }
        return String(view)
    }
}

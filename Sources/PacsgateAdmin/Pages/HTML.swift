/// Escaping for server-rendered HTML. Every value from the configuration, the wire or the audit log goes through
/// ``escape(_:)`` before it reaches a page (AE titles and SNI are chosen by whoever connects).
enum HTML {
    /// Text safe inside element content and double-quoted attributes.
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            case "\u{0}"..."\u{8}", "\u{B}", "\u{C}", "\u{E}"..."\u{1F}", "\u{7F}":
                result += "\u{FFFD}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Bytes in human units (1.2 MB).
    static func bytes(_ value: Double) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = value
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(Int(value)) B" : "\(Self.decimal(value, places: value < 10 ? 1 : 0)) \(units[unit])"
    }

    /// A number with thousands separators (12 345).
    static func count(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { result += "\u{202F}" }
            result.append(character)
        }
        return value < 0 ? "-" + result : result
    }

    /// A rate per second with sensible precision.
    static func rate(_ value: Double) -> String {
        if value == 0 { return "0" }
        if value < 10 { return Self.decimal(value, places: 2) }
        if value < 100 { return Self.decimal(value, places: 1) }
        return Self.count(Int(value.rounded()))
    }

    static func decimal(_ value: Double, places: Int) -> String {
        let rounded = value.rounded(toPlaces: places)
        var text = String(rounded)
        if let dot = text.firstIndex(of: ".") {
            let decimals = text.distance(from: dot, to: text.endIndex) - 1
            if decimals < places { text += String(repeating: "0", count: places - decimals) }
            if places == 0 { text = String(text[..<dot]) }
        } else if places > 0 {
            text += "." + String(repeating: "0", count: places)
        }
        return text
    }
}

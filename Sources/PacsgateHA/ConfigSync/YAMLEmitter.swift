public import PacsgateCore

/// Writes a ``ConfigNode`` tree as YAML that the configuration loader reads back into the same tree.
///
/// Every scalar is double-quoted (the loader reads all scalars as text, and quoting keeps `null`, `yes`, `08` or a
/// leading `*` from being anything else); null is `null`; mappings and lists are block style in document order.
/// The output is deterministic, which makes it the canonical form the pair digests to compare configurations.
public enum YAMLEmitter {
    /// The YAML text of `node`, ending with a newline.
    public static func emit(_ node: ConfigNode) -> String {
        var output = ""
        switch node.kind {
        case .mapping(let entries) where !entries.isEmpty:
            for entry in entries { Self.entry(entry.key, entry.value, indent: 0, into: &output) }
        case .sequence(let items) where !items.isEmpty:
            for item in items { Self.item(item, indent: 0, into: &output) }
        default:
            output = Self.inline(node) ?? "null"
            output += "\n"
        }
        return output
    }

    /// A scalar, null or empty collection on one line; `nil` for a non-empty collection.
    private static func inline(_ node: ConfigNode) -> String? {
        switch node.kind {
        case .scalar(let text): return Self.quote(text)
        case .null: return "null"
        case .mapping(let entries): return entries.isEmpty ? "{}" : nil
        case .sequence(let items): return items.isEmpty ? "[]" : nil
        }
    }

    private static func entry(_ key: String, _ value: ConfigNode, indent: Int, into output: inout String) {
        let pad = String(repeating: " ", count: indent)
        if let inline = Self.inline(value) {
            output += "\(pad)\(Self.key(key)): \(inline)\n"
            return
        }
        output += "\(pad)\(Self.key(key)):\n"
        switch value.kind {
        case .mapping(let entries):
            for entry in entries { Self.entry(entry.key, entry.value, indent: indent + 2, into: &output) }
        case .sequence(let items):
            for item in items { Self.item(item, indent: indent + 2, into: &output) }
        case .scalar, .null:
            break
        }
    }

    private static func item(_ value: ConfigNode, indent: Int, into output: inout String) {
        let pad = String(repeating: " ", count: indent)
        if let inline = Self.inline(value) {
            output += "\(pad)- \(inline)\n"
            return
        }
        switch value.kind {
        case .mapping(let entries):
            // The first key goes on the dash's line: "- label: …", the rest under it.
            var nested = ""
            for entry in entries { Self.entry(entry.key, entry.value, indent: indent + 2, into: &nested) }
            output += pad + "- " + nested.dropFirst(indent + 2)
        case .sequence(let items):
            output += "\(pad)-\n"
            for item in items { Self.item(item, indent: indent + 2, into: &output) }
        case .scalar, .null:
            break
        }
    }

    /// A key, plain when it is an ordinary word, quoted otherwise.
    static func key(_ text: String) -> String {
        let plain = !text.isEmpty
            && text.unicodeScalars.first.map { $0.isASCII && ($0.properties.isAlphabetic || $0 == "_") } == true
            && text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0)) }
        return plain ? text : Self.quote(text)
    }

    /// A double-quoted YAML scalar.
    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case "\u{85}": result += "\\N"
            case "\u{2028}": result += "\\L"
            case "\u{2029}": result += "\\P"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\x" + (hex.count < 2 ? "0" : "") + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}

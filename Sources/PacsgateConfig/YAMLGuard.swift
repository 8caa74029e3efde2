public import PacsgateCore

/// What a configuration text must satisfy before Yams reads it, so that no text — a file, an admin upload or an HA
/// configuration push — can make the loader take more than a fraction of a second or more than a few MB.
///
/// Yams composes a document in one call and resolves every alias to the node it names while doing so. The tree it
/// returns shares the aliased nodes, but two of its own steps walk them in full: hashing mapping keys (to find
/// duplicates) and anything that reads the tree afterwards. Ten lines of nested aliases ("billion laughs") describe
/// 10⁹ nodes, so aliases must be refused before Yams sees them; Yams offers neither a limit nor a public event API to
/// refuse them with. pacsgate's configuration never needs aliases (the loader has always refused them), so the check
/// finds every place libyaml could read one and refuses the text there, with its line.
///
/// Nesting is bounded by libyaml itself (1000 levels, reported as a parse error with its line) and by the loader's
/// conversion (``maximumDepth``); size by ``maximumBytes``.
public enum YAMLGuard {
    /// The largest configuration text accepted. Real configurations are tens of KiB.
    public static let maximumBytes = 1 << 20
    /// The deepest nesting the loader converts; pacsgate's own keys go six levels deep.
    public static let maximumDepth = 64

    /// The problem that keeps `text` from being parsed, or `nil`.
    public static func check(_ text: String) -> ConfigProblem? {
        var text = text
        return text.withUTF8 { bytes in
            if bytes.count > Self.maximumBytes {
                return ConfigProblem(
                    line: 1, "the configuration is \(bytes.count) bytes; at most \(Self.maximumBytes) (1 MiB) are accepted")
            }
            return Self.firstAlias(in: bytes).map { alias in
                ConfigProblem(
                    line: alias.line,
                    "YAML aliases (*\(alias.name)) are not supported; write the value out (a value that starts with '*', "
                        + "such as \"*.example.org\", must be quoted)")
            }
        }
    }

    /// Where libyaml could read an alias token: `*` followed by an anchor name (libyaml's `[0-9A-Za-z_-]+`) and then
    /// a blank, a line break, the end or one of `?:,]}%@` and backquote — where a token can start. Conservative: it
    /// ignores quoting, so a quoted `x *name` is refused too (never the other way round). Tokens start after blanks,
    /// line breaks, flow indicators, `:`, `?` and `-`; a `*` right after a closing quote is a parse error in libyaml
    /// before any alias is read, and one inside a plain scalar (`CT*`) is text. Lines whose first non-blank character
    /// is `#` are comments or the inside of a quoted or block scalar, and are skipped.
    static func firstAlias(in bytes: UnsafeBufferPointer<UInt8>) -> (line: Int, name: String)? {
        var line = 1
        var index = 0
        var atLineStart = true
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") || (byte == UInt8(ascii: "\r") && (index + 1 == bytes.count || bytes[index + 1] != UInt8(ascii: "\n"))) {
                line += 1
                atLineStart = true
                index += 1
                continue
            }
            if atLineStart {
                if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") {
                    index += 1
                    continue
                }
                atLineStart = false
                if byte == UInt8(ascii: "#") {
                    // Up to the next line break; a non-ASCII byte may be one (NEL, LS, PS), so the skip stops there too.
                    while index < bytes.count, bytes[index] != UInt8(ascii: "\n"), bytes[index] != UInt8(ascii: "\r"),
                        bytes[index] != 0, bytes[index] < 0x80
                    {
                        index += 1
                    }
                    continue
                }
            }
            if byte == UInt8(ascii: "*"), index == 0 || Self.mayPrecedeToken(bytes[index - 1]) {
                var end = index + 1
                while end < bytes.count, Self.isAnchorCharacter(bytes[end]) { end += 1 }
                if end > index + 1, end == bytes.count || Self.mayFollowAnchor(bytes[end]) {
                    let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[(index + 1)..<min(end, index + 33)]), as: UTF8.self)
                    return (line, name)
                }
            }
            index += 1
        }
        return nil
    }

    /// Bytes after which libyaml may start a token (non-ASCII ones may end a BOM, NEL, LS or PS).
    private static func mayPrecedeToken(_ byte: UInt8) -> Bool {
        Self.isBlankBreakOrEnd(byte) || "[]{},:?-".utf8.contains(byte)
    }

    /// libyaml's anchor-name characters (`IS_ALPHA`).
    private static func isAnchorCharacter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }

    /// What libyaml accepts after an anchor or alias name (blank, break, end or an indicator).
    private static func mayFollowAnchor(_ byte: UInt8) -> Bool {
        Self.isBlankBreakOrEnd(byte) || "?:,]}%@`".utf8.contains(byte)
    }

    /// A blank, a line break or the end (NUL), and any non-ASCII byte, which may be part of a BOM, NEL, LS or PS.
    private static func isBlankBreakOrEnd(_ byte: UInt8) -> Bool {
        byte == 0 || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
            || byte == UInt8(ascii: "\n") || byte >= 0x80
    }
}

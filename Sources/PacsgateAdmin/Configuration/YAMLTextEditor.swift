import PacsgateConfig
import PacsgateCore

/// Targeted edits of a configuration file's text: set or remove one key of a mapping, append or remove one item of a
/// list, leaving every other line of the file — its comments, blank lines, quoting and order — as it was.
///
/// Written by hand because no YAML library keeps comments: Yams (and libyaml under it) parse into a tree and emit a
/// new document, which would drop every comment an operator wrote in the file the gateway treats as the source of
/// truth. The editor finds what to change with the loader's own tree (``ConfigNode`` carries the line of every key
/// and item) and rewrites only those lines. What it cannot keep:
/// - an edited key is rewritten on one line (`key: value`): a comment at the end of that line, or inside a value
///   written over several lines, goes with it;
/// - an edited one-line `{ … }` item is rewritten with single spaces after its commas;
/// - lists written in flow style (`servers: [ … ]`) and `{ … }` mappings over several lines are not edited: the
///   editor says so and the file must be changed by upload.
/// Every result is validated whole by the caller before it is shown or applied.
struct YAMLTextEditor {
    typealias Failure = ConfigurationEditError

    private(set) var lines: [String]
    private let endsWithNewline: Bool

    init(_ text: String) {
        self.endsWithNewline = text.hasSuffix("\n")
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if self.endsWithNewline { lines.removeLast() }
        self.lines = lines
    }

    var text: String {
        self.lines.joined(separator: "\n") + (self.endsWithNewline || self.lines.isEmpty ? "\n" : "")
    }

    // MARK: addressing

    /// One step from the document's root to a node: a mapping's key, or the list item whose `field` is `value`
    /// (`label: DICOM` of a service, `name: alice` of a user).
    enum Step: Equatable {
        case key(String)
        case item(field: String, value: String)
    }

    /// The node at `path` in the current text, or a failure naming the first step that is missing.
    private func node(at path: [Step]) throws(Failure) -> ConfigNode {
        var node: ConfigNode
        switch ConfigurationLoader.parse(yaml: self.text) {
        case .success(let root): node = root
        case .failure(let errors): throw Failure("the file is not valid YAML: \(errors.formatted(file: "configuration"))")
        }
        var walked: [String] = []
        for step in path {
            switch (step, node.kind) {
            case (.key(let key), .mapping(let entries)):
                guard let entry = entries.first(where: { $0.key == key }) else {
                    throw Failure("\(Self.describe(walked)) has no '\(key)'")
                }
                node = entry.value
                walked.append(key)
            case (.item(let field, let value), .sequence(let items)):
                guard let item = items.first(where: { $0.value(of: field) == value }) else {
                    throw Failure("\(Self.describe(walked)) has no item with \(field) '\(value)'")
                }
                node = item
                walked.append("\(field)=\(value)")
            default:
                throw Failure("\(Self.describe(walked)) is \(node.shapeDescription), not what the edit expects")
            }
        }
        return node
    }

    private static func describe(_ path: [Step]) -> String {
        Self.describe(
            path.map {
                switch $0 {
                case .key(let key): return key
                case .item(let field, let value): return "\(field)=\(value)"
                }
            })
    }

    private static func describe(_ walked: [String]) -> String {
        walked.isEmpty ? "the file" : "'" + walked.joined(separator: " / ") + "'"
    }

    // MARK: edits

    /// Sets `key` of the mapping at `path` to `value` (YAML text of one line), adding the key when it is missing —
    /// before the key `before` when the mapping has it (a service's new key goes above its `servers:`).
    mutating func set(_ key: String, to value: String, in path: [Step], before: String? = nil) throws(Failure) {
        let mapping = try self.node(at: path)
        guard case .mapping(let entries) = mapping.kind else { throw Failure("\(Self.describe(path)) is not a mapping") }
        // Unchanged: the line stays as written.
        if let entry = entries.first(where: { $0.key == key }), entry.value.flowText == value { return }
        if let flow = try self.flowMapping(mapping) {
            var segments = flow.segments
            if let index = segments.firstIndex(where: { $0.key == key }) {
                segments[index] = .init(key: key, text: "\(key): \(value)")
            } else {
                segments.append(.init(key: key, text: "\(key): \(value)"))
            }
            self.lines[flow.line] = flow.rebuilt(segments)
            return
        }
        if let entry = entries.first(where: { $0.key == key }) {
            let (start, column, end) = try self.entryExtent(entry, in: mapping)
            let line = self.lines[start]
            self.lines.replaceSubrange(start...end, with: [String(line.prefix(column)) + "\(key): \(value)"])
            return
        }
        let column = try self.keyColumn(of: mapping)
        let newLine = String(repeating: " ", count: column) + "\(key): \(value)"
        if let before, let anchor = entries.first(where: { $0.key == before }), anchor.line != mapping.line {
            self.lines.insert(newLine, at: anchor.line - 1)
        } else {
            self.lines.insert(newLine, at: try self.mappingEnd(mapping) + 1)
        }
    }

    /// Whether the mapping at `path` has `key`.
    func has(_ key: String, in path: [Step]) throws(Failure) -> Bool {
        guard case .mapping(let entries) = try self.node(at: path).kind else { return false }
        return entries.contains { $0.key == key }
    }

    /// Removes `key` from the mapping at `path`; nothing when it is not there.
    mutating func remove(_ key: String, in path: [Step]) throws(Failure) {
        let mapping = try self.node(at: path)
        guard case .mapping(let entries) = mapping.kind, let entry = entries.first(where: { $0.key == key }) else { return }
        if let flow = try self.flowMapping(mapping) {
            self.lines[flow.line] = flow.rebuilt(flow.segments.filter { $0.key != key })
            return
        }
        guard entry.line != mapping.line || entries.count == 1 else {
            throw Failure("'\(key)' is the first key of its item (line \(entry.line)); the page does not remove it")
        }
        let (start, _, end) = try self.entryExtent(entry, in: mapping)
        self.lines.removeSubrange(start...end)
    }

    /// Appends an item to the block list at `path`, in the style of the items already there: `flow` (one
    /// `{ key: value, … }` line) when the first item is written so, else `block` (a `- key: value` line and the
    /// item's other keys under it). Each of `fields` is (key, YAML text of one line).
    mutating func append(_ fields: [(String, String)], to path: [Step]) throws(Failure) {
        let list = try self.node(at: path)
        guard case .sequence(let items) = list.kind, let first = items.first, let last = items.last else {
            throw Failure("\(Self.describe(path)) is not a list with items")
        }
        let dash = try self.dashColumn(of: first)
        let end = try self.itemExtent(last).end
        let pad = String(repeating: " ", count: dash)
        let flowItems = self.lines[first.line - 1].dropFirst(dash + 1).drop(while: { $0 == " " }).hasPrefix("{")
        if flowItems {
            self.lines.insert(pad + "- { " + fields.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + " }", at: end + 1)
        } else {
            var block: [String] = []
            for (index, (key, value)) in fields.enumerated() {
                block.append((index == 0 ? pad + "- " : pad + "  ") + "\(key): \(value)")
            }
            self.lines.insert(contentsOf: block, at: end + 1)
        }
    }

    /// Appends an item to the list `key` of the block mapping at `path`, creating the list (as a block list of
    /// one-line items) when the mapping does not have it yet.
    mutating func append(_ fields: [(String, String)], toList key: String, in path: [Step]) throws(Failure) {
        let mapping = try self.node(at: path)
        guard case .mapping(let entries) = mapping.kind else { throw Failure("\(Self.describe(path)) is not a mapping") }
        if entries.contains(where: { $0.key == key }) {
            try self.append(fields, to: path + [.key(key)])
            return
        }
        guard try self.flowMapping(mapping) == nil else {
            throw Failure(
                "the mapping on line \(mapping.line) is written as { … } on one line and has no '\(key)' list yet: write it as a block mapping (one key per line) to add one here")
        }
        let pad = String(repeating: " ", count: try self.keyColumn(of: mapping))
        let item = pad + "  - { " + fields.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + " }"
        self.lines.insert(contentsOf: [pad + "\(key):", item], at: try self.mappingEnd(mapping) + 1)
    }

    /// Appends lines (already indented for the list) after the last item of the block list at `path`.
    mutating func appendLines(_ item: (_ dashColumn: Int) -> [String], to path: [Step]) throws(Failure) {
        let list = try self.node(at: path)
        guard case .sequence(let items) = list.kind, let first = items.first, let last = items.last else {
            throw Failure("the list is empty or not a list")
        }
        let end = try self.itemExtent(last).end
        self.lines.insert(contentsOf: item(try self.dashColumn(of: first)), at: end + 1)
    }

    /// Removes the item at `path` (whose last step is `.item`) with every line that belongs to it.
    mutating func removeItem(at path: [Step]) throws(Failure) {
        let item = try self.node(at: path)
        let (start, end) = try self.itemExtent(item)
        self.lines.removeSubrange(start...end)
    }

    // MARK: where things are

    private static func indent(_ line: String) -> Int {
        line.prefix(while: { $0 == " " }).count
    }

    /// A line that belongs to whatever surrounds it: blank, or only a comment.
    private static func isFiller(_ line: String) -> Bool {
        let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
        return trimmed.isEmpty || trimmed.hasPrefix("#")
    }

    /// The column of the `-` of a block list item.
    private func dashColumn(of item: ConfigNode) throws(Failure) -> Int {
        guard item.line >= 1, item.line <= self.lines.count else { throw Failure("an item has no line") }
        let line = self.lines[item.line - 1]
        let column = Self.indent(line)
        guard line.dropFirst(column).hasPrefix("-") else {
            throw Failure(
                "the list around line \(item.line) is written in flow style ([ … ]) or with its items on their own lines; "
                    + "the page edits block lists with '- ' before each item: change it by upload")
        }
        return column
    }

    /// The first and last line index of a block list item: its dash line and the lines indented deeper than the
    /// dash, without trailing blank or comment lines (those belong to what follows).
    private func itemExtent(_ item: ConfigNode) throws(Failure) -> (start: Int, end: Int) {
        let dash = try self.dashColumn(of: item)
        let start = item.line - 1
        return (start, self.lastLine(after: start, deeperThan: dash))
    }

    /// The last non-filler line after `start` while the lines are indented deeper than `column`.
    private func lastLine(after start: Int, deeperThan column: Int) -> Int {
        var end = start
        var index = start + 1
        while index < self.lines.count {
            let line = self.lines[index]
            if Self.isFiller(line) {
                index += 1
                continue
            }
            guard Self.indent(line) > column else { break }
            end = index
            index += 1
        }
        return end
    }

    /// The column where the keys of a block mapping start.
    private func keyColumn(of mapping: ConfigNode) throws(Failure) -> Int {
        guard mapping.line >= 1, mapping.line <= self.lines.count else { throw Failure("a mapping has no line") }
        let line = self.lines[mapping.line - 1]
        var column = Self.indent(line)
        if line.dropFirst(column).hasPrefix("- ") {
            column += 1
            column += line.dropFirst(column).prefix(while: { $0 == " " }).count
        }
        return column
    }

    /// The last line of a block mapping.
    private func mappingEnd(_ mapping: ConfigNode) throws(Failure) -> Int {
        let column = try self.keyColumn(of: mapping)
        return self.lastLine(after: mapping.line - 1, deeperThan: column - 1)
    }

    /// The lines of one entry of a block mapping: its key's line (and the column where the key starts) to the last
    /// line indented deeper than the key.
    private func entryExtent(_ entry: ConfigNode.Entry, in mapping: ConfigNode) throws(Failure) -> (start: Int, column: Int, end: Int) {
        let column = try self.keyColumn(of: mapping)
        let start = entry.line - 1
        guard start >= 0, start < self.lines.count, self.lines[start].dropFirst(column).hasPrefix(entry.key) else {
            throw Failure("'\(entry.key)' on line \(entry.line) is not where a block mapping's key is expected")
        }
        return (start, column, self.lastLine(after: start, deeperThan: column))
    }

    // MARK: one-line { … } mappings

    /// A `{ key: value, … }` mapping written on one line, split into its top-level entries.
    struct FlowMapping {
        struct Segment {
            var key: String
            var text: String
        }

        var line: Int
        var prefix: String
        var segments: [Segment]
        var suffix: String

        func rebuilt(_ segments: [Segment]) -> String {
            self.prefix + "{ " + segments.map(\.text).joined(separator: ", ") + " }" + self.suffix
        }
    }

    /// The mapping as a one-line flow mapping; `nil` when it is a block mapping.
    private func flowMapping(_ mapping: ConfigNode) throws(Failure) -> FlowMapping? {
        guard mapping.line >= 1, mapping.line <= self.lines.count else { throw Failure("a mapping has no line") }
        let line = Array(self.lines[mapping.line - 1])
        var column = Self.indent(String(line))
        if column < line.count, line[column] == "-" {
            column += 1
            while column < line.count, line[column] == " " { column += 1 }
        }
        // A mapping that is the value of a key (`admin: { … }`) starts after the key.
        if column < line.count, line[column] != "{", let brace = line[column...].firstIndex(of: "{"),
            String(line[column..<brace]).trimmingSuffixSpaces.hasSuffix(":")
        {
            column = brace
        }
        guard column < line.count, line[column] == "{" else { return nil }
        var depth = 0
        var quote: Character?
        var segments: [String] = []
        var current = ""
        var index = column
        while index < line.count {
            let character = line[index]
            if let open = quote {
                current.append(character)
                if character == "\\", open == "\"", index + 1 < line.count {
                    current.append(line[index + 1])
                    index += 1
                } else if character == open {
                    quote = nil
                }
            } else if character == "\"" || character == "'" {
                quote = character
                current.append(character)
            } else if character == "{" || character == "[" {
                if depth > 0 { current.append(character) }
                depth += 1
            } else if character == "}" || character == "]" {
                depth -= 1
                if depth == 0 {
                    segments.append(current)
                    let parsed = segments.map { $0.trimmingSpaces }.filter { !$0.isEmpty }.map {
                        FlowMapping.Segment(key: Self.segmentKey($0), text: $0)
                    }
                    return FlowMapping(
                        line: mapping.line - 1, prefix: String(line[..<column]), segments: parsed,
                        suffix: String(line[(index + 1)...]))
                }
                current.append(character)
            } else if character == ",", depth == 1 {
                segments.append(current)
                current = ""
            } else {
                current.append(character)
            }
            index += 1
        }
        throw Failure(
            "the mapping on line \(mapping.line) is written as { … } over several lines; the page edits one-line or block mappings: change it by upload")
    }

    private static func segmentKey(_ segment: String) -> String {
        let key = segment.prefix(while: { $0 != ":" }).trimmingSpaces
        if key.count >= 2, let first = key.first, first == "\"" || first == "'", key.last == first {
            return String(key.dropFirst().dropLast())
        }
        return key
    }
}

extension ConfigNode {
    /// The scalar of `field` when this is a mapping that has it.
    func value(of field: String) -> String? {
        guard case .mapping(let entries) = self.kind else { return nil }
        return entries.first(where: { $0.key == field })?.value.scalar
    }
}

extension StringProtocol {
    fileprivate var trimmingSpaces: String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }

    fileprivate var trimmingSuffixSpaces: String {
        String(self.reversed().drop(while: { $0 == " " }).reversed())
    }
}

/// YAML text for values the page sends.
enum YAMLValue {
    /// A scalar: plain when it is a plain word or number, double-quoted otherwise (addresses, patterns with `*`).
    static func scalar(_ text: String) -> String {
        let plain = !text.isEmpty
            && text.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0))
            }
            && !["true", "false", "yes", "no", "on", "off", "null", "~"].contains(text.lowercased())
            && text.first != "-" && text.first != "."
        if plain { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            default:
                if scalar.value < 0x20 {
                    quoted += "\\x" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    quoted.unicodeScalars.append(scalar)
                }
            }
        }
        return quoted + "\""
    }
}

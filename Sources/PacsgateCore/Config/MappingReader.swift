/// Reads the keys of one configuration mapping, remembering which were read so the rest can be reported as unknown.
///
/// The core reads its keys first and hands the same reader to the protocol module of the service, which reads its
/// own; `finish` then reports whatever nobody claimed. Every accessor records a problem instead of throwing, so one
/// run of `check-config` reports every mistake in the file.
public struct MappingReader: Sendable {
    /// Where the mapping is, for messages ("service 'DICOM'").
    public let context: String
    public let line: Int
    private let entries: [ConfigNode.Entry]
    private var claimed: Set<String> = []
    /// Problems found so far.
    public var problems: [ConfigProblem] = []

    /// Creates a reader over `node`; a node that is not a mapping is recorded as a problem.
    public init(_ node: ConfigNode, context: String) {
        self.context = context
        self.line = node.line
        switch node.kind {
        case .mapping(let entries):
            self.entries = entries
            var seen: Set<String> = []
            for entry in entries where !seen.insert(entry.key).inserted {
                self.problems.append(ConfigProblem(line: entry.line, "\(context): key '\(entry.key)' appears twice"))
            }
        case .null:
            self.entries = []
        default:
            self.entries = []
            self.problems.append(ConfigProblem(line: node.line, "\(context) must be a mapping, found \(node.shapeDescription)"))
        }
    }

    /// The node for `key`, marking it as known.
    public mutating func node(_ key: String) -> ConfigNode? {
        self.claimed.insert(key)
        return self.entries.first { $0.key == key }?.value
    }

    /// The scalar value of `key` without claiming it or recording problems (for naming a mapping in messages).
    public func peekString(_ key: String) -> String? {
        self.entries.first { $0.key == key }?.value.scalar
    }

    /// Whether the mapping has `key` (does not claim it).
    public func has(_ key: String) -> Bool { self.entries.contains { $0.key == key } }

    /// Records a problem at `line`.
    public mutating func problem(_ line: Int, _ message: String) {
        self.problems.append(ConfigProblem(line: line, message))
    }

    /// Records problems found by a nested reader.
    public mutating func absorb(_ other: MappingReader) {
        self.problems.append(contentsOf: other.problems)
    }

    /// A scalar string value; records a problem when the key is missing and `required`, or is not a scalar.
    public mutating func string(_ key: String, required: Bool = false) -> String? {
        guard let node = self.node(key) else {
            if required { self.problem(self.line, "\(self.context): missing required key '\(key)'") }
            return nil
        }
        guard let text = node.scalar else {
            self.problem(node.line, "\(self.context): '\(key)' must be a single value, found \(node.shapeDescription)")
            return nil
        }
        return text
    }

    /// An integer in `range`.
    public mutating func int(_ key: String, in range: ClosedRange<Int>, required: Bool = false) -> Int? {
        guard let text = self.string(key, required: required), let node = self.entryLine(key) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            self.problem(node, "\(self.context): '\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound), found '\(text)'")
            return nil
        }
        return value
    }

    /// A boolean (`true`/`false`, `yes`/`no`, `on`/`off`).
    public mutating func bool(_ key: String) -> Bool? {
        guard let text = self.string(key), let line = self.entryLine(key) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            self.problem(line, "\(self.context): '\(key)' must be true or false, found '\(text)'")
            return nil
        }
    }

    /// A duration such as `500ms`, `2s`, `30m`, `1h`, `1d` or a plain number of seconds.
    public mutating func duration(_ key: String) -> Duration? {
        guard let text = self.string(key), let line = self.entryLine(key) else { return nil }
        guard let value = ConfigValueParser.duration(text) else {
            self.problem(line, "\(self.context): bad duration '\(text)' for '\(key)' (use e.g. 500ms, 2s, 30m, 1h)")
            return nil
        }
        return value
    }

    /// A byte size such as `64KiB`, `4MiB`, `1GiB`, `512` (bytes).
    public mutating func byteSize(_ key: String, in range: ClosedRange<Int> = 1...Int(Int32.max)) -> Int? {
        guard let text = self.string(key), let line = self.entryLine(key) else { return nil }
        guard let value = ConfigValueParser.byteSize(text), range.contains(value) else {
            self.problem(line, "\(self.context): bad size '\(text)' for '\(key)' (use e.g. 64KiB, 4MiB; \(range.lowerBound)…\(range.upperBound) bytes)")
            return nil
        }
        return value
    }

    /// One of a fixed set of words.
    public mutating func choice<T: RawRepresentable>(_ key: String, _ type: T.Type) -> T?
    where T.RawValue == String, T: CaseIterable {
        guard let text = self.string(key), let line = self.entryLine(key) else { return nil }
        guard let value = T(rawValue: text) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: " | ")
            self.problem(line, "\(self.context): '\(key)' must be one of \(allowed), found '\(text)'")
            return nil
        }
        return value
    }

    /// A list of scalar strings (a single scalar is accepted as a one-element list).
    public mutating func stringList(_ key: String) -> [String]? {
        guard let node = self.node(key) else { return nil }
        switch node.kind {
        case .scalar(let text): return [text]
        case .null: return []
        case .sequence(let items):
            var result: [String] = []
            for item in items {
                guard let text = item.scalar else {
                    self.problem(item.line, "\(self.context): '\(key)' must be a list of values")
                    continue
                }
                result.append(text)
            }
            return result
        case .mapping:
            self.problem(node.line, "\(self.context): '\(key)' must be a list, found a mapping")
            return nil
        }
    }

    /// The line of `key`'s value (or of the mapping when absent).
    public func entryLine(_ key: String) -> Int? {
        self.entries.first { $0.key == key }?.value.line
    }

    /// Reports every key nobody claimed as unknown, listing the ones that would have been accepted.
    public mutating func finish() {
        for entry in self.entries where !self.claimed.contains(entry.key) {
            let known = self.claimed.sorted().joined(separator: ", ")
            self.problem(entry.line, "\(self.context): unknown key '\(entry.key)' (known keys: \(known))")
        }
    }
}

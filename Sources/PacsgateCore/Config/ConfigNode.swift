/// A configuration value together with the line of the file it came from.
///
/// The YAML loader (module `PacsgateConfig`) turns the document into this tree, so the core and the protocol modules
/// can decode their own keys and report problems as `FILE:LINE: message` without depending on a YAML library.
public struct ConfigNode: Sendable {
    /// One `key: value` pair of a mapping, in document order.
    public struct Entry: Sendable {
        public var key: String
        public var line: Int
        public var value: ConfigNode

        public init(key: String, line: Int, value: ConfigNode) {
            self.key = key
            self.line = line
            self.value = value
        }
    }

    /// The shape of a node.
    public enum Kind: Sendable {
        case scalar(String)
        case mapping([Entry])
        case sequence([ConfigNode])
        case null
    }

    public var kind: Kind
    /// 1-based line in the source document; 0 when the node was built in code.
    public var line: Int

    public init(_ kind: Kind, line: Int) {
        self.kind = kind
        self.line = line
    }

    /// The scalar text, or `nil` for mappings, sequences and null.
    public var scalar: String? {
        if case .scalar(let text) = self.kind { return text }
        return nil
    }

    /// A short name of the node's shape for error messages ("a mapping", "a list", …).
    public var shapeDescription: String {
        switch self.kind {
        case .scalar: return "a value"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .null: return "nothing"
        }
    }
}

/// One problem found in a configuration file.
public struct ConfigProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String

    public init(line: Int, _ message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "\(self.line): \(self.message)" }
}

/// Every problem found while reading a configuration, in file order.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]

    public init(_ problems: [ConfigProblem]) {
        self.problems = problems.sorted { $0.line < $1.line }
    }

    /// The problems as `FILE:LINE: message` lines, the format `pacsgate check-config` prints.
    public func formatted(file: String) -> String {
        self.problems.map { "\(file):\($0.line): \($0.message)" }.joined(separator: "\n")
    }

    public var description: String { self.problems.map(\.description).joined(separator: "\n") }
}

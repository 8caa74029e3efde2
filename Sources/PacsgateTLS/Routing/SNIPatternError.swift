/// Why an `sni_routes` host pattern in the configuration is not acceptable.
public struct SNIPatternError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The rule the pattern breaks.
    public enum Reason: Hashable, Sendable {
        /// `*` appears other than as the whole leftmost label of a pattern with a parent domain (`*.example.org`).
        case misplacedWildcard
        /// The pattern (without its `*.` prefix) is not a valid host name.
        case invalidHostName(HostNameViolation)
        /// The pattern, once normalised, is already in the table.
        case duplicate
    }

    /// The pattern as written in the configuration.
    public let pattern: String
    /// What is wrong with it.
    public let reason: Reason

    public init(pattern: String, reason: Reason) {
        self.pattern = pattern
        self.reason = reason
    }

    public var description: String {
        switch self.reason {
        case .misplacedWildcard:
            return "SNI pattern \"\(self.pattern)\": '*' must be the whole leftmost label, as in *.example.org"
        case .invalidHostName(let violation):
            return "SNI pattern \"\(self.pattern)\": \(violation)"
        case .duplicate:
            return "SNI pattern \"\(self.pattern)\" appears more than once"
        }
    }
}

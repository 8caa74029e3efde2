/// Maps TLS server names to routes, built from the `sni_routes` configuration.
///
/// A pattern is either an exact host name (`pacs.example.org`) or a wildcard whose `*` stands for exactly one
/// leftmost label (`*.example.org` matches `a.example.org`, not `a.b.example.org` and not `example.org`).
/// Patterns and names are compared case-insensitively and without a trailing dot. An exact pattern beats a
/// wildcard; patterns of the same kind never overlap. A name that matches nothing yields `nil`: the caller
/// sends it to the default pool or refuses it.
///
/// `Route` is whatever the configuration attaches to a pattern, e.g. a route name or a list of server labels.
public struct SNIRouteTable<Route: Sendable>: Sendable {
    private var exact: [String: Route] = [:]
    /// Wildcard routes keyed by the parent domain (`example.org` for `*.example.org`). Keyed by `Substring`
    /// so a lookup can use the tail of the server name without copying it.
    private var wildcard: [Substring: Route] = [:]

    /// An empty table: every name yields `nil`.
    public init() {}

    /// Builds the table, validating every pattern.
    ///
    /// - Throws: `SNIPatternError` for the first pattern that is invalid or a duplicate.
    public init(_ entries: some Sequence<(pattern: String, route: Route)>) throws(SNIPatternError) {
        for (pattern, route) in entries {
            let isWildcard = pattern.utf8.starts(with: "*.".utf8)
            let hostPart = isWildcard ? String(pattern.utf8.dropFirst(2)) ?? "" : pattern
            let name: ServerName
            do {
                name = try ServerName(hostPart)
            } catch .invalidByte(UInt8(ascii: "*")) {
                throw SNIPatternError(pattern: pattern, reason: .misplacedWildcard)
            } catch .empty where isWildcard {
                throw SNIPatternError(pattern: pattern, reason: .misplacedWildcard)
            } catch {
                throw SNIPatternError(pattern: pattern, reason: .invalidHostName(error))
            }
            if isWildcard {
                // "*." adds two bytes to the name; the whole pattern obeys the 253-byte limit too.
                let length = name.hostName.utf8.count + 2
                guard length <= HostNameValidator.maximumLength else {
                    throw SNIPatternError(pattern: pattern, reason: .invalidHostName(.tooLong(length: length)))
                }
                guard self.wildcard.updateValue(route, forKey: Substring(name.hostName)) == nil else {
                    throw SNIPatternError(pattern: pattern, reason: .duplicate)
                }
            } else {
                guard self.exact.updateValue(route, forKey: name.hostName) == nil else {
                    throw SNIPatternError(pattern: pattern, reason: .duplicate)
                }
            }
        }
    }

    /// Whether the table has no patterns.
    public var isEmpty: Bool {
        self.exact.isEmpty && self.wildcard.isEmpty
    }

    /// The route for `serverName`: an exact match, else a wildcard match on its parent domain, else `nil`.
    public func route(for serverName: ServerName) -> Route? {
        let hostName = serverName.hostName
        if let route = self.exact[hostName] {
            return route
        }
        guard let dot = hostName.utf8.firstIndex(of: UInt8(ascii: ".")) else {
            return nil
        }
        return self.wildcard[hostName[hostName.utf8.index(after: dot)...]]
    }
}

public import PacsgateCore

/// The configuration keys each unit of a pair keeps for itself when the primary's configuration is synced.
///
/// A key path is a dotted list of segments. In a mapping a segment names a key; in a list it names the element whose
/// `label` is that text; `*` matches any key or element. `services.*.certificate` is the certificate path of every
/// service, `services.HTTPS.certificate` that of the service labelled `HTTPS` only.
public struct LocalKeys: Sendable, Equatable {
    /// Kept per unit whatever the configuration says: the HA section itself, the state directory, where the admin
    /// server listens and its certificate, who may administer the unit (its users and API tokens: a peer that holds
    /// the HA secret must not be able to add an administrator), and every certificate, key and CA file path (files
    /// are per machine).
    public static let builtIn: [String] = [
        "ha",
        "state_dir",
        "admin.listen",
        "admin.users",
        "admin.tokens",
        "admin.tls",
        "admin.certificate",
        "admin.key",
        "services.*.certificate",
        "services.*.key",
        "services.*.certificates",
        "services.*.servers.*.ca_file",
        "services.*.servers.*.certificate",
        "services.*.servers.*.key",
        "services.*.health_check.ca_file",
        "services.*.tls.certificate",
        "services.*.tls.key",
        "services.*.tls.client_ca_file",
        "services.*.tls.crl_file",
    ]

    /// The paths, in the order given.
    public let paths: [String]
    private let patterns: [[String]]

    /// The built-in paths plus `extra` (from `ha.local_keys`).
    public init(extra: [String] = []) {
        var paths = Self.builtIn
        for path in extra where !paths.contains(path) { paths.append(path) }
        self.paths = paths
        self.patterns = paths.map { $0.split(separator: ".", omittingEmptySubsequences: false).map(String.init) }
    }

    /// Why `path` is not a usable key path, or `nil`.
    public static func problem(with path: String) -> String? {
        if path.isEmpty { return "an empty key path" }
        if path.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
            return "'\(path)' has an empty segment (write keys separated by single dots, e.g. audit.path)"
        }
        if path == "*" { return "'*' alone would make every key local (nothing would be synced)" }
        if path == "services" || path == "services.*" {
            return "'\(path)' would make every service local (nothing would be synced)"
        }
        return nil
    }

    // MARK: strip

    /// `node` without any local key: the part of a configuration the pair shares.
    public func shared(_ node: ConfigNode) -> ConfigNode {
        Self.strip(node, self.patterns)
    }

    private static func strip(_ node: ConfigNode, _ patterns: [[String]]) -> ConfigNode {
        guard !patterns.isEmpty else { return node }
        switch node.kind {
        case .mapping(let entries):
            var kept: [ConfigNode.Entry] = []
            for entry in entries {
                let (leaf, children) = Self.split(patterns, matching: entry.key)
                if leaf { continue }
                var entry = entry
                entry.value = Self.strip(entry.value, children)
                kept.append(entry)
            }
            return ConfigNode(.mapping(kept), line: node.line)
        case .sequence(let items):
            var kept: [ConfigNode] = []
            for item in items {
                let (leaf, children) = Self.split(patterns, matching: Self.label(item))
                if leaf { continue }
                kept.append(Self.strip(item, children))
            }
            return ConfigNode(.sequence(kept), line: node.line)
        case .scalar, .null:
            return node
        }
    }

    // MARK: merge

    /// The primary's configuration with this unit's local keys: wherever this unit has the container of a local key
    /// (the `admin` mapping, a service with the same label), its value — or its absence — wins; where it has no
    /// counterpart (a service the primary added), the primary's value is used.
    public func merge(primary: ConfigNode, local: ConfigNode) -> ConfigNode {
        Self.merge(primary, local, self.patterns)
    }

    private static func merge(_ primary: ConfigNode, _ local: ConfigNode?, _ patterns: [[String]]) -> ConfigNode {
        guard !patterns.isEmpty else { return primary }
        switch primary.kind {
        case .mapping(let entries):
            // No counterpart on this unit: the primary's values stand.
            guard let local, case .mapping(let localEntries) = local.kind else { return primary }
            var merged: [ConfigNode.Entry] = []
            var used: Set<String> = []
            for entry in entries {
                let (leaf, children) = Self.split(patterns, matching: entry.key)
                let counterpart = localEntries.first { $0.key == entry.key }
                if leaf {
                    // This unit's value, or nothing when it has none.
                    if let counterpart {
                        merged.append(counterpart)
                        used.insert(entry.key)
                    }
                    continue
                }
                var entry = entry
                entry.value = Self.merge(entry.value, counterpart?.value, children)
                merged.append(entry)
            }
            // Local keys this unit has and the primary does not.
            for entry in localEntries where !used.contains(entry.key) && !entries.contains(where: { $0.key == entry.key }) {
                if Self.split(patterns, matching: entry.key).leaf { merged.append(entry) }
            }
            return ConfigNode(.mapping(merged), line: primary.line)
        case .sequence(let items):
            guard let local, case .sequence(let localItems) = local.kind else { return primary }
            var merged: [ConfigNode] = []
            for (index, item) in items.enumerated() {
                let label = Self.label(item)
                let counterpart: ConfigNode?
                if let label {
                    counterpart = localItems.first { Self.label($0) == label }
                } else {
                    counterpart = index < localItems.count ? localItems[index] : nil
                }
                let (leaf, children) = Self.split(patterns, matching: label)
                if leaf {
                    if let counterpart { merged.append(counterpart) } else { merged.append(item) }
                    continue
                }
                merged.append(Self.merge(item, counterpart, children))
            }
            return ConfigNode(.sequence(merged), line: primary.line)
        case .scalar, .null:
            return primary
        }
    }

    // MARK: matching

    /// Of `patterns`, whether one ends at a segment matching `name` (a local leaf) and the remainders of those that
    /// continue below it.
    private static func split(_ patterns: [[String]], matching name: String?) -> (leaf: Bool, children: [[String]]) {
        var leaf = false
        var children: [[String]] = []
        for pattern in patterns {
            guard let first = pattern.first, first == "*" || (name != nil && first == name) else { continue }
            if pattern.count == 1 {
                leaf = true
            } else {
                children.append(Array(pattern.dropFirst()))
            }
        }
        return (leaf, children)
    }

    /// The `label` of a list element that is a mapping with one.
    private static func label(_ node: ConfigNode) -> String? {
        guard case .mapping(let entries) = node.kind else { return nil }
        return entries.first { $0.key == "label" }?.value.scalar
    }
}

@testable import PacsgateCore

// Builds `ConfigNode` trees by hand, with the line numbers PacsgateConfig's Yams loader gives them: a scalar value
// carries the line of its key, a block mapping or list carries the line of its first entry, a flow mapping
// (`{type: source-ip, timeout: 30m}`) the line it is written on.

/// `key: value` written on `line`.
func entry(_ key: String, _ line: Int, _ value: String) -> ConfigNode.Entry {
    ConfigNode.Entry(key: key, line: line, value: ConfigNode(.scalar(value), line: line))
}

/// `key:` written on `line`, followed by a nested mapping or list (which carries its own line).
func entry(_ key: String, _ line: Int, _ node: ConfigNode) -> ConfigNode.Entry {
    ConfigNode.Entry(key: key, line: line, value: node)
}

/// A mapping; its line is that of its first entry unless given.
func mapping(line: Int? = nil, _ entries: ConfigNode.Entry...) -> ConfigNode {
    ConfigNode(.mapping(entries), line: line ?? entries.first?.line ?? 0)
}

/// A list; its line is that of its first item unless given.
func list(line: Int? = nil, _ items: ConfigNode...) -> ConfigNode {
    ConfigNode(.sequence(items), line: line ?? items.first?.line ?? 0)
}

/// A list of scalars written `[a, b]` on `line`.
func flowList(_ line: Int, _ items: String...) -> ConfigNode {
    ConfigNode(.sequence(items.map { ConfigNode(.scalar($0), line: line) }), line: line)
}

/// A server list item: `- label: LABEL` on `line`, `address: ADDRESS` on the next line, then `extra`.
func server(_ line: Int, _ label: String, _ address: String, _ extra: ConfigNode.Entry...) -> ConfigNode {
    ConfigNode(.mapping([entry("label", line, label), entry("address", line + 1, address)] + extra), line: line)
}

/// The last line a node or entry occupies.
func lastLine(_ node: ConfigNode) -> Int {
    switch node.kind {
    case .scalar, .null: return node.line
    case .mapping(let entries): return entries.map { max($0.line, lastLine($0.value)) }.max() ?? node.line
    case .sequence(let items): return items.map(lastLine).max() ?? node.line
    }
}

/// A service list item with one server, as most problem tests need:
///
/// ```
/// LINE     - label: LABEL
/// LINE+1     listen: LISTEN
///              EXTRA…  (at the lines they give)
/// N            servers:
/// N+1            - label: A
/// N+2              address: 10.0.0.1:104
/// ```
func service(_ line: Int, _ label: String, listen: String = "0.0.0.0:11112", _ extra: ConfigNode.Entry...) -> ConfigNode
{
    var entries = [entry("label", line, label), entry("listen", line + 1, listen)] + extra
    let serversLine = lastLine(ConfigNode(.mapping(entries), line: line)) + 1
    entries.append(entry("servers", serversLine, list(server(serversLine + 1, "A", "10.0.0.1:104"))))
    return ConfigNode(.mapping(entries), line: line)
}

/// A document whose first key, on line 1, is `services:`, followed by `extra` top-level entries.
func document(_ services: ConfigNode..., extra: [ConfigNode.Entry] = []) -> ConfigNode {
    ConfigNode(.mapping([entry("services", 1, ConfigNode(.sequence(services), line: 2))] + extra), line: 1)
}

public import PacsgateCore
import Yams

/// Writes a ``ConfigNode`` tree as YAML that ``ConfigurationLoader`` reads back into the same tree, with Yams.
///
/// Every scalar is double-quoted (the loader reads all scalars as text, and quoting keeps `null`, `yes`, `08` or a
/// leading `*` from being anything else); null is `null`; empty collections are `{}` and `[]`; everything else is
/// block style in document order, on lines of any length. The output is deterministic, which makes it the canonical
/// form an HA pair digests to compare configurations (`ConfigSyncPolicy`).
public enum ConfigurationWriter {
    /// The YAML text of `node`, ending with a newline.
    public static func yaml(_ node: ConfigNode) -> String {
        // Serializing a tree of plain strings fails only on an emitter error libyaml reports for malformed events,
        // which this tree cannot produce; a failure would still give the loader something it rejects, not a
        // different configuration.
        (try? Yams.serialize(node: Self.node(node), indent: 2, width: -1, allowUnicode: true)) ?? "!!invalid\n"
    }

    private static func node(_ node: ConfigNode) -> Node {
        switch node.kind {
        case .scalar(let text):
            return .scalar(Node.Scalar(text, Tag(.str), .doubleQuoted))
        case .null:
            return .scalar(Node.Scalar("null", Tag(.null), .plain))
        case .mapping(let entries):
            let pairs = entries.map { (Node.scalar(Node.Scalar($0.key, Tag(.str), .any)), Self.node($0.value)) }
            return .mapping(Node.Mapping(pairs, Tag(.map), entries.isEmpty ? .flow : .block))
        case .sequence(let items):
            return .sequence(Node.Sequence(items.map(Self.node), Tag(.seq), items.isEmpty ? .flow : .block))
        }
    }
}

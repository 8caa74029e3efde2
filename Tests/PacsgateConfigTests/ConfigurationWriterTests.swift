import PacsgateConfig
import PacsgateCore
import Testing

/// The YAML writer the HA pair's configuration sync uses: what it writes, the loader reads back as the same tree.
@Suite("Configuration writer")
struct ConfigurationWriterTests {
    /// The tree's shape and text, lines left out: mappings keep their key order, null differs from the text "null".
    static func shape(_ node: ConfigNode) -> String {
        switch node.kind {
        case .scalar(let text): return "s(\(text.debugDescription))"
        case .null: return "null"
        case .mapping(let entries): return "{" + entries.map { "\($0.key.debugDescription): \(Self.shape($0.value))" }.joined(separator: ", ") + "}"
        case .sequence(let items): return "[" + items.map(Self.shape).joined(separator: ", ") + "]"
        }
    }

    @Test("scalars YAML would read as something else, odd keys, long lines, nesting and empty collections come back as they were")
    func roundTrip() throws {
        let yaml = #"""
            services:
              - label: "yes"
                listen: "0.0.0.0:08"
                servers:
                  - { label: "null", address: "*star", weight: "1e3" }
                  - { label: "# not a comment", address: "a: b" }
                empty_mapping: {}
                empty_list: []
                nothing: null
                nested: [[a, b], [], {x: "~"}]
            "a key: with a colon": "tab\there, newline\nhere, quote \" and backslash \\ and bell \u0007"
            unicode: "Müller — 患者 ✓"
            long: "\#(String(repeating: "0123456789", count: 30))"
            """#
        let tree = try ConfigurationLoader.parse(yaml: yaml).get()
        let written = ConfigurationWriter.yaml(tree)
        let again = try ConfigurationLoader.parse(yaml: written).get()
        #expect(Self.shape(again) == Self.shape(tree), "\(written)")
        #expect(ConfigurationWriter.yaml(again) == written, "the writer is not deterministic")
        // Every scalar is quoted, so none of them is read as a number, a boolean or null; null stays null.
        #expect(Self.shape(tree).contains(#"s("yes")"#) && Self.shape(tree).contains(#"s("null")"#))
        #expect(Self.shape(tree).contains("nothing\": null"))
        // One scalar per line however long: the 300-character value is not folded.
        #expect(written.split(separator: "\n").contains { $0.contains(String(repeating: "0123456789", count: 30)) })
    }
}

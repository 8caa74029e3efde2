import Testing

@testable import PacsgateCore

@Suite struct MappingReaderTests {
    private enum Colour: String, CaseIterable {
        case red
        case green
    }

    @Test func readsValuesAndReportsUnclaimedKeys() {
        let node = mapping(
            entry("name", 3, "PACS"),
            entry("count", 4, "7"),
            entry("enabled", 5, "yes"),
            entry("wait", 6, "1h30m"),
            entry("size", 7, "64KiB"),
            entry("colour", 8, "green"),
            entry("tags", 9, flowList(9, "a", "b")),
            entry("extra", 10, "?"),
            entry("another", 11, "?")
        )
        var reader = MappingReader(node, context: "service 'PACS'")
        #expect(reader.line == 3)
        #expect(reader.string("name") == "PACS")
        #expect(reader.int("count", in: 1...10) == 7)
        #expect(reader.bool("enabled") == true)
        #expect(reader.duration("wait") == .seconds(5400))
        #expect(reader.byteSize("size") == 65_536)
        #expect(reader.choice("colour", Colour.self) == .green)
        #expect(reader.stringList("tags") == ["a", "b"])
        #expect(reader.string("absent") == nil)
        #expect(reader.problems.isEmpty)
        reader.finish()
        let known = "absent, colour, count, enabled, name, size, tags, wait"
        #expect(
            reader.problems == [
                ConfigProblem(line: 10, "service 'PACS': unknown key 'extra' (known keys: \(known))"),
                ConfigProblem(line: 11, "service 'PACS': unknown key 'another' (known keys: \(known))"),
            ]
        )
    }

    @Test func missingRequiredKeyIsReportedAtTheMapping() {
        var reader = MappingReader(mapping(entry("other", 12, "x")), context: "service 'PACS' server")
        #expect(reader.string("label", required: true) == nil)
        #expect(reader.int("weight", in: 0...10, required: true) == nil)
        #expect(
            reader.problems == [
                ConfigProblem(line: 12, "service 'PACS' server: missing required key 'label'"),
                ConfigProblem(line: 12, "service 'PACS' server: missing required key 'weight'"),
            ]
        )
    }

    @Test func valueOfTheWrongShape() {
        let node = mapping(
            entry("name", 2, mapping(entry("first", 3, "x"))),
            entry("tags", 4, mapping(entry("a", 5, "b"))),
            entry("list", 6, list(ConfigNode(.scalar("a"), line: 7), mapping(entry("b", 8, "c"))))
        )
        var reader = MappingReader(node, context: "audit")
        #expect(reader.string("name") == nil)
        #expect(reader.stringList("tags") == nil)
        #expect(reader.stringList("list") == ["a"])
        #expect(
            reader.problems == [
                ConfigProblem(line: 3, "audit: 'name' must be a single value, found a mapping"),
                ConfigProblem(line: 5, "audit: 'tags' must be a list, found a mapping"),
                ConfigProblem(line: 8, "audit: 'list' must be a list of values"),
            ]
        )
    }

    @Test func badScalars() {
        let node = mapping(
            entry("count", 2, "11"),
            entry("other", 3, "seven"),
            entry("enabled", 4, "maybe"),
            entry("wait", 5, "10x"),
            entry("size", 6, "1TiB"),
            entry("small", 7, "100"),
            entry("colour", 8, "blue")
        )
        var reader = MappingReader(node, context: "logging")
        #expect(reader.int("count", in: 1...10) == nil)
        #expect(reader.int("other", in: 0...5) == nil)
        #expect(reader.bool("enabled") == nil)
        #expect(reader.duration("wait") == nil)
        #expect(reader.byteSize("size") == nil)
        #expect(reader.byteSize("small", in: 4096...8192) == nil)
        #expect(reader.choice("colour", Colour.self) == nil)
        #expect(
            reader.problems == [
                ConfigProblem(line: 2, "logging: 'count' must be a whole number from 1 to 10, found '11'"),
                ConfigProblem(line: 3, "logging: 'other' must be a whole number from 0 to 5, found 'seven'"),
                ConfigProblem(line: 4, "logging: 'enabled' must be true or false, found 'maybe'"),
                ConfigProblem(line: 5, "logging: bad duration '10x' for 'wait' (use e.g. 500ms, 2s, 30m, 1h)"),
                ConfigProblem(
                    line: 6,
                    "logging: bad size '1TiB' for 'size' (use e.g. 64KiB, 4MiB; 1…2147483647 bytes)"
                ),
                ConfigProblem(line: 7, "logging: bad size '100' for 'small' (use e.g. 64KiB, 4MiB; 4096…8192 bytes)"),
                ConfigProblem(line: 8, "logging: 'colour' must be one of red | green, found 'blue'"),
            ]
        )
    }

    @Test(arguments: [("true", true), ("YES", true), ("on", true), ("false", false), ("No", false), ("off", false)])
    func booleans(text: String, expected: Bool) {
        var reader = MappingReader(mapping(entry("flag", 1, text)), context: "x")
        #expect(reader.bool("flag") == expected)
        #expect(reader.problems.isEmpty)
    }

    @Test func stringListForms() {
        let node = mapping(
            entry("one", 1, "MODALITY1"),
            entry("none", 2, ConfigNode(.null, line: 2)),
            entry("many", 3, list(ConfigNode(.scalar("A"), line: 4), ConfigNode(.scalar("B"), line: 5)))
        )
        var reader = MappingReader(node, context: "x")
        #expect(reader.stringList("one") == ["MODALITY1"])
        #expect(reader.stringList("none") == [])
        #expect(reader.stringList("many") == ["A", "B"])
        #expect(reader.stringList("missing") == nil)
        #expect(reader.problems.isEmpty)
    }

    @Test func keyGivenTwiceIsReportedAtTheSecondAndTheFirstValueWins() {
        let node = mapping(
            entry("listen", 3, "0.0.0.0:104"),
            entry("servers", 4, "x"),
            entry("listen", 5, "0.0.0.0:105")
        )
        var reader = MappingReader(node, context: "service 'PACS'")
        #expect(reader.problems == [ConfigProblem(line: 5, "service 'PACS': key 'listen' appears twice")])
        #expect(reader.string("listen") == "0.0.0.0:104")
    }

    @Test func notAMapping() {
        let reader = MappingReader(list(ConfigNode(.scalar("a"), line: 4)), context: "service 'PACS' health_check")
        #expect(
            reader.problems == [ConfigProblem(line: 4, "service 'PACS' health_check must be a mapping, found a list")]
        )
        let scalar = MappingReader(ConfigNode(.scalar("none"), line: 6), context: "audit")
        #expect(scalar.problems == [ConfigProblem(line: 6, "audit must be a mapping, found a value")])
    }

    @Test func nullIsAnEmptyMapping() {
        var reader = MappingReader(ConfigNode(.null, line: 9), context: "logging")
        #expect(reader.string("level") == nil)
        reader.finish()
        #expect(reader.problems.isEmpty)
    }

    @Test func peekAndHasDoNotClaim() {
        var reader = MappingReader(mapping(entry("label", 2, "PACS")), context: "service")
        #expect(reader.peekString("label") == "PACS")
        #expect(reader.has("label"))
        #expect(!reader.has("listen"))
        #expect(reader.entryLine("label") == 2)
        #expect(reader.entryLine("listen") == nil)
        reader.finish()
        #expect(reader.problems == [ConfigProblem(line: 2, "service: unknown key 'label' (known keys: )")])
    }

    @Test func absorbCollectsNestedProblems() {
        var outer = MappingReader(mapping(entry("a", 1, "x")), context: "outer")
        var inner = MappingReader(mapping(entry("b", 2, "y")), context: "inner")
        inner.finish()
        outer.absorb(inner)
        outer.problem(7, "something else")
        #expect(
            outer.problems == [
                ConfigProblem(line: 2, "inner: unknown key 'b' (known keys: )"),
                ConfigProblem(line: 7, "something else"),
            ]
        )
    }

    @Test func configErrorsAreSortedAndFormatted() {
        let errors = ConfigErrors([
            ConfigProblem(line: 9, "nine"), ConfigProblem(line: 2, "two"), ConfigProblem(line: 5, "five"),
        ])
        #expect(errors.problems.map(\.line) == [2, 5, 9])
        #expect(
            errors.formatted(file: "pacsgate.yaml")
                == "pacsgate.yaml:2: two\npacsgate.yaml:5: five\npacsgate.yaml:9: nine"
        )
        #expect(errors.description == "2: two\n5: five\n9: nine")
        #expect(ConfigProblem(line: 3, "x").description == "3: x")
    }
}

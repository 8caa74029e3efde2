import PacsgateTLS
import Testing

@Suite("SNIRouteTable")
struct SNIRouteTableTests {
    func name(_ string: String) throws -> ServerName {
        try ServerName(string)
    }

    @Test("exact names, single-label wildcards, exact beats wildcard, no match is nil")
    func matching() throws {
        let table = try SNIRouteTable([
            (pattern: "*.mach7.test", route: "wildcard"),
            (pattern: "pacs.mach7.test", route: "exact"),
            (pattern: "*.radiology.example.org", route: "radiology"),
        ])
        #expect(table.route(for: try self.name("pacs.mach7.test")) == "exact")
        #expect(table.route(for: try self.name("a.mach7.test")) == "wildcard")
        #expect(table.route(for: try self.name("a.b.mach7.test")) == nil)
        #expect(table.route(for: try self.name("mach7.test")) == nil)
        #expect(table.route(for: try self.name("xmach7.test")) == nil)
        #expect(table.route(for: try self.name("ct.radiology.example.org")) == "radiology")
        #expect(table.route(for: try self.name("radiology.example.org")) == nil)
        #expect(table.route(for: try self.name("other.test")) == nil)
        #expect(table.route(for: try self.name("localhost")) == nil)
        #expect(!table.isEmpty)
    }

    @Test("case and a trailing dot do not matter, in patterns or names")
    func normalisation() throws {
        let table = try SNIRouteTable([
            (pattern: "PACS.Mach7.Test.", route: 1),
            (pattern: "*.VNA.mach7.test", route: 2),
        ])
        #expect(table.route(for: try self.name("pacs.mach7.test")) == 1)
        #expect(table.route(for: try self.name("pacs.MACH7.test.")) == 1)
        #expect(table.route(for: try self.name("Node1.vna.MACH7.TEST.")) == 2)
    }

    @Test("routes can be any Sendable value, e.g. server labels; an empty table matches nothing")
    func serverLabels() throws {
        let table = try SNIRouteTable([(pattern: "a.mach7.test", route: ["pacs1", "pacs2"])])
        #expect(table.route(for: try self.name("a.mach7.test")) == ["pacs1", "pacs2"])

        let empty = try SNIRouteTable([(pattern: String, route: Int)]())
        #expect(empty.isEmpty)
        #expect(empty.route(for: try self.name("a.mach7.test")) == nil)
    }

    @Test(
        "invalid patterns are refused with the pattern and the reason",
        arguments: [
            ("*", SNIPatternError.Reason.misplacedWildcard),
            ("*.", .misplacedWildcard),
            ("*a.mach7.test", .misplacedWildcard),
            ("a.*.mach7.test", .misplacedWildcard),
            ("*.*.mach7.test", .misplacedWildcard),
            ("**.mach7.test", .misplacedWildcard),
            ("mach7.*", .misplacedWildcard),
            ("", .invalidHostName(.empty)),
            ("a..mach7.test", .invalidHostName(.emptyLabel)),
            (".mach7.test", .invalidHostName(.emptyLabel)),
            ("*..mach7.test", .invalidHostName(.emptyLabel)),
            ("a.mach7.test..", .invalidHostName(.emptyLabel)),
            ("10.1.2.3", .invalidHostName(.ipLiteral)),
            ("pacs mach7.test", .invalidHostName(.invalidByte(0x20))),
            (String(repeating: "x", count: 64) + ".test", .invalidHostName(.labelTooLong(length: 64))),
        ]
    )
    func invalidPattern(pattern: String, reason: SNIPatternError.Reason) {
        #expect(throws: SNIPatternError(pattern: pattern, reason: reason)) {
            try SNIRouteTable([(pattern: pattern, route: 0)])
        }
    }

    @Test("patterns are at most 253 bytes, counting the wildcard label")
    func patternLength() throws {
        let label63 = String(repeating: "a", count: 63)
        let host251 = [label63, label63, label63, String(repeating: "b", count: 59)].joined(separator: ".")
        #expect(host251.utf8.count == 251)
        _ = try SNIRouteTable([(pattern: "*." + host251, route: 0)])

        let host252 = host251 + "b"
        #expect(throws: SNIPatternError(pattern: "*." + host252, reason: .invalidHostName(.tooLong(length: 254)))) {
            try SNIRouteTable([(pattern: "*." + host252, route: 0)])
        }
        let host254 = host252 + "bb"
        #expect(throws: SNIPatternError(pattern: host254, reason: .invalidHostName(.tooLong(length: 254)))) {
            try SNIRouteTable([(pattern: host254, route: 0)])
        }
    }

    @Test("the same pattern twice, after normalisation, is refused")
    func duplicates() {
        #expect(throws: SNIPatternError(pattern: "A.mach7.test.", reason: .duplicate)) {
            try SNIRouteTable([(pattern: "a.mach7.test", route: 1), (pattern: "A.mach7.test.", route: 2)])
        }
        #expect(throws: SNIPatternError(pattern: "*.MACH7.test", reason: .duplicate)) {
            try SNIRouteTable([(pattern: "*.mach7.test", route: 1), (pattern: "*.MACH7.test", route: 2)])
        }
        // An exact name and a wildcard over its parent are different patterns.
        #expect(throws: Never.self) {
            try SNIRouteTable([(pattern: "mach7.test", route: 1), (pattern: "*.mach7.test", route: 2)])
        }
    }

    @Test("errors name the pattern for the configuration report")
    func errorDescription() {
        let error = SNIPatternError(pattern: "a.*.org", reason: .misplacedWildcard)
        #expect(error.description.contains("\"a.*.org\""))
        #expect(
            SNIPatternError(pattern: "a..org", reason: .invalidHostName(.emptyLabel)).description
                == "SNI pattern \"a..org\": empty label in host name"
        )
    }
}

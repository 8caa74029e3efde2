import Foundation
import PacsgateTestSupport
import Testing

/// packaging/pacsgate.service as systemd's own tools read it.
@Suite("systemd unit", .timeLimit(.minutes(2)))
struct UnitFileTests {
    static let systemdAnalyze = "/usr/bin/systemd-analyze"
    static let unit = ServiceTestSupport.repository.appendingPathComponent("packaging/pacsgate.service").path

    /// The unit as packaged, except that it runs the executable under test instead of /usr/bin/pacsgate (verify
    /// requires the commands to exist; the package test verifies the installed unit as it is).
    static func stagedUnit(_ scope: TestScope) throws -> String {
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        #expect(text.contains("ExecStart=/usr/bin/pacsgate run --config /etc/pacsgate/pacsgate.yaml"))
        let staged = "\(scope.directory)/pacsgate.service"
        try text.replacingOccurrences(of: "/usr/bin/pacsgate", with: try GatewayUnderTest.executable)
            .write(toFile: staged, atomically: true, encoding: .utf8)
        return staged
    }

    @Test("systemd-analyze verify accepts the unit: exit 0 and not one warning")
    func verify() async throws {
        try await withTestScope { scope in
            try Peers.require(Self.systemdAnalyze, scope.missingPeerAdvice)
            let staged = try Self.stagedUnit(scope)
            // --man=false: the man page is checked where it is installed (packaging/test-package.sh).
            let result = try await ToolRunner.run(Self.systemdAnalyze, ["verify", "--man=false", staged])
            #expect(result.status == 0, "\(result.standardError)")
            // Unknown keys and bad values are warnings with exit 0: nothing may be printed at all.
            #expect(result.standardError.isEmpty && result.standardOutput.isEmpty, "\(result.standardError)\(result.standardOutput)")
        }
    }

    @Test("the same verify reports a misspelt directive (the check above can fail)")
    func verifyCatchesAnUnknownKey() async throws {
        try await withTestScope { scope in
            try Peers.require(Self.systemdAnalyze, scope.missingPeerAdvice)
            let staged = try Self.stagedUnit(scope)
            let text = try String(contentsOfFile: staged, encoding: .utf8)
            try text.replacingOccurrences(of: "ProtectSystem=strict", with: "ProtectSytem=strict")
                .write(toFile: staged, atomically: true, encoding: .utf8)
            let result = try await ToolRunner.run(Self.systemdAnalyze, ["verify", "--man=false", staged])
            #expect(result.standardError.contains("Unknown key 'ProtectSytem'"), "\(result.standardError)")
        }
    }

    @Test("the exposure score docs/operations.md records is the one systemd-analyze security gives the unit")
    func securityScoreDocumented() async throws {
        try await withTestScope { scope in
            try Peers.require(Self.systemdAnalyze, scope.missingPeerAdvice)
            let staged = try Self.stagedUnit(scope)
            let result = try await ToolRunner.run(Self.systemdAnalyze, ["security", "--offline=true", "--no-pager", staged])
            let overall = result.standardOutput.split(separator: "\n").first { $0.contains("Overall exposure level") }
            let score = try #require(overall.flatMap { $0.firstMatch(of: /: ([0-9.]+) ([A-Z]+)/) }, "\(result.standardOutput)\(result.standardError)")
            let docs = try String(
                contentsOf: ServiceTestSupport.repository.appendingPathComponent("docs/operations.md"), encoding: .utf8)
            #expect(
                docs.contains("Overall exposure level for pacsgate.service: \(score.1) \(score.2)"),
                "docs/operations.md should record \(score.1) \(score.2)")
        }
    }
}

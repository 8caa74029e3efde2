import Foundation
import PacsgateTestSupport
import PacsgateVersion
import Testing

/// `pacsgate --version`: the release and the commit, recorded at build time without the build needing git.
@Suite("version and commit", .timeLimit(.minutes(2)))
struct VersionTests {
    static let script = ServiceTestSupport.repository.appendingPathComponent("scripts/build-commit.sh").path

    @Test("--version prints the release and a commit of this repository")
    func versionNamesACommit() async throws {
        let result = try await ToolRunner.run(try GatewayUnderTest.executable, ["--version"])
        #expect(result.status == 0)
        #expect(result.standardOutput == "\(PacsgateVersion.version) (commit \(PacsgateVersion.commit))\n")
        let match = try #require(result.standardOutput.firstMatch(of: /^[0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]{12})(-modified)?\)\n$/), "\(result.standardOutput)")
        // Built from this checkout: git knows the commit (a later commit does not change that).
        let known = try await ToolRunner.run(
            "/usr/bin/git", ["-C", ServiceTestSupport.repository.path, "cat-file", "-e", "\(match.1)^{commit}"])
        #expect(known.status == 0, "commit \(match.1) is not in this repository: \(known.standardError)")
    }

    /// Runs scripts/build-commit.sh with `environment` and returns the file it wrote.
    func generate(_ scope: TestScope, packageDirectory: String, environment: [String: String]) async throws -> String {
        let output = "\(scope.directory)/generated/BuildCommit.swift"
        let result = try await ToolRunner.run("/bin/sh", [Self.script, packageDirectory, output], environment: environment)
        #expect(result.status == 0, "\(result.standardError)")
        return try String(contentsOfFile: output, encoding: .utf8)
    }

    @Test("the commit file: git's hash in a checkout, 'unknown' without git or outside one, PACSGATE_COMMIT first")
    func commitWithoutGit() async throws {
        try await withTestScope { scope in
            let repository = ServiceTestSupport.repository.path
            let head = try await ToolRunner.run("/usr/bin/git", ["-C", repository, "rev-parse", "--short=12", "HEAD"])
            let withGit = try await self.generate(scope, packageDirectory: repository, environment: [:])
            #expect(withGit.contains("let buildCommit = \"\(head.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))"))
            // No git on PATH (a build machine without it): only the tools the script needs besides git.
            let bin = try scope.makeDirectory("bin")
            for tool in ["tr", "cat", "dirname", "mkdir", "mv"] {
                let path = try #require(["/usr/bin/\(tool)", "/bin/\(tool)"].first { FileManager.default.isExecutableFile(atPath: $0) })
                try FileManager.default.createSymbolicLink(atPath: "\(bin)/\(tool)", withDestinationPath: path)
            }
            let noGit = try await self.generate(scope, packageDirectory: repository, environment: ["PATH": bin])
            #expect(noGit.hasSuffix("let buildCommit = \"unknown\"\n"), "\(noGit)")
            // Not a checkout (a source tarball).
            let tarball = try scope.makeDirectory("tarball")
            let outside = try await self.generate(scope, packageDirectory: tarball, environment: ["GIT_CEILING_DIRECTORIES": scope.directory])
            #expect(outside.hasSuffix("let buildCommit = \"unknown\"\n"), "\(outside)")
            // Given by the packager; characters that would break the Swift literal are dropped.
            let given = try await self.generate(scope, packageDirectory: tarball, environment: ["PACSGATE_COMMIT": "abc123\"\\x"])
            #expect(given.hasSuffix("let buildCommit = \"abc123x\"\n"), "\(given)")
        }
    }
}

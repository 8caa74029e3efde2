import Foundation
import Testing

/// Real peers: their paths, and the check that they are installed.
package enum Peers {
    // Full paths: pynetdicom installs console scripts with the same names that shadow dcmtk's on PATH.
    package static let echoscu = "/usr/bin/echoscu"
    package static let storescu = "/usr/bin/storescu"
    package static let storescp = "/usr/bin/storescp"
    package static let findscu = "/usr/bin/findscu"
    package static let wlmscpfs = "/usr/bin/wlmscpfs"
    package static let dump2dcm = "/usr/bin/dump2dcm"
    package static let env = "/usr/bin/env"

    /// A peer that is not installed or did not do its part; the test fails with `description`.
    package struct Missing: Error, CustomStringConvertible {
        package var description: String

        package init(description: String) {
            self.description = description
        }
    }

    /// Fails the test (never skips it) when a peer is not installed; `advice` (the test scope's
    /// ``TestScope/missingPeerAdvice``) says which tests need it and how to install it.
    package static func require(_ path: String, _ advice: String) throws {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            let message = "\(path) is not installed; \(advice)"
            Issue.record(Comment(rawValue: message))
            throw Missing(description: message)
        }
    }

    /// Runs a Python script (pynetdicom, pydicom) and waits for it; fails the test when it does not exit 0.
    @discardableResult
    package static func python(
        _ script: String,
        _ arguments: [String],
        name: String,
        scope: TestScope,
        timeout: Duration = .seconds(60)
    ) async throws -> String {
        let path = "\(scope.directory)/\(name).py"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        let child = try await ChildProcess.start(
            Self.env,
            ["python3", path] + arguments,
            name: name,
            directory: scope.directory,
            scope: scope
        )
        let status = await child.waitForExit(timeout: timeout)
        guard status == 0 else {
            let message = "python3 \(name).py exited with \(status.map(String.init) ?? "timeout"):\n\(child.output)"
            Issue.record(Comment(rawValue: message))
            throw Missing(description: message)
        }
        return child.output
    }

    /// Runs a program to completion and returns its exit status and output.
    package static func run(
        _ executable: String,
        _ arguments: [String],
        name: String,
        scope: TestScope,
        timeout: Duration = .seconds(60)
    ) async throws -> (status: Int32?, output: String) {
        let child = try await ChildProcess.start(
            executable,
            arguments,
            name: name,
            directory: scope.directory,
            scope: scope
        )
        let status = await child.waitForExit(timeout: timeout)
        return (status, child.output)
    }
}

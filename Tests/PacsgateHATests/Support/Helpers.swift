import Foundation
import PacsgateTestSupport
import Logging

#if canImport(Glibc)
import Glibc
#endif

struct HATestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A fresh temporary directory.
func makeTemporaryDirectory(_ prefix: String) throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

extension LogRecorder {
    /// The HA tests' logger: its lines land here, from `.info` up.
    func haLogger() -> Logger { self.logger(label: "pacsgate-ha-test", level: .info) }
}

/// Runs external programs (the pacsgate executable, curl, ip, keepalived) on a thread of their own, so the wait does
/// not block Swift's cooperative pool.
enum ExternalTools {
    typealias Output = ToolOutput

    static func run(_ executable: String, _ arguments: [String], input: String? = nil) async throws -> Output {
        try await ToolRunner.run(executable, arguments, input: input)
    }

    /// The first of `paths` that is an executable file.
    static func tool(_ name: String, _ paths: [String]) throws -> String {
        for path in paths where FileManager.default.isExecutableFile(atPath: path) { return path }
        throw HATestFailure("\(name) not found at \(paths.joined(separator: " or ")) (scripts/install-test-deps.sh installs it)")
    }
}

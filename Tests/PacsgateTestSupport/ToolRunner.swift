import Foundation
import NIOConcurrencyHelpers

/// What a finished external program left: its exit status and everything it wrote.
public struct ToolOutput: Sendable {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String
}

/// Runs the real programs the integration tests talk to (curl, python3, openssl, ip, keepalived, xmllint, the
/// pacsgate executable), shared by the test targets so each does not carry its own copy.
public enum ToolRunner {
    /// Runs `executable` with `arguments`, feeding `input` to its standard input; `environment` adds to (or
    /// overrides) this process's environment.
    ///
    /// The wait happens on a thread of its own: blocking a thread of Swift's cooperative pool (two on a two-core
    /// machine) would starve the in-process gateway the tool is talking to.
    public static func run(
        _ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil
    ) async throws -> ToolOutput {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ToolOutput, any Error>) in
            let thread = Thread {
                continuation.resume(with: Result { try Self.runBlocking(executable, arguments, input: input, environment: environment) })
            }
            thread.start()
        }
    }

    private static func runBlocking(
        _ executable: String, _ arguments: [String], input: String?, environment: [String: String]?
    ) throws -> ToolOutput {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let output = Pipe()
        let error = Pipe()
        let stdin = Pipe()
        process.standardOutput = output
        process.standardError = error
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try? stdin.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty tool cannot fill one and block.
        let errorData = NIOLockedValueBox(Data())
        let reading = DispatchGroup()
        let errorHandle = error.fileHandleForReading
        DispatchQueue.global().async(group: reading) {
            let data = errorHandle.readDataToEndOfFile()
            errorData.withLockedValue { $0 = data }
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        reading.wait()
        return ToolOutput(
            status: process.terminationStatus, standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData.withLockedValue { $0 }, as: UTF8.self))
    }
}

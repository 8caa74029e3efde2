import Foundation
import Synchronization
import Testing
import PacsgateTestSupport

/// What one integration test starts — a temporary directory and child processes (openssl, curl, python3) — torn
/// down when the test's body ends, whether it passed, failed or threw. Every child is killed (SIGTERM, then SIGKILL)
/// and waited for; the directory is removed.
final class TestEnvironment: Sendable {
    /// A fresh temporary directory for this test.
    let directory: String
    private let children = Mutex<[Process]>([])

    private init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("pacsgate-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        self.directory = base.path
    }

    /// Runs `body` with a fresh environment and tears it down afterwards.
    static func with<T>(_ body: (TestEnvironment) async throws -> T) async throws -> T {
        let environment = try TestEnvironment()
        do {
            let result = try await body(environment)
            await environment.tearDown()
            return result
        } catch {
            await environment.tearDown()
            throw error
        }
    }

    /// `directory/name`.
    func path(_ name: String) -> String { self.directory + "/" + name }

    /// Writes `text` to `directory/name` and returns the path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let path = self.path(name)
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true
        )
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    // MARK: processes

    /// Starts `tool` in the background with stdout and stderr going to `directory/<logName>.out`.
    func launch(
        _ tool: Tool,
        _ arguments: [String],
        in workingDirectory: String? = nil,
        logName: String
    ) throws
        -> BackgroundProcess
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try tool.path())
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory ?? self.directory)
        let logPath = self.path("\(logName).out")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.children.withLock { $0.append(process) }
        return BackgroundProcess(process: process, logPath: logPath)
    }

    /// Runs `tool` to completion (killed after `timeout`), feeding `input` on stdin.
    func run(
        _ tool: Tool,
        _ arguments: [String],
        input: Data? = nil,
        timeout: Duration = .seconds(60)
    ) async throws
        -> ProcessOutput
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try tool.path())
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: self.directory)
        let stdout = Pipe()
        let stderr = Pipe()
        let stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        let exited = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { finished in
            exited.continuation.yield(finished.terminationStatus)
            exited.continuation.finish()
        }
        try process.run()
        self.children.withLock { $0.append(process) }
        // Read both pipes concurrently so a chatty child never blocks on a full pipe.
        async let out = Self.readAll(stdout.fileHandleForReading)
        async let err = Self.readAll(stderr.fileHandleForReading)
        if let input {
            stdin.fileHandleForWriting.write(input)
            try? stdin.fileHandleForWriting.close()
        }
        let killer = Task {
            try await Task.sleep(for: timeout)
            if process.isRunning { process.terminate() }
        }
        var status: Int32 = -1
        for await code in exited.stream { status = code }
        killer.cancel()
        let timedOut = process.terminationReason == .uncaughtSignal
        return ProcessOutput(
            status: status,
            stdout: await out,
            stderr: await err,
            timedOut: timedOut,
            command: ([tool.name] + arguments).joined(separator: " ")
        )
    }

    private static func readAll(_ handle: FileHandle) async -> Data {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: (try? handle.readToEnd()) ?? Data())
            }
        }
    }

    /// Kills every child still running and removes the directory.
    func tearDown() async {
        let processes = self.children.withLock { $0 }
        for process in processes where process.isRunning {
            process.terminate()
        }
        for process in processes {
            var waited = 0
            while process.isRunning, waited < 200 {
                try? await Task.sleep(for: .milliseconds(10))
                waited += 1
            }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
        try? FileManager.default.removeItem(atPath: self.directory)
    }
}

/// A child running in the background; its output goes to a log file.
struct BackgroundProcess: @unchecked Sendable {
    let process: Process
    let logPath: String

    /// The output so far.
    var output: String {
        (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
    }

    /// Waits until the output contains `text` (or the process exits); returns the output.
    func waitForOutput(containing text: String, timeout: Duration = .seconds(30)) async throws -> String {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            let output = self.output
            if output.contains(text) { return output }
            if !self.process.isRunning {
                throw TestFailure(
                    "\(self.process.executableURL?.lastPathComponent ?? "child") exited before printing '\(text)':\n\(output)"
                )
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("no '\(text)' in the output within \(timeout):\n\(self.output)")
    }
}

/// The result of a finished child process.
struct ProcessOutput: Sendable {
    var status: Int32
    var stdout: Data
    var stderr: Data
    var timedOut: Bool
    var command: String

    var out: String { String(decoding: self.stdout, as: UTF8.self) }
    var err: String { String(decoding: self.stderr, as: UTF8.self) }

    /// For assertion messages.
    var summary: String { "\(self.command)\nexit \(self.status)\nstdout:\n\(self.out)\nstderr:\n\(self.err)" }
}

/// A real peer program the tests use. A missing one fails the test with the package to install.
struct Tool: Sendable {
    let name: String
    let candidates: [String]
    let package: String

    static let openssl = Tool(name: "openssl", candidates: ["/usr/bin/openssl"], package: "apt-get install openssl")
    static let curl = Tool(name: "curl", candidates: ["/usr/bin/curl"], package: "apt-get install curl")
    /// The system Python (its `ssl` module is OpenSSL 3); pyenv shims are not used.
    static let python = Tool(name: "python3", candidates: ["/usr/bin/python3"], package: "apt-get install python3")

    func path() throws -> String {
        for candidate in self.candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw TestFailure("\(self.name) is required by this test but not installed (\(self.package))")
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}


import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real peer program (dcmtk, python3) started by a test, its stdout and stderr in one log file.
///
/// Always stopped by the test's ``TestScope`` (SIGCONT then SIGKILL, so a SIGSTOPped peer dies too).
///
/// `Sendable`: every stored property is immutable and `Sendable`.
package final class ChildProcess: Sendable {
    package let name: String
    package let logPath: String
    private let process: Process

    private init(name: String, logPath: String, process: Process) {
        self.name = name
        self.logPath = logPath
        self.process = process
    }

    /// Starts `executable` with `arguments`; output goes to `<directory>/<name>.log`. `environment` adds to (or
    /// overrides) this process's environment.
    package static func start(
        _ executable: String,
        _ arguments: [String],
        name: String,
        directory: String,
        environment: [String: String]? = nil,
        scope: TestScope
    ) async throws -> ChildProcess {
        try Peers.require(executable, scope.missingPeerAdvice)
        let logPath = "\(directory)/\(name).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
        let child = ChildProcess(name: name, logPath: logPath, process: process)
        await scope.track(child)
        return child
    }

    package var pid: Int32 { self.process.processIdentifier }
    package var isRunning: Bool { self.process.isRunning }

    /// Everything the program printed so far.
    package var output: String {
        (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
    }

    /// Waits for the program to exit; returns its status, or `nil` if it was still running after `timeout`.
    package func waitForExit(timeout: Duration = .seconds(60)) async -> Int32? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while self.process.isRunning {
            if clock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return self.process.terminationStatus
    }

    /// Sends a signal (SIGSTOP, SIGCONT, …).
    package func signal(_ signal: Int32) {
        guard self.process.isRunning else { return }
        kill(self.process.processIdentifier, signal)
    }

    /// Kills the program (continuing it first if it was stopped) and waits for it to be gone.
    package func stop() async {
        guard self.process.isRunning else { return }
        kill(self.process.processIdentifier, SIGCONT)
        kill(self.process.processIdentifier, SIGKILL)
        _ = await self.waitForExit(timeout: .seconds(10))
    }
}

import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real peer program (dcmtk, python3) started by a test, its stdout and stderr in one log file.
///
/// Always stopped by the test's ``TestScope`` (SIGCONT then SIGKILL, so a SIGSTOPped peer dies too).
final class ChildProcess: Sendable {
    let name: String
    let logPath: String
    private let process: Process

    private init(name: String, logPath: String, process: Process) {
        self.name = name
        self.logPath = logPath
        self.process = process
    }

    /// Starts `executable` with `arguments`; output goes to `<directory>/<name>.log`.
    static func start(
        _ executable: String,
        _ arguments: [String],
        name: String,
        directory: String,
        scope: TestScope
    ) async throws -> ChildProcess {
        try Peers.require(executable)
        let logPath = "\(directory)/\(name).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
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

    var pid: Int32 { self.process.processIdentifier }
    var isRunning: Bool { self.process.isRunning }

    /// Everything the program printed so far.
    var output: String {
        (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
    }

    /// Waits for the program to exit; returns its status, or `nil` if it was still running after `timeout`.
    func waitForExit(timeout: Duration = .seconds(60)) async -> Int32? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while self.process.isRunning {
            if clock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return self.process.terminationStatus
    }

    /// Sends a signal (SIGSTOP, SIGCONT, …).
    func signal(_ signal: Int32) {
        guard self.process.isRunning else { return }
        kill(self.process.processIdentifier, signal)
    }

    /// Kills the program (continuing it first if it was stopped) and waits for it to be gone.
    func stop() async {
        guard self.process.isRunning else { return }
        kill(self.process.processIdentifier, SIGCONT)
        kill(self.process.processIdentifier, SIGKILL)
        _ = await self.waitForExit(timeout: .seconds(10))
    }
}

/// Real peers: their paths, and the check that they are installed.
enum Peers {
    // Full paths: pynetdicom installs console scripts with the same names that shadow dcmtk's on PATH.
    static let echoscu = "/usr/bin/echoscu"
    static let storescu = "/usr/bin/storescu"
    static let storescp = "/usr/bin/storescp"
    static let findscu = "/usr/bin/findscu"
    static let wlmscpfs = "/usr/bin/wlmscpfs"
    static let dump2dcm = "/usr/bin/dump2dcm"
    static let env = "/usr/bin/env"

    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    /// Fails the test (never skips it) when a peer is not installed.
    static func require(_ path: String) throws {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            let message =
                "\(path) is not installed; the reliability tests need real peers "
                + "(apt-get install dcmtk; pip install hl7 pynetdicom==3.0.4 pydicom)"
            Issue.record(Comment(rawValue: message))
            throw Missing(description: message)
        }
    }

    /// Runs a Python script (pynetdicom, pydicom) and waits for it; fails the test when it does not exit 0.
    @discardableResult
    static func python(
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
    static func run(
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

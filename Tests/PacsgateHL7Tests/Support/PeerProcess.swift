import Foundation
import Testing
import PacsgateTestSupport

/// A scratch directory removed at the end of the test.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let path = NSTemporaryDirectory() + "pacsgate-hl7-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        self.path = path
    }

    func file(_ name: String) -> String { self.path + "/" + name }

    func remove() {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}

/// An external program run by a test (python-hl7's receiver or `mllp_send`); always killed by ``stop()``.
///
/// Its output goes to files (a pipe nobody drains would block a chatty child).
final class PeerProcess {
    let name: String
    private let process = Process()
    private let outputPath: String
    private let errorPath: String

    /// Starts `arguments` through `/usr/bin/env` (so PATH finds python3 and mllp_send as a shell would).
    init(_ name: String, _ arguments: [String], in directory: TemporaryDirectory) throws {
        self.name = name
        self.outputPath = directory.file("\(name).stdout")
        self.errorPath = directory.file("\(name).stderr")
        _ = FileManager.default.createFile(atPath: self.outputPath, contents: Data())
        _ = FileManager.default.createFile(atPath: self.errorPath, contents: Data())
        self.process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        self.process.arguments = arguments
        self.process.standardOutput = FileHandle(forWritingAtPath: self.outputPath)
        self.process.standardError = FileHandle(forWritingAtPath: self.errorPath)
        self.process.standardInput = FileHandle.nullDevice
        try self.process.run()
    }

    var isRunning: Bool { self.process.isRunning }
    var exitCode: Int32 { self.process.terminationStatus }

    /// Waits for the process to exit by itself (polling, so no thread is blocked), up to `timeout`.
    func waitForExit(timeout: Duration) async -> Bool {
        await eventually(timeout: timeout) { !self.process.isRunning }
    }

    /// Everything it printed so far.
    func standardOutput() -> String {
        (try? String(contentsOfFile: self.outputPath, encoding: .utf8)) ?? ""
    }

    func standardError() -> String {
        (try? String(contentsOfFile: self.errorPath, encoding: .utf8)) ?? ""
    }

    /// Kills the process (if still running) and reaps it: SIGTERM, then SIGKILL if it is still there after 5 s.
    func stop() {
        guard self.process.isRunning else { return }
        self.process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while self.process.isRunning, Date() < deadline { usleep(10_000) }
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
        self.process.waitUntilExit()
    }

    deinit {
        self.stop()
    }
}

/// python-hl7's asyncio MLLP server (Fixtures/peers/hl7_receiver.py) as a Mach7 HL7 node: keeps connections
/// open, answers every message with `create_ack()`, records every byte it receives.
final class HL7Receiver {
    let port: Int
    let received: String
    let muteFile: String
    private let process: PeerProcess

    private init(port: Int, received: String, muteFile: String, process: PeerProcess) {
        self.port = port
        self.received = received
        self.muteFile = muteFile
        self.process = process
    }

    /// Starts a receiver; fails the test (not skips) when python3 or python-hl7 is missing.
    static func start(
        in directory: TemporaryDirectory,
        name: String = "receiver",
        aeEvery: Int = 0
    ) async throws
        -> HL7Receiver
    {
        let script = try Fixture.path("peers", "hl7_receiver.py")
        let portFile = directory.file("\(name).port")
        let received = directory.file("\(name).received")
        let muteFile = directory.file("\(name).mute")
        let process = try PeerProcess(
            name,
            [
                "python3", script, "--port-file", portFile, "--out", received, "--ae-every", String(aeEvery),
                "--mute-file", muteFile,
            ],
            in: directory
        )
        let ready = await eventually(timeout: .seconds(30)) {
            FileManager.default.fileExists(atPath: portFile) || !process.isRunning
        }
        guard ready, let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) else {
            process.stop()
            let why = process.standardError()
            throw PeerFailure(
                "python-hl7 receiver did not start (needs python3 and `pip install hl7`): \(why.suffix(2000))"
            )
        }
        return HL7Receiver(port: port, received: received, muteFile: muteFile, process: process)
    }

    /// Every byte it received so far, on all connections.
    func receivedBytes() -> [UInt8] {
        (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: self.received)))) ?? []
    }

    /// While muted it reads messages but answers none (a hung HL7 listener).
    func mute(_ muted: Bool) {
        if muted {
            _ = FileManager.default.createFile(atPath: self.muteFile, contents: Data())
        } else {
            try? FileManager.default.removeItem(atPath: self.muteFile)
        }
    }

    func stop() {
        self.process.stop()
    }
}

/// python-hl7's `mllp_send` command line client.
enum MLLPSend {
    /// Sends every frame in `file` over one connection to `port`, waiting for each ACK; returns stdout.
    static func run(
        file: String,
        port: Int,
        in directory: TemporaryDirectory,
        timeout: Duration = .seconds(300)
    ) async throws -> String {
        let process: PeerProcess
        do {
            process = try PeerProcess(
                "mllp_send",
                ["mllp_send", "-p", String(port), "-f", file, "127.0.0.1"],
                in: directory
            )
        } catch {
            throw PeerFailure("cannot run mllp_send (`pip install hl7`): \(error)")
        }
        defer { process.stop() }
        guard await process.waitForExit(timeout: timeout) else {
            throw PeerFailure("mllp_send did not finish within \(timeout)")
        }
        guard process.exitCode == 0 else {
            throw PeerFailure(
                "mllp_send exited with \(process.exitCode) (127: not installed; `pip install hl7`): "
                    + process.standardError().suffix(2000)
            )
        }
        return process.standardOutput()
    }
}

struct PeerFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}


import Foundation
import PacsgateTestSupport
import Testing

@testable import PacsgateHA

/// The files pacsgate writes for keepalived (track, handover): a failure to write one is an operator's problem at
/// 3 a.m. — keepalived no longer learns what pacsgate says — so it is logged clearly, once, and so is the recovery.
@Suite("HA keepalived files")
struct KeepalivedFileTests {
    /// Writes `content` three times to a path whose directory does not exist, then once more after it appears: one
    /// error naming the file and the path, then the recovery. Returns the path (the directory exists now).
    static func failsThenRecovers(_ file: KeepalivedFile, _ content: String, in directory: URL, name: String) throws -> String {
        let log = LogRecorder()
        let logger = log.haLogger()
        let path = directory.appendingPathComponent("no-such-directory/\(name)").path
        for _ in 0..<3 { file.write(content, to: path, logger: logger) }
        let errors = log.rendered.filter { $0.hasPrefix("error") }
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.contains("HA cannot write \(file.what)") == true && errors.first?.contains(path) == true, "\(errors)")
        // The directory appears (the operator fixed it): the next write goes through and says so.
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("no-such-directory"), withIntermediateDirectories: true)
        file.write(content, to: path, logger: logger)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == content)
        #expect(log.rendered.contains { $0.contains("HA writes \(file.what) again") })
        return path
    }

    @Test("a track file that cannot be written is logged at error once with its path, retried, and its recovery logged")
    func failureLogged() throws {
        let directory = try makeTemporaryDirectory("pacsgate-keepalived-file")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = KeepalivedFile("the VRRP track file")
        let path = try Self.failsThenRecovers(file, "-254\n", in: directory, name: "vrrp-track")
        // Unchanged content is not rewritten; a repair rewrites what something else changed.
        let logger = LogRecorder().haLogger()
        try "0\n".write(toFile: path, atomically: true, encoding: .utf8)
        file.write("-254\n", to: path, logger: logger)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "0\n")
        file.write("-254\n", to: path, repair: true, logger: logger)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "-254\n")
    }

    @Test("the health file is rewritten at every call; a failure to write it is logged at error once with its path, and its recovery")
    func healthFileFailureLogged() throws {
        let directory = try makeTemporaryDirectory("pacsgate-health-file")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = KeepalivedFile("the HA health file", everyCall: true)
        let path = try Self.failsThenRecovers(file, "ok\n", in: directory, name: "ha-health")
        // The same content is written again (its age is what keepalived's check reads), and nothing is left beside it.
        try "stale\n".write(toFile: path, atomically: true, encoding: .utf8)
        file.write("ok\n", to: path, logger: LogRecorder().haLogger())
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "ok\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("no-such-directory").path) == ["ha-health"])
    }
}

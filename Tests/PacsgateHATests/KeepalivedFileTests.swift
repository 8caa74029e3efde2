import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import PacsgateHA

/// The files pacsgate writes for keepalived (track, handover): a failure to write one is an operator's problem at
/// 3 a.m. — keepalived no longer learns what pacsgate says — so it is logged clearly, once, and so is the recovery.
@Suite("HA keepalived files")
struct KeepalivedFileTests {
    @Test("a track file that cannot be written is logged at error once with its path, retried, and its recovery logged")
    func failureLogged() throws {
        let directory = try makeTemporaryDirectory("pacsgate-keepalived-file")
        defer { try? FileManager.default.removeItem(at: directory) }
        let lines = NIOLockedValueBox<[String]>([])
        let logger = capturingLogger(lines)
        let file = KeepalivedFile("the VRRP track file")
        let missing = directory.appendingPathComponent("no-such-directory/vrrp-track").path
        file.write("100\n", to: missing, logger: logger)
        file.write("100\n", to: missing, logger: logger)
        file.write("-254\n", to: missing, logger: logger)
        let errors = lines.withLockedValue { $0 }.filter { $0.hasPrefix("error") }
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.contains("HA cannot write the VRRP track file") == true && errors.first?.contains(missing) == true)
        // The directory appears (the operator fixed it): the next write goes through and says so.
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("no-such-directory"), withIntermediateDirectories: true)
        file.write("-254\n", to: missing, logger: logger)
        #expect(try String(contentsOfFile: missing, encoding: .utf8) == "-254\n")
        #expect(lines.withLockedValue { $0 }.contains { $0.contains("HA writes the VRRP track file again") })
        // Unchanged content is not rewritten; a repair rewrites what something else changed.
        try "0\n".write(toFile: missing, atomically: true, encoding: .utf8)
        file.write("-254\n", to: missing, logger: logger)
        #expect(try String(contentsOfFile: missing, encoding: .utf8) == "0\n")
        file.write("-254\n", to: missing, repair: true, logger: logger)
        #expect(try String(contentsOfFile: missing, encoding: .utf8) == "-254\n")
    }
}

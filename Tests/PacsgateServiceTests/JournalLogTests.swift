import Foundation
import Logging
import NIOConcurrencyHelpers
import PacsgateTestSupport
import Testing
@testable import PacsgateApp

/// Log lines under journald: the level as the `<N>` syslog priority journald reads, and no timestamp of our own.
@Suite("journald log lines", .timeLimit(.minutes(2)))
struct JournalLogTests {
    @Test("each level carries its syslog priority; the rest of the line is the plain format without the timestamp")
    func priorityPrefix() {
        let lines = NIOLockedValueBox<[String]>([])
        var handler = EscapingLogHandler(label: "pacsgate", lineStart: .syslogPriority) { line in lines.withLockedValue { $0.append(line) } }
        handler.logLevel = .trace
        let logger = Logger(label: "pacsgate") { _ in handler }
        logger.trace("t")
        logger.debug("d")
        logger.info("i", metadata: ["service": "DICOM"])
        logger.notice("n")
        logger.warning("w")
        logger.error("e")
        logger.critical("c\nforged line")
        let written = lines.withLockedValue { $0 }
        #expect(written.map { String($0.prefix(3)) } == ["<7>", "<7>", "<6>", "<5>", "<4>", "<3>", "<2>"])
        #expect(written[2].hasPrefix("<6>info pacsgate: service=DICOM ["), "\(written[2])")
        // Still one line per record: journald would otherwise take the rest for a new entry at the default priority.
        #expect(written.allSatisfy { $0.filter { $0 == "\n" }.count == 1 })
    }

    /// Starts `pacsgate run` through `sh`, which sets `JOURNAL_STREAM` as systemd does for a service whose standard
    /// error is the journal: the device and inode of the stream (here: the log file the test reads), or those of
    /// another file (a child whose output was redirected inherits the variable, not the stream).
    func runThroughShell(_ scope: TestScope, journalStream: String, extra: [String] = []) async throws -> String {
        let port = try Ports.free()
        let config = "\(scope.directory)/pacsgate.yaml"
        try """
            services:
              - label: ECHO
                listen: "127.0.0.1:\(port)"
                servers: [ { label: B1, address: "127.0.0.1:9" } ]
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let binary = try GatewayUnderTest.executable
        let script = "config=$1; shift; JOURNAL_STREAM=\(journalStream) exec \"$0\" run --config \"$config\" \"$@\""
        // READY=1 says the gateway handles SIGTERM (its signal handlers are in place).
        let receiver = try NotifyReceiver(path: "\(scope.directory)/notify-\(UUID().uuidString.prefix(8)).sock")
        let gateway = try await ChildProcess.start(
            "/bin/sh", ["-c", script, binary, config] + extra, name: "pacsgate", directory: scope.directory,
            environment: ["NOTIFY_SOCKET": receiver.address], scope: scope)
        #expect(await receiver.next(where: { $0["READY"] == "1" }) != nil, "\(gateway.output)")
        gateway.signal(SIGTERM)
        #expect(await gateway.waitForExit(timeout: .seconds(60)) == 0, "\(gateway.output)")
        return gateway.output
    }

    @Test("JOURNAL_STREAM naming standard error: priority prefix, no timestamp")
    func journalStreamDetected() async throws {
        try await withTestScope { scope in
            let output = try await self.runThroughShell(scope, journalStream: "$(stat -L -c %d:%i /proc/self/fd/2)")
            let lines = output.split(separator: "\n")
            #expect(lines.contains { $0.hasPrefix("<5>notice pacsgate: ") && $0.contains(" listen=127.0.0.1:") && $0.hasSuffix("service listening") }, "\(output)")
            #expect(lines.allSatisfy { $0.first == "<" }, "\(output)")
            #expect(!lines.contains { $0.contains(try! Regex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:")) }, "\(output)")
        }
    }

    @Test("JOURNAL_STREAM inherited but standard error elsewhere: the plain timestamped format")
    func journalStreamOfAnotherFile() async throws {
        try await withTestScope { scope in
            let output = try await self.runThroughShell(scope, journalStream: "$(stat -L -c %d:%i /dev/null)")
            let lines = output.split(separator: "\n")
            #expect(!lines.isEmpty && lines.allSatisfy { $0.first?.isNumber == true }, "\(output)")
        }
    }

    @Test("--log-format journal without journald; --log-format plain under it")
    func explicitFormat() async throws {
        try await withTestScope { scope in
            let journal = try await self.runThroughShell(scope, journalStream: "", extra: ["--log-format", "journal"])
            #expect(journal.split(separator: "\n").allSatisfy { $0.first == "<" }, "\(journal)")
            let plain = try await self.runThroughShell(
                scope, journalStream: "$(stat -L -c %d:%i /proc/self/fd/2)", extra: ["--log-format", "plain"])
            #expect(plain.split(separator: "\n").allSatisfy { $0.first?.isNumber == true }, "\(plain)")
        }
    }
}

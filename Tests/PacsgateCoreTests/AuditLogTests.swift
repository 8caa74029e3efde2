import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PacsgateTestSupport
import Testing

@testable import PacsgateCore

/// The audit log against real files in a fresh temporary directory each test.
@Suite final class AuditLogTests: Sendable {
    private let directory: URL
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    init() throws {
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "pacsgate-audit-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: false)
    }

    deinit {
        try? self.group.syncShutdownGracefully()
        try? FileManager.default.removeItem(at: self.directory)
    }

    private var path: String { self.directory.appendingPathComponent("audit.jsonl").path }

    private func makeLog(_ configuration: AuditConfiguration) -> AuditLog {
        AuditLog(
            configuration: configuration,
            logger: Logger(label: "pacsgate.test.audit", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }

    private func record(_ event: AuditEvent, _ number: Int, padding: Int = 0) -> AuditRecord {
        var line = AuditLog.record(event: event, time: WallClock.Instant(millisecondsSinceEpoch: 1_764_100_862_345))
        line.field("n", number)
        if padding > 0 { line.field("pad", String(repeating: "x", count: padding)) }
        return line
    }

    private func contents(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    private func expectFile(
        _ path: String,
        _ expected: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let actual = try contents(path)
        #expect(actual == expected, sourceLocation: sourceLocation)
    }

    private func lines(_ records: [AuditRecord]) -> String {
        records.map { $0.text + "\n" }.joined()
    }

    @Test func recordStartsWithTimeAndEvent() {
        let line = AuditLog.record(event: "connect", time: WallClock.Instant(millisecondsSinceEpoch: 1_764_100_862_345))
        #expect(line.text == #"{"time":"2025-11-25T20:01:02.345Z","event":"connect"}"#)
    }

    @Test func recordsAreWrittenAsLinesInOrder() async throws {
        let log = makeLog(AuditConfiguration(path: self.path))
        try log.start()
        let loop = self.group.next()
        let records = (0..<5).map { record($0 % 2 == 0 ? "connect" : "close", $0) }
        for (index, record) in records.enumerated() {
            try await log.write(record, on: loop).get()
            // Acknowledged means: in the file.
            try expectFile(self.path, lines(Array(records[...index])))
        }
        #expect(log.writtenCount == 5)
        #expect(log.status == .ok)
        // Without waiting, in bulk: still whole lines, in order.
        let more = (5..<50).map { record("connect", $0) }
        let futures = more.map { log.write($0, on: loop) }
        try await EventLoopFuture.andAllSucceed(futures, on: loop).get()
        try expectFile(self.path, lines(records + more))
        await log.shutdown()
        #expect(log.writtenCount == 50)
    }

    @Test func fireAndForgetAndAsyncWritesAreFlushedByShutdown() async throws {
        let log = makeLog(AuditConfiguration(path: self.path, fsync: .interval, fsyncInterval: .seconds(60)))
        try log.start()
        try await log.writeAndWait(record("connect", 1))
        log.write(record("connect", 2))
        log.write(record("close", 3))
        await log.shutdown()
        try expectFile(self.path, lines([record("connect", 1), record("connect", 2), record("close", 3)]))
    }

    @Test func writtenWaitsForEveryEarlierRecordAndIsNotCounted() async throws {
        let log = makeLog(AuditConfiguration(path: self.path))
        try log.start()
        let loop = self.group.next()
        let records = (0..<300).map { record("hl7.message", $0) }
        for record in records { log.write(record) }
        try await log.written(on: loop).get()
        // Acknowledged means: every record appended before it is in the file.
        try expectFile(self.path, lines(records))
        #expect(log.writtenCount == 300)
        // With nothing pending it still succeeds, and a barrier is never a line of its own.
        try await log.written(on: loop).get()
        #expect(log.writtenCount == 300)
        #expect(log.recent(limit: 1000).count == 300)
        await log.shutdown()
        try expectFile(self.path, lines(records))
        let error = await #expect(throws: AuditLog.NotWritten.self) { try await log.written(on: loop).get() }
        #expect(error?.reason == "the audit log is stopped")
    }

    @Test func writeAfterShutdownFails() async throws {
        let log = makeLog(AuditConfiguration(path: self.path))
        try log.start()
        await log.shutdown()
        let error = await #expect(throws: AuditLog.NotWritten.self) {
            try await log.write(record("connect", 1), on: self.group.next()).get()
        }
        #expect(error?.reason == "the audit log is stopped")
        #expect(error?.description == "audit record not durably written: the audit log is stopped")
        #expect(log.recent(limit: 10).isEmpty)
        // The fire-and-forget and async forms are refused the same way.
        log.write(record("connect", 2))
        let asyncError = await #expect(throws: AuditLog.NotWritten.self) {
            try await log.writeAndWait(record("connect", 3))
        }
        #expect(asyncError?.reason == "the audit log is stopped")
        #expect(log.recent(limit: 10).isEmpty)
        #expect(log.writtenCount == 0)
        try expectFile(self.path, "")
    }

    @Test(.timeLimit(.minutes(1)))
    func shutdownWithoutStartReturns() async throws {
        let log = makeLog(AuditConfiguration(path: self.path))
        await log.shutdown()
        // Shutting down again is harmless too.
        await log.shutdown()
        #expect(log.status == .ok)
        #expect(log.writtenCount == 0)
        // Stopped before it started: nothing is accepted and no file is created.
        let error = await #expect(throws: AuditLog.NotWritten.self) {
            try await log.write(record("connect", 1), on: self.group.next()).get()
        }
        #expect(error?.reason == "the audit log is stopped")
        #expect(!FileManager.default.fileExists(atPath: self.path))
    }

    @Test func existingFileIsAppendedTo() async throws {
        let earlier = #"{"event":"earlier"}"# + "\n"
        try earlier.write(toFile: self.path, atomically: false, encoding: .utf8)
        let log = makeLog(AuditConfiguration(path: self.path))
        try log.start()
        try await log.write(record("connect", 1), on: self.group.next()).get()
        await log.shutdown()
        try expectFile(self.path, earlier + lines([record("connect", 1)]))
    }

    @Test func recentFiltersByEventAndLimit() async throws {
        let log = makeLog(AuditConfiguration(path: self.path))
        try log.start()
        let loop = self.group.next()
        let records = [record("connect", 1), record("reject", 2), record("connect", 3), record("close", 4)]
        for record in records { try await log.write(record, on: loop).get() }
        #expect(log.recent(limit: 10) == records.map(\.text))
        #expect(log.recent(limit: 2) == [records[2].text, records[3].text])
        #expect(log.recent(limit: 10, event: "connect") == [records[0].text, records[2].text])
        #expect(log.recent(limit: 1, event: "connect") == [records[2].text])
        #expect(log.recent(limit: 10, event: "reject") == [records[1].text])
        #expect(log.recent(limit: 10, event: "nothing").isEmpty)
        #expect(log.recent(limit: 0).isEmpty)
        #expect(log.recent(limit: -1).isEmpty)
        await log.shutdown()
    }

    @Test func recentKeepsTheLast1000InOrder() async throws {
        let log = makeLog(AuditConfiguration(path: nil))
        try log.start()
        let loop = self.group.next()
        let futures = (0..<1005).map { log.write(record("connect", $0), on: loop) }
        try await EventLoopFuture.andAllSucceed(futures, on: loop).get()
        let recent = log.recent(limit: 5000)
        #expect(recent.count == 1000)
        #expect(recent.first == record("connect", 5).text)
        #expect(recent.last == record("connect", 1004).text)
        #expect(log.recent(limit: 3) == (1002..<1005).map { record("connect", $0).text })
        await log.shutdown()
    }

    @Test func memoryOnlyLogWritesNoFile() async throws {
        let log = makeLog(AuditConfiguration(path: nil))
        try log.start()
        try await log.write(record("connect", 1), on: self.group.next()).get()
        #expect(log.recent(limit: 10) == [record("connect", 1).text])
        #expect(log.writtenCount == 0)
        #expect(log.status == .ok)
        await log.shutdown()
        #expect(try FileManager.default.contentsOfDirectory(atPath: self.directory.path).isEmpty)
    }

    @Test func rotatesAtMaxBytesKeepingNFiles() async throws {
        // Each line is 100 bytes; the file is rotated once it reaches 150, i.e. after every second record.
        let sample = record("connect", 0, padding: 1)
        let padding = 100 - sample.line.count + 1
        let records = (1...7).map { record("connect", $0, padding: padding) }
        #expect(records.allSatisfy { $0.line.count == 100 })

        let log = makeLog(AuditConfiguration(path: self.path, maxBytes: 150, keep: 2))
        try log.start()
        for record in records { try await log.write(record, on: self.group.next()).get() }
        await log.shutdown()

        try expectFile(self.path, lines([records[6]]))
        try expectFile(self.path + ".1", lines([records[4], records[5]]))
        try expectFile(self.path + ".2", lines([records[2], records[3]]))
        #expect(!FileManager.default.fileExists(atPath: self.path + ".3"), "records 1 and 2 rotated out")
        #expect(log.writtenCount == 7)
    }

    @Test func rotationWithKeepZeroDeletesTheFile() async throws {
        let records = (1...3).map { record("connect", $0, padding: 40) }
        let log = makeLog(AuditConfiguration(path: self.path, maxBytes: records[0].line.count, keep: 0))
        try log.start()
        for record in records { try await log.write(record, on: self.group.next()).get() }
        await log.shutdown()
        try expectFile(self.path, "")
        #expect(try FileManager.default.contentsOfDirectory(atPath: self.directory.path) == ["audit.jsonl"])
    }

    @Test func tornLastLineIsCutOnStart() async throws {
        let whole = #"{"event":"a","n":1}"# + "\n" + #"{"event":"b","n":2}"# + "\n"
        try (whole + #"{"event":"c","n"#).write(toFile: self.path, atomically: false, encoding: .utf8)
        let log = makeLog(AuditConfiguration(path: self.path))
        try log.start()
        try await log.write(record("connect", 3), on: self.group.next()).get()
        await log.shutdown()
        try expectFile(self.path, whole + lines([record("connect", 3)]))
    }

    @Test func tornTailLongerThanOneReadIsCut() async throws {
        let whole = #"{"event":"a"}"# + "\n"
        try (whole + String(repeating: "z", count: 10_000)).write(toFile: self.path, atomically: false, encoding: .utf8)
        let log = makeLog(AuditConfiguration(path: self.path))
        try log.start()
        await log.shutdown()
        try expectFile(self.path, whole)
    }

    @Test func tornTailLongerThanOneReadWithNoNewlineEmptiesTheFile() async throws {
        try String(repeating: "z", count: 10_000).write(toFile: self.path, atomically: false, encoding: .utf8)
        let log = makeLog(AuditConfiguration(path: self.path))
        try log.start()
        try await log.write(record("connect", 1), on: self.group.next()).get()
        await log.shutdown()
        try expectFile(self.path, lines([record("connect", 1)]))
    }

    @Test func fileWithOnlyATornLineIsEmptied() async throws {
        try "{\"event\":".write(toFile: self.path, atomically: false, encoding: .utf8)
        let log = makeLog(AuditConfiguration(path: self.path))
        try log.start()
        await log.shutdown()
        try expectFile(self.path, "")
    }

    @Test func unwritablePathFailsStart() async throws {
        let missing = self.directory.appendingPathComponent("no-such-dir/audit.jsonl").path
        let log = makeLog(AuditConfiguration(path: missing))
        let error = #expect(throws: IOError.self) { try log.start() }
        #expect(error?.errnoCode == ENOENT)
        #expect(
            error?.description.hasPrefix("open \(missing): No such file or directory") == true,
            "\(String(describing: error))"
        )

        let directoryLog = makeLog(AuditConfiguration(path: self.directory.path))
        let isDirectory = #expect(throws: IOError.self) { try directoryLog.start() }
        #expect(isDirectory?.errnoCode == EISDIR)
    }

    @Test func failingFileBuffersRecordsAndWritesThemOnceItRecovers() async throws {
        // The path first leads to /dev/full (every write fails with ENOSPC); removing the link lets the writer
        // reopen it as a regular file.
        try FileManager.default.createSymbolicLink(atPath: self.path, withDestinationPath: "/dev/full")
        let log = makeLog(AuditConfiguration(path: self.path))
        try log.start()
        let loop = self.group.next()

        let error = await #expect(throws: AuditLog.NotWritten.self) {
            try await log.write(record("connect", 1), on: loop).get()
        }
        guard case .failing(let reason, let buffered) = log.status else {
            Issue.record("status is \(log.status)")
            return
        }
        #expect(reason.hasPrefix("write \(self.path): No space left on device"), "\(reason)")
        #expect(buffered == 1)
        #expect(error?.reason == "buffered in memory: \(reason)")
        #expect(error?.description == "audit record not durably written: buffered in memory: \(reason)")
        #expect(log.writtenCount == 0)

        // Still failing: the second record waits behind the first.
        let second = await #expect(throws: AuditLog.NotWritten.self) {
            try await log.write(record("connect", 2), on: loop).get()
        }
        #expect(second?.reason == "buffered in memory: \(reason)")
        #expect(log.status == .failing(reason: reason, buffered: 2))

        try FileManager.default.removeItem(atPath: self.path)
        try await log.write(record("connect", 3), on: loop).get()
        #expect(log.status == .ok)
        #expect(log.writtenCount == 3)
        await log.shutdown()
        try expectFile(self.path, lines([record("connect", 1), record("connect", 2), record("connect", 3)]))
    }

    @Test func atBufferRecordsTheLogStopsAcceptingAndDropsNothing() async throws {
        try FileManager.default.createSymbolicLink(atPath: self.path, withDestinationPath: "/dev/full")
        let log = makeLog(AuditConfiguration(path: self.path, bufferRecords: 4))
        try log.start()
        let loop = self.group.next()
        let resumed = NIOLockedValueBox(0)
        for index in 1...3 { _ = try? await log.write(record("connect", index), on: loop).get() }
        #expect(log.isAccepting, "3 of 4 records waiting")
        log.whenAccepting { resumed.withLockedValue { $0 += 1 } }
        #expect(resumed.withLockedValue { $0 } == 1, "called at once while accepting")

        // The fourth record reaches the bound: the engines stop reading clients and accepting connections.
        _ = try? await log.write(record("connect", 4), on: loop).get()
        #expect(!log.isAccepting)
        #expect(log.waitingRecords == 4)
        log.whenAccepting { resumed.withLockedValue { $0 += 1 } }
        // Work already under way still ends and is recorded: those records are kept, never dropped.
        for index in 5...8 { _ = try? await log.write(record("connect", index), on: loop).get() }
        guard case .failing(let reason, let buffered) = log.status else {
            Issue.record("status is \(log.status)")
            return
        }
        #expect(buffered == 8)
        #expect(!log.isAccepting)
        #expect(resumed.withLockedValue { $0 } == 1)

        try FileManager.default.removeItem(atPath: self.path)
        try await log.write(record("connect", 9), on: loop).get()
        #expect(log.status == .ok, "\(reason)")
        #expect(log.isAccepting)
        #expect(log.waitingRecords == 0)
        #expect(resumed.withLockedValue { $0 } == 2, "the waiting engine was called back")
        await log.shutdown()
        try expectFile(self.path, lines((1...9).map { record("connect", $0) }))
    }

    /// The path is a FIFO nobody reads: once its 64 KiB are full, `write` blocks — a disk that hangs rather than
    /// fails. The log stops accepting at `buffer_records`, reports the stall, and loses nothing once it moves.
    @Test(.timeLimit(.minutes(1)))
    func aStalledDiskStopsAcceptingReportsTheStallAndLosesNothing() async throws {
        #expect(mkfifo(self.path, 0o600) == 0)
        let log = AuditLog(
            configuration: AuditConfiguration(path: self.path, bufferRecords: 100), logger: Logger(label: "test"),
            stallThreshold: .milliseconds(500))
        try log.start()
        let records = (1...300).map { record("connect", $0, padding: 1000) }
        for line in records { log.write(line) }
        #expect(await eventually(timeout: .seconds(10)) { !log.isAccepting })
        #expect(await eventually(timeout: .seconds(10)) { log.status != .ok })
        if case .failing(let reason, _) = log.status {
            #expect(reason.contains("has not finished for"), "\(reason)")
        }
        // Everything that arrived is still held: nothing was dropped.
        #expect(log.waitingRecords > 100)

        // The disk moves again: read the FIFO until every record has come through.
        let reader = open(self.path, O_RDONLY | O_NONBLOCK)
        #expect(reader >= 0)
        defer { close(reader) }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        let expected = records.reduce(0) { $0 + $1.line.count }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(20)
        while received.count < expected, clock.now < deadline {
            let count = chunk.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
            if count > 0 { received += chunk[0..<count] } else { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(String(decoding: received, as: UTF8.self) == lines(records))
        #expect(await eventually(timeout: .seconds(10)) { log.isAccepting && log.status == .ok })
        await log.shutdown()
    }

    /// A write cut short by the file-size limit (RLIMIT_FSIZE, lowered for the test's process) leaves whole
    /// records and a torn one in the file: the whole ones must not be written again, the torn one must be cut
    /// and written again whole. The limit is set just past a 64 MiB sparse prefix so no other file of the test
    /// process can reach it.
    @Test(.timeLimit(.minutes(1)))
    func partiallyWrittenBatchAppearsExactlyOnceInOrderAfterRecovery() async throws {
        let prefix = 64 << 20
        let creator = try FileHandle(forWritingTo: URL(fileURLWithPath: self.path, isDirectory: false).creating())
        try creator.truncate(atOffset: UInt64(prefix - 1))
        try creator.seekToEnd()
        try creator.write(contentsOf: Data("\n".utf8))
        try creator.close()

        let records = (1...6).map { record("connect", $0, padding: 40) }
        let size = records[0].line.count
        #expect(records.allSatisfy { $0.line.count == size })

        // Room for the first record and half of the second.
        let log = makeLog(AuditConfiguration(path: self.path))
        let loop = self.group.next()
        do {
            let limit = try FileSizeLimit(UInt64(prefix + size + size / 2))
            defer { limit.restore() }
            // Queued before the writer runs, so its first attempt writes records 1–3 in one go.
            let futures = records[0..<3].map { log.write($0, on: loop) }
            try log.start()
            var reasons: [String] = []
            for future in futures {
                let error = await #expect(throws: AuditLog.NotWritten.self) { try await future.get() }
                reasons.append(error?.reason ?? "")
            }
            guard case .failing(let reason, let buffered) = log.status else {
                Issue.record("status is \(log.status)")
                await log.shutdown()
                return
            }
            #expect(reason.hasPrefix("write \(self.path): File too large"), "\(reason)")
            #expect(buffered == 2)
            #expect(
                reasons == [
                    "written but not synced: \(reason)",
                    "buffered in memory: \(reason)",
                    "buffered in memory: \(reason)",
                ]
            )
            #expect(log.writtenCount == 1)
            // The next record is refused while the limit holds (the torn second record is cut and cut again).
            let fourth = await #expect(throws: AuditLog.NotWritten.self) {
                try await log.write(records[3], on: loop).get()
            }
            #expect(fourth?.reason == "buffered in memory: \(reason)")
            #expect(log.status == .failing(reason: reason, buffered: 3))
        }

        try await log.write(records[4], on: loop).get()
        #expect(log.status == .ok)
        #expect(log.writtenCount == 5)
        try await log.write(records[5], on: loop).get()
        await log.shutdown()
        #expect(log.writtenCount == 6)

        let reader = try FileHandle(forReadingFrom: URL(fileURLWithPath: self.path, isDirectory: false))
        defer { try? reader.close() }
        try reader.seek(toOffset: UInt64(prefix))
        let tail = String(decoding: try reader.readToEnd() ?? Data(), as: UTF8.self)
        #expect(tail == lines(records))
    }
}

/// Lowers this process's soft RLIMIT_FSIZE (ignoring SIGXFSZ, so writes past it fail with EFBIG instead of killing
/// the process) until ``restore()``.
private struct FileSizeLimit {
    private let saved: rlimit
    private let savedHandler: __sighandler_t?

    init(_ bytes: UInt64) throws {
        var current = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &current) == 0 else {
            throw POSIXError(.init(rawValue: errno) ?? .EINVAL)
        }
        self.saved = current
        self.savedHandler = signal(SIGXFSZ, SIG_IGN)
        var lowered = current
        lowered.rlim_cur = rlim_t(bytes)
        guard setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &lowered) == 0 else {
            let code = errno
            signal(SIGXFSZ, self.savedHandler)
            throw POSIXError(.init(rawValue: code) ?? .EINVAL)
        }
    }

    func restore() {
        var saved = self.saved
        setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &saved)
        signal(SIGXFSZ, self.savedHandler)
    }
}

extension URL {
    /// Creates an empty file at this URL and returns the URL.
    fileprivate func creating() throws -> URL {
        guard FileManager.default.createFile(atPath: self.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown)
        }
        return self
    }
}

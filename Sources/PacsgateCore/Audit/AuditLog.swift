import Atomics
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOPosix

import Glibc

/// The audit log: one JSON object per line, appended by a dedicated writer thread.
///
/// Records are acknowledged (the returned future succeeds) only once they are in the file — and, with
/// `fsync: every`, on disk — so a connection is released only after its record is durable. Writes are whole lines;
/// a line torn by a crash or a full disk is cut off when the log is opened again. When the file cannot be written
/// the log raises an alarm, keeps the records in memory and writes them, in order, once it can. The most recent
/// records are also kept in memory for the admin API.
///
/// **Nothing is dropped; memory is bounded by backpressure.** While `buffer_records` records wait to be written (a
/// full, failing, slow or stalled disk) the log stops *accepting*: ``isAccepting`` turns false and the forwarding
/// engines stop reading their clients and accepting connections until it turns true again (at three quarters of
/// the bound). Records still arrive from work already under way (a connection that ends, a timeout) and are kept —
/// that inflow is bounded by the open connections. The contract for an engine is two calls: consult
/// ``isAccepting`` before reading a client or accepting a connection, and when it is false, register with
/// ``whenAccepting(_:)`` and wait to be called.
///
/// Refused connections are recorded in full up to `refused_records` per client address and `refused_interval`;
/// beyond, one `connection.refused.aggregate` record per client and interval counts them (``admitRefusal(client:service:event:)``).
public final class AuditLog: Sendable {
    /// Health of the log, for the overview banner and metrics.
    public enum Status: Sendable, Equatable {
        case ok
        /// The file cannot be written, or a write has not finished for 10 s; `buffered` records wait in memory.
        case failing(reason: String, buffered: Int)
    }

    /// A write (with its sync) that has not returned for this long makes ``status`` report the log as failing.
    let stallThreshold: TimeAmount

    /// Failure delivered to writers whose record could not be written yet (it stays buffered).
    public struct NotWritten: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { "audit record not durably written: \(reason)" }
    }

    fileprivate typealias Completion = @Sendable (Result<Void, any Error>) -> Void

    /// Receives every record the log accepts, typed: its ``AuditRecord/event``, its ``AuditRecord/payload`` when it
    /// has one, its JSON text on demand (``AuditRecord/text``). Called by the thread that wrote the record (often an
    /// event loop), outside the log's lock: take what you need, hand it to a queue and return.
    public typealias Observer = @Sendable (_ record: AuditRecord) -> Void

    /// Receives, on the writer's thread, where each record went once it is in the file (the audit search index):
    /// hand them to a queue and return.
    public typealias PlacementObserver = @Sendable (_ placed: AuditPlacement) -> Void

    /// A record in the queue.
    fileprivate final class RecordBox: Sendable {
        let record: AuditRecord

        init(_ record: AuditRecord) {
            self.record = record
        }
    }

    fileprivate struct Pending {
        /// The line with its newline; empty for a barrier (``written(on:)``), which only waits for the records
        /// before it.
        var bytes: [UInt8]
        var completion: Completion?
        /// The record (`nil` for a barrier): its search fields go to the placement observers once it is written.
        /// Boxed, so the queue and the writer's backlog move one reference per record, not the record's fields.
        var box: RecordBox?
        var record: AuditRecord? { self.box?.record }
        /// Set for ``writeOrWithdraw(_:)``: the record is published (recent records, observers) only once it is
        /// written; if the write fails it is withdrawn instead of buffered.
        var withdrawable = false

        var isRecord: Bool { !self.bytes.isEmpty }
    }

    private struct Shared {
        var queue: [Pending] = []
        var started = false
        var stopping = false
        var finished = false
        var finishWaiters: [CheckedContinuation<Void, Never>] = []
        var status: Status = .ok
        /// The writer waits for a wake-up: the next record must signal it. While it is busy (or gathering a
        /// burst) records are only queued, so a burst costs one wake-up instead of one per record.
        var writerIdle = false
        /// Kept as bytes (shared with the queue, not copied) and decoded only when the admin API asks.
        var recent: [(event: AuditEvent, line: [UInt8])] = []
        var recentStart = 0
        var written = 0
        var observers: [Observer] = []
        var placementObservers: [PlacementObserver] = []
        /// Records accepted and not yet written (barriers not counted).
        var pendingRecords = 0
        var accepting = true
        var resumeWaiters: [@Sendable () -> Void] = []
        /// When the writer entered the write (and sync) under way, if one is.
        var writeStartedAt: NIODeadline?
        var refusals: RefusalAggregator
        /// Callers of ``whenWriterAnswers(_:)`` waiting for the writer to take its queue next.
        var probes: [@Sendable () -> Void] = []
    }

    public let configuration: AuditConfiguration
    private let logger: Logger
    private let shared: NIOLockedValueBox<Shared>
    /// ``Shared/accepting``, readable without the lock (engines read it before every client read).
    private let acceptingFlag = ManagedAtomic(true)
    private let wakeUp = ConditionLock(value: false)
    private let recentCapacity = 1000
    private let thread = NIOThreadPool(numberOfThreads: 1)
    /// How long the writer, woken by the first record of a burst, lets the burst gather before it writes: one
    /// `write` (and one thread switch) then serves many records. Small against `fsync_interval`, and nothing waits
    /// on it but the release of a finished connection's bookkeeping.
    static let gatherDelayMicroseconds: UInt32 = 2000
    /// A queue this long is written at once, without gathering.
    static let gatherLimit = 256

    public convenience init(configuration: AuditConfiguration, logger: Logger) {
        self.init(configuration: configuration, logger: logger, stallThreshold: .seconds(10))
    }

    init(configuration: AuditConfiguration, logger: Logger, stallThreshold: TimeAmount) {
        self.configuration = configuration
        self.logger = logger
        self.stallThreshold = stallThreshold
        self.shared = NIOLockedValueBox(
            Shared(
                refusals: RefusalAggregator(
                    limit: configuration.refusedRecords,
                    interval: TimeAmount(configuration.refusedInterval))))
    }

    /// Opens the file and starts the writer. Throws when the file cannot be opened at all at start, so a
    /// misconfigured path is found before any traffic flows.
    public func start() throws {
        var writer = FileWriter(configuration: self.configuration)
        if self.configuration.path != nil {
            try writer.open()
        }
        self.shared.withLockedValue { $0.started = true }
        self.thread.start()
        let opened = writer
        self.thread.submit { _ in
            var writer = opened
            self.runWriter(&writer)
        }
    }

    /// Appends a record; the future succeeds once it is written (and synced per policy) and fails with
    /// ``NotWritten`` if the file cannot be written now (the record stays buffered).
    public func write(_ record: consuming AuditRecord, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        self.enqueue(record) { promise.completeWith($0) }
        return promise.futureResult
    }

    /// Appends a record without waiting for it.
    public func write(_ record: consuming AuditRecord) {
        self.enqueue(record, completion: nil)
    }

    /// Succeeds once every record appended before this call is written (and synced per policy), fails with
    /// ``NotWritten`` as the last of them would. Lets a writer of many records (one per HL7 message) wait once, at
    /// the end, instead of holding a future per record: records are written in order.
    public func written(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        let (accepted, wake) = self.shared.withLockedValue { shared -> (Bool, Bool) in
            guard !shared.stopping else { return (false, false) }
            shared.queue.append(Pending(bytes: [], completion: { promise.completeWith($0) }))
            defer { shared.writerIdle = false }
            return (true, shared.writerIdle)
        }
        guard accepted else {
            promise.fail(NotWritten(reason: "the audit log is stopped"))
            return promise.futureResult
        }
        if wake { self.wakeWriter() }
        return promise.futureResult
    }

    /// Calls `answer` (on the writer thread) the next time the writer takes its queue, whether or not the records
    /// can be written now: a full disk is answered within a second, a writer stuck in a `write` that does not return
    /// (a hung disk) is not. The service watchdog's liveness check; a stopped log answers at once.
    public func whenWriterAnswers(_ answer: @escaping @Sendable () -> Void) {
        let (accepted, wake) = self.shared.withLockedValue { shared -> (Bool, Bool) in
            guard shared.started, !shared.finished else { return (false, false) }
            shared.probes.append(answer)
            defer { shared.writerIdle = false }
            return (true, shared.writerIdle)
        }
        guard accepted else { return answer() }
        if wake { self.wakeWriter() }
    }

    /// Appends a record and waits until it is written.
    public func writeAndWait(_ record: AuditRecord) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            self.enqueue(record) { continuation.resume(with: $0) }
        }
    }

    /// Appends the record of something that must not happen unless it is recorded (an admin change): returns once
    /// it is written (and synced per policy); if the file cannot be written the record is withdrawn — never written
    /// later, never shown or exported — and ``NotWritten`` is thrown, so the caller does not go ahead. (Should the
    /// write succeed and only the sync fail, the record is in the file but not known to be on disk: that too throws.)
    public func writeOrWithdraw(_ record: AuditRecord) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            self.enqueue(record, withdrawable: true) { continuation.resume(with: $0) }
        }
    }

    private func enqueue(_ incoming: consuming AuditRecord, withdrawable: Bool = false, completion: Completion?) {
        var record = consume incoming
        // Closed in place: the queue, the recent ring and the record share these bytes.
        let line = record.finish()
        let (accepted, wake, observers, stopped) = self.shared.withLockedValue { shared -> (Bool, Bool, [Observer], Int?) in
            guard !shared.stopping else { return (false, false, [], nil) }
            shared.queue.append(Pending(bytes: line, completion: completion, box: RecordBox(record), withdrawable: withdrawable))
            shared.pendingRecords += 1
            var stopped: Int?
            if shared.accepting, shared.pendingRecords >= self.configuration.bufferRecords {
                shared.accepting = false
                self.acceptingFlag.store(false, ordering: .relaxed)
                stopped = shared.pendingRecords
            }
            defer { shared.writerIdle = false }
            guard !withdrawable else { return (true, shared.writerIdle, [], stopped) }
            self.remember(event: record.event, line: line, in: &shared)
            return (true, shared.writerIdle, shared.observers, stopped)
        }
        guard accepted else {
            completion?(.failure(NotWritten(reason: "the audit log is stopped")))
            return
        }
        if let stopped {
            self.logger.warning(
                "audit log: records are waiting to be written; not reading clients or accepting connections until the writer catches up",
                metadata: ["audit.waiting": "\(stopped)", "audit.buffer_records": "\(self.configuration.bufferRecords)"])
        }
        for observer in observers { observer(record) }
        if wake { self.wakeWriter() }
    }

    /// Adds a record to the recent-records ring of the admin API.
    private func remember(event: AuditEvent, line: [UInt8], in shared: inout Shared) {
        let entry = (event: event, line: line)
        if shared.recent.count < self.recentCapacity {
            shared.recent.append(entry)
        } else {
            shared.recent[shared.recentStart] = entry
            shared.recentStart = (shared.recentStart + 1) % self.recentCapacity
        }
    }

    /// Shows and exports withdrawable records once they are in the file.
    private func publishWithdrawable(_ items: some Sequence<Pending>) {
        let published = items.compactMap { $0.withdrawable ? $0.record : nil }
        guard !published.isEmpty else { return }
        let observers = self.shared.withLockedValue { shared -> [Observer] in
            for record in published { self.remember(event: record.event, line: record.line, in: &shared) }
            return shared.observers
        }
        for record in published {
            for observer in observers { observer(record) }
        }
    }

    private func wakeWriter() {
        self.wakeUp.lock()
        self.wakeUp.unlock(withValue: true)
    }

    /// Adds an observer of every record accepted from now on (the admin page's counters, the ATNA export).
    public func addObserver(_ observer: @escaping Observer) {
        self.shared.withLockedValue { $0.observers.append(observer) }
    }

    /// Adds an observer of where the records written from now on are in the file (the audit search index, which
    /// then indexes them without reading and parsing their lines again).
    public func addPlacementObserver(_ observer: @escaping PlacementObserver) {
        self.shared.withLockedValue { $0.placementObservers.append(observer) }
    }

    // MARK: backpressure

    /// Whether the engines may read their clients and accept connections: `false` while `buffer_records` records
    /// wait to be written. Cheap (one relaxed atomic load): consult it before every client read.
    public var isAccepting: Bool { self.acceptingFlag.load(ordering: .relaxed) }

    /// Calls `resume` once the log accepts again — at once, on this thread, if it does now; otherwise on the
    /// writer's thread (hop to your event loop). Each registration is called once.
    public func whenAccepting(_ resume: @escaping @Sendable () -> Void) {
        let now = self.shared.withLockedValue { shared -> Bool in
            if shared.accepting { return true }
            shared.resumeWaiters.append(resume)
            return false
        }
        if now { resume() }
    }

    /// `count` records left the queue for the file: resume the engines once three quarters of the bound are free.
    private func recordsWritten(_ count: Int) {
        guard count > 0 else { return }
        let (waiters, resumed) = self.shared.withLockedValue { shared -> ([@Sendable () -> Void], Bool) in
            shared.pendingRecords = max(0, shared.pendingRecords - count)
            guard !shared.accepting, shared.pendingRecords <= self.configuration.bufferRecords * 3 / 4 else { return ([], false) }
            shared.accepting = true
            self.acceptingFlag.store(true, ordering: .relaxed)
            defer { shared.resumeWaiters.removeAll() }
            return (shared.resumeWaiters, true)
        }
        if resumed {
            self.logger.notice("audit log caught up; reading clients and accepting connections again")
        }
        for resume in waiters { resume() }
    }

    // MARK: refused connections

    /// Whether the record of a refused connection from `client` is written in full (`true`), or only counted into
    /// that client's `connection.refused.aggregate` record for the current `refused_interval` (`false`: write
    /// nothing). Protocol modules ask before writing the record of a connection they refused.
    public func admitRefusal(client: SocketAddress, service: String, event: AuditEvent) -> Bool {
        let key = client.ipAddress ?? client.description
        let (admitted, due, earlier) = self.shared.withLockedValue { shared in
            let now = NIODeadline.now()
            let due = shared.refusals.takeDue(now: now)
            let before = shared.refusals.nextDeadline
            let admitted = shared.refusals.admit(client: key, service: service, event: event.name, now: now, time: WallClock.now())
            let earlier = shared.refusals.nextDeadline.map { next in before.map { next < $0 } ?? true } ?? false
            return (admitted, due, earlier && shared.writerIdle)
        }
        self.writeAggregates(due)
        // The idle writer may sleep for an hour: wake it to wait for the first aggregate due instead.
        if earlier { self.wakeWriter() }
        return admitted
    }

    private func writeAggregates(_ aggregates: [(RefusalAggregator.Aggregate, writtenInFull: Int)]) {
        let interval = TimeAmount(self.configuration.refusedInterval)
        for (aggregate, written) in aggregates {
            self.write(aggregate.record(interval: interval, writtenInFull: written))
        }
    }

    /// The most recent records (newest last), optionally only those of one `event`.
    public func recent(limit: Int, event: AuditEvent? = nil) -> [String] {
        self.shared.withLockedValue { shared in
            let ordered = shared.recent[shared.recentStart...] + shared.recent[..<shared.recentStart]
            let matching = ordered.filter { event == nil || $0.event == event }.suffix(max(0, limit))
            return matching.map { String(decoding: $0.line.dropLast(), as: UTF8.self) }
        }
    }

    /// The log's health; a write that has not returned for 10 s (a stalled disk) counts as failing.
    public var status: Status {
        self.shared.withLockedValue { shared in
            guard shared.status == .ok, let started = shared.writeStartedAt else { return shared.status }
            let stalled = NIODeadline.now() - started
            guard stalled >= self.stallThreshold else { return .ok }
            return .failing(
                reason: "a write to \(self.configuration.path ?? "-") has not finished for \(stalled.nanoseconds / 1_000_000_000) s",
                buffered: shared.pendingRecords)
        }
    }

    /// Records accepted and not yet written (at `buffer_records` the log stops accepting).
    public var waitingRecords: Int { self.shared.withLockedValue { $0.pendingRecords } }

    /// Records written to the file since start.
    public var writtenCount: Int { self.shared.withLockedValue { $0.written } }

    /// Writes everything queued, syncs, and stops the writer.
    public func shutdown() async {
        self.writeAggregates(self.shared.withLockedValue { $0.refusals.takeAll() })
        let (started, unstartedQueue) = self.shared.withLockedValue { shared -> (Bool, [Pending]) in
            shared.stopping = true
            guard !shared.started else { return (true, []) }
            defer { shared.queue.removeAll() }
            return (false, shared.queue)
        }
        guard started else {
            for item in unstartedQueue { item.completion?(.failure(NotWritten(reason: "the audit log was never started"))) }
            return
        }
        self.wakeWriter()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = self.shared.withLockedValue { shared -> Bool in
                if shared.finished { return true }
                shared.finishWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
        try? await self.thread.shutdownGracefully()
    }

    // MARK: writer thread

    private func runWriter(_ writer: inout FileWriter) {
        var backlog: [Pending] = []
        var lastSync = NIODeadline.now()
        var unsynced = false
        while true {
            let idle = self.shared.withLockedValue { shared -> Bool in
                guard shared.queue.isEmpty, shared.probes.isEmpty, !shared.stopping else { return false }
                shared.writerIdle = true
                return true
            }
            if idle {
                var waitSeconds: Double =
                    backlog.isEmpty ? (unsynced ? self.configuration.fsyncInterval.seconds : 3600) : 1
                if let due = self.shared.withLockedValue({ $0.refusals.nextDeadline }) {
                    waitSeconds = min(waitSeconds, Double((due - NIODeadline.now()).nanoseconds) / 1e9)
                }
                if self.wakeUp.lock(whenValue: true, timeoutSeconds: max(0.01, waitSeconds)) {
                    self.wakeUp.unlock(withValue: false)
                    self.gatherBurst()
                }
            }
            self.writeAggregates(self.shared.withLockedValue { $0.refusals.takeDue(now: NIODeadline.now()) })
            let (batch, probes, stopping) = self.shared.withLockedValue { shared -> ([Pending], [@Sendable () -> Void], Bool) in
                shared.writerIdle = false
                let batch = shared.queue
                shared.queue.removeAll(keepingCapacity: true)
                defer { shared.probes.removeAll() }
                return (batch, shared.probes, shared.stopping)
            }
            for answer in probes { answer() }
            backlog.append(contentsOf: batch)
            if !backlog.isEmpty {
                self.flush(&backlog, writer: &writer, unsynced: &unsynced, lastSync: &lastSync)
            } else if unsynced, NIODeadline.now() - lastSync >= .milliseconds(self.configuration.fsyncInterval.milliseconds) {
                writer.sync()
                unsynced = false
                lastSync = .now()
            }
            if stopping, self.shared.withLockedValue({ $0.queue.isEmpty }) {
                if backlog.isEmpty || writer.lastError != nil {
                    writer.sync()
                    writer.close()
                    if !backlog.isEmpty {
                        self.logger.critical(
                            "audit log stopped with records not written",
                            metadata: ["audit.lost": "\(backlog.count)", "audit.path": "\(self.configuration.path ?? "-")"])
                    }
                    break
                }
            }
        }
        let (waiters, probes) = self.shared.withLockedValue { shared -> ([CheckedContinuation<Void, Never>], [@Sendable () -> Void]) in
            shared.finished = true
            defer {
                shared.finishWaiters.removeAll()
                shared.probes.removeAll()
            }
            return (shared.finishWaiters, shared.probes)
        }
        for waiter in waiters { waiter.resume() }
        for answer in probes { answer() }
    }

    /// Woken by the first record of a burst: give the rest of it a moment to arrive (unless the log is stopping or
    /// the queue is already long), so the burst is written with one `write` and costs the event loops one wake-up of
    /// this thread rather than one per record.
    private func gatherBurst() {
        let (stopping, queued) = self.shared.withLockedValue { ($0.stopping, $0.queue.count) }
        guard !stopping, queued < Self.gatherLimit else { return }
        usleep(Self.gatherDelayMicroseconds)
    }

    private func flush(_ backlog: inout [Pending], writer: inout FileWriter, unsynced: inout Bool, lastSync: inout NIODeadline) {
        let count = backlog.lazy.filter(\.isRecord).count
        if self.configuration.path == nil {
            self.publishWithdrawable(backlog)
            self.recordsWritten(count)
            for item in backlog { item.completion?(.success(())) }
            backlog.removeAll()
            return
        }
        var bytes: [UInt8] = []
        for item in backlog { bytes.append(contentsOf: item.bytes) }
        let placementObservers = self.shared.withLockedValue { shared in
            shared.writeStartedAt = .now()
            return shared.placementObservers
        }
        defer { self.shared.withLockedValue { $0.writeStartedAt = nil } }
        let (written, writeError) = writer.append(bytes)
        let placement =
            writeError == nil && !placementObservers.isEmpty ? writer.placement(of: backlog, ending: writer.size) : nil
        var failure = writeError
        if failure == nil {
            do {
                if self.configuration.fsync == .every {
                    try writer.syncOrThrow()
                    lastSync = .now()
                } else {
                    unsynced = true
                    if NIODeadline.now() - lastSync >= .milliseconds(self.configuration.fsyncInterval.milliseconds) {
                        try writer.syncOrThrow()
                        unsynced = false
                        lastSync = .now()
                    }
                }
            } catch {
                failure = error
            }
        }
        guard let failure else {
            let wasFailing = self.shared.withLockedValue { shared -> Bool in
                shared.written += count
                defer { shared.status = .ok }
                return shared.status != .ok
            }
            if wasFailing {
                self.logger.notice("audit log writable again; buffered records written", metadata: ["audit.records": "\(count)"])
            }
            self.publishWithdrawable(backlog)
            // Before the writers hear of it: a record acknowledged is one the search index has been handed.
            if let placement, !placement.records.isEmpty {
                for observer in placementObservers { observer(placement) }
            }
            self.recordsWritten(count)
            for item in backlog { item.completion?(.success(())) }
            backlog.removeAll(keepingCapacity: true)
            writer.rotateIfNeeded(logger: self.logger)
            return
        }
        // Records wholly written before a write error are in the file (not necessarily synced): keep them out of the
        // retry so nothing is written twice. A record cut in the middle is written again whole after the reopen
        // has cut the torn line. Nothing is acknowledged as durable that is not.
        // A failed fsync after a whole write: every record is in the file, just not known to be on disk.
        var whole = writeError == nil ? backlog.count : 0
        if writeError != nil {
            var consumed = 0
            for item in backlog {
                guard consumed + item.bytes.count <= written else { break }
                consumed += item.bytes.count
                whole += 1
            }
        }
        for item in backlog.prefix(whole) {
            item.completion?(.failure(NotWritten(reason: "written but not synced: \(failure)")))
        }
        let wholeRecords = backlog.prefix(whole).lazy.filter(\.isRecord).count
        self.publishWithdrawable(backlog.prefix(whole))
        backlog.removeFirst(whole)
        self.shared.withLockedValue { $0.written += wholeRecords }
        // Withdrawable records not in the file are given up, not buffered: their callers did not go ahead.
        let withdrawn = backlog.filter(\.withdrawable)
        backlog.removeAll(where: \.withdrawable)
        for item in withdrawn { item.completion?(.failure(NotWritten(reason: "withdrawn: \(failure)"))) }
        self.recordsWritten(wholeRecords + withdrawn.count)
        let reason = "\(failure)"
        // Nothing is dropped: the backlog is bounded by the backpressure of `buffer_records` (see `isAccepting`).
        let buffered = backlog.lazy.filter(\.isRecord).count
        let firstFailure = self.shared.withLockedValue { shared -> Bool in
            let first = shared.status == .ok
            shared.status = .failing(reason: reason, buffered: buffered)
            return first
        }
        if firstFailure {
            self.logger.critical(
                "audit log cannot be written; buffering records in memory",
                metadata: ["audit.path": "\(self.configuration.path ?? "-")", "error": "\(reason)"])
        }
        // Tell waiters now so connections are not held; the records stay buffered for the next attempt.
        for index in backlog.indices {
            backlog[index].completion?(.failure(NotWritten(reason: "buffered in memory: \(reason)")))
            backlog[index].completion = nil
        }
    }

    /// A record that starts with the fields every audit line has: `time` and `event`.
    public static func record(event: AuditEvent, time: WallClock.Instant = WallClock.now(), capacity: Int = 256) -> AuditRecord {
        AuditRecord(event: event, time: time, capacity: capacity)
    }
}

/// The open audit file. Lives on the writer thread only.
private struct FileWriter {
    let configuration: AuditConfiguration
    var descriptor: Int32 = -1
    var size = 0
    var lastError: String?
    /// Device and inode of the open file (placements name the file by them, as the search index knows files).
    var device: Int64 = 0
    var inode: Int64 = 0

    init(configuration: AuditConfiguration) {
        self.configuration = configuration
    }

    mutating func open() throws {
        guard let path = self.configuration.path else { return }
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "open \(path)") }
        self.descriptor = fd
        var info = stat()
        if fstat(fd, &info) == 0 {
            self.size = Int(info.st_size)
            self.device = Int64(info.st_dev)
            self.inode = Int64(info.st_ino)
        }
        self.cutTornTail()
    }

    /// Where the records of `items` are in the open file, `items` having just been appended whole and the file
    /// now being `end` bytes long.
    func placement(of items: [AuditLog.Pending], ending end: Int) -> AuditPlacement {
        var offset = Int64(end)
        for item in items { offset -= Int64(item.bytes.count) }
        var placement = AuditPlacement(device: self.device, inode: self.inode, records: [])
        placement.records.reserveCapacity(items.count)
        for item in items {
            if let record = item.record {
                placement.records.append(
                    AuditPlacement.Record(offset: offset, length: item.bytes.count - 1, fields: record.searchFields))
            }
            offset += Int64(item.bytes.count)
        }
        return placement
    }

    /// A crash or a full disk can leave a last line without its newline; cut it so every line is whole JSON.
    private mutating func cutTornTail() {
        guard self.size > 0 else { return }
        var byte: UInt8 = 0
        guard pread(self.descriptor, &byte, 1, off_t(self.size - 1)) == 1, byte != UInt8(ascii: "\n") else { return }
        var position = self.size - 1
        var chunk = [UInt8](repeating: 0, count: 4096)
        while position > 0 {
            let start = max(0, position - chunk.count)
            let length = position - start
            let read = chunk.withUnsafeMutableBytes { pread(self.descriptor, $0.baseAddress, length, off_t(start)) }
            guard read == length else { return }
            if let newline = chunk[0..<length].lastIndex(of: UInt8(ascii: "\n")) {
                position = start + newline + 1
                break
            }
            position = start
        }
        if ftruncate(self.descriptor, off_t(position)) == 0 { self.size = position }
    }

    /// Appends `bytes`; returns how many were written before an error (all of them when `error` is nil).
    /// After an error the file is closed, so the next append reopens it and cuts the torn last line.
    mutating func append(_ bytes: [UInt8]) -> (written: Int, error: (any Error)?) {
        if self.descriptor < 0 {
            do { try self.open() } catch { return (0, error) }
        }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return Glibc.write(self.descriptor, base + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                let error = IOError(errnoCode: errno, reason: "write \(self.configuration.path ?? "")")
                self.lastError = "\(error)"
                Glibc.close(self.descriptor)
                self.descriptor = -1
                return (offset, error)
            }
            offset += written
            self.size += written
        }
        self.lastError = nil
        return (offset, nil)
    }

    mutating func syncOrThrow() throws {
        guard self.descriptor >= 0 else { return }
        // EINVAL: the path is a pipe or a character device (a log collector, /dev/stdout), which has nothing to sync.
        if fsync(self.descriptor) != 0, errno != EINVAL {
            throw IOError(errnoCode: errno, reason: "fsync \(self.configuration.path ?? "")")
        }
    }

    mutating func sync() {
        try? self.syncOrThrow()
    }

    mutating func rotateIfNeeded(logger: Logger) {
        guard let path = self.configuration.path, self.size >= self.configuration.maxBytes, self.descriptor >= 0 else {
            return
        }
        self.sync()
        Glibc.close(self.descriptor)
        self.descriptor = -1
        if self.configuration.keep > 0 {
            for index in stride(from: self.configuration.keep - 1, through: 1, by: -1) {
                rename("\(path).\(index)", "\(path).\(index + 1)")
            }
            rename(path, "\(path).1")
        } else {
            unlink(path)
        }
        self.size = 0
        do {
            try self.open()
            logger.notice("audit log rotated", metadata: ["audit.path": "\(path)"])
        } catch {
            self.lastError = "\(error)"
        }
    }

    mutating func close() {
        if self.descriptor >= 0 { Glibc.close(self.descriptor) }
        self.descriptor = -1
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number.
    var seconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

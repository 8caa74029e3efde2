#if canImport(Glibc)
import Glibc
#endif
import Foundation
public import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
public import PacsgateCore
import SQLiteNIO

/// The search index of an audit log: an SQLite database beside the log (`audit.jsonl.index.sqlite`), built from the
/// log's files and brought up to date from their tails before every answer.
///
/// **The JSON lines stay the record of truth.** The index holds where each line is and the fields searched on; an
/// answer's records are read from the log files themselves. The log is never written here. A missing index, one of
/// another schema, or one that no longer opens is rebuilt from the log; a file that shrank or changed is indexed
/// again; a file rotated away is dropped from it.
///
/// **Off the hot path.** Nothing here runs on the audit writer's thread or an event loop of the gateway: the index
/// reads the files on its own thread (an `NIOThreadPool` of one, at a lower scheduling priority in the gateway) and
/// runs SQLite there, with its own one-thread event loop for SQLiteNIO's futures. The writer never waits for it;
/// the index follows the files, not the writer.
///
/// **Fresh.** Each search first indexes whatever the files gained since the last one (``catchUp()``), so a record
/// acknowledged by the writer a moment ago is found. The gateway also catches up every few seconds in the
/// background (``run(every:)``), so a search rarely has more than a few seconds of log to read first.
///
/// SQLite (vapor/sqlite-nio, which bundles its own SQLite: nothing to install on the machine) was chosen over
/// GRDB.swift, which needs Debian's libsqlite3-dev on the machine.
///
/// Several processes may share one index (the gateway and `pacsgate audit search`): every change is made in an
/// `IMMEDIATE` transaction that re-reads what was indexed, so two of them never index the same bytes twice.
public actor AuditIndex {
    /// Where the log and its index are.
    public struct Location: Sendable, Equatable {
        /// The audit log (`audit.path`); rotated files are `PATH.1` … `PATH.N`.
        public var logPath: String
        /// The SQLite file (default ``defaultIndexPath(for:)``).
        public var indexPath: String

        public init(logPath: String, indexPath: String? = nil) {
            self.logPath = logPath
            self.indexPath = indexPath ?? AuditIndex.defaultIndexPath(for: logPath)
        }
    }

    /// `PATH.index.sqlite` beside the log.
    public static func defaultIndexPath(for logPath: String) -> String { logPath + ".index.sqlite" }

    /// How far indexing has come, readable while it runs.
    public struct Progress: Sendable, Equatable {
        /// Whether a catch-up is under way.
        public var running: Bool
        /// Bytes of log read in the catch-up under way (or the last one) and how many it had to read.
        public var bytesDone: Int64
        public var bytesTotal: Int64
    }

    /// What one catch-up did.
    public struct CatchUp: Sendable, Equatable {
        public var records: Int
        public var bytes: Int64
        public var filesDropped: Int
        /// Whether the index was created (missing, deleted, or of another schema).
        public var rebuilt: Bool
        /// Of ``records``, those the audit writer handed over (``take(_:)``): indexed without reading their lines.
        public var handed = 0
    }

    /// Where a page of answers ends: the next page starts after this record (newest first).
    public struct Cursor: Sendable, Equatable, LosslessStringConvertible {
        public var time: Int64
        public var id: Int64

        public init(time: Int64, id: Int64) {
            self.time = time
            self.id = id
        }

        /// `TIME.ID`.
        public init?(_ description: String) {
            let parts = description.split(separator: ".")
            guard parts.count == 2, let time = Int64(parts[0]), let id = Int64(parts[1]) else { return nil }
            self.init(time: time, id: id)
        }

        public var description: String { "\(self.time).\(self.id)" }
    }

    /// One record found: its place in the index and its line as the log holds it.
    public struct Found: Sendable, Equatable {
        /// The record's number in the index (its place in the log, stable until the index is rebuilt).
        public var id: Int64
        public var time: Int64
        /// The JSON line, without its newline.
        public var line: String
    }

    /// A page of answers, newest first.
    public struct Page: Sendable, Equatable {
        public var records: [Found]
        /// All records matching the query.
        public var total: Int
        /// The cursor of the next (older) page; `nil` on the last.
        public var next: Cursor?
    }

    /// Something the index cannot do.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let location: Location
    private let logger: Logger
    private let lowPriority: Bool
    private let pool: NIOThreadPool
    private let loop: MultiThreadedEventLoopGroup
    private var connection: SQLiteConnection?
    /// Device and inode of the index file the connection has open (a deleted index is noticed and rebuilt).
    private var openedIdentity: (device: Int64, inode: Int64)?
    /// Where each indexed file is now, by id.
    private var locations: [Int64: (path: String, device: Int64, inode: Int64)] = [:]
    private var inFlight: Task<CatchUp, any Error>?
    private var createdOnOpen = false
    private var started = false
    private nonisolated let progressBox = NIOLockedValueBox(Progress(running: false, bytesDone: 0, bytesTotal: 0))
    private nonisolated let handed = NIOLockedValueBox(HandedRecords())

    /// Records per `INSERT`.
    static let batchRows = 400
    /// Bytes of log read, parsed and committed at a time.
    static let chunkBytes = 4 << 20

    /// - Parameters:
    ///   - lowPriority: run the index's thread at a lower scheduling priority (the gateway; not the command).
    public init(location: Location, logger: Logger, lowPriority: Bool = false) {
        self.location = location
        self.logger = logger
        self.lowPriority = lowPriority
        self.pool = NIOThreadPool(numberOfThreads: 1)
        self.loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Takes where the audit writer put records and their fields (``AuditLog/addPlacementObserver(_:)``, on the
    /// writer's thread: only queued here). The next catch-up indexes them without reading their lines.
    public nonisolated func take(_ placement: AuditPlacement) {
        self.handed.withLockedValue { $0.add(placement) }
    }

    /// How far the catch-up under way (or the last one) has come.
    public nonisolated var progress: Progress { self.progressBox.withLockedValue { $0 } }

    /// Closes the database and stops the index's threads.
    public func shutdown() async {
        self.inFlight?.cancel()
        _ = try? await self.inFlight?.value
        if let connection { try? await connection.close() }
        self.connection = nil
        if self.started { try? await self.pool.shutdownGracefully() }
        try? await self.loop.shutdownGracefully()
    }

    /// Catches up every `interval` until cancelled (the gateway's background follower). Errors are logged once per
    /// kind and retried at the next tick.
    public func run(every interval: Duration) async {
        var lastError: String?
        while !Task.isCancelled {
            do {
                let done = try await self.catchUp()
                lastError = nil
                if done.rebuilt || done.records > 100_000 {
                    self.logger.notice(
                        "audit search index up to date",
                        metadata: ["audit.index": "\(self.location.indexPath)", "audit.records": "\(done.records)"])
                }
            } catch {
                if Task.isCancelled { return }
                let text = "\(error)"
                if text != lastError {
                    self.logger.error(
                        "audit search index cannot be brought up to date; searches will try again",
                        metadata: ["audit.index": "\(self.location.indexPath)", "error": "\(text)"])
                }
                lastError = text
            }
            try? await Task.sleep(for: interval)
        }
    }

    // MARK: catching up

    /// Indexes what the log's files gained since the last catch-up (everything, for a new index); drops files
    /// rotated away. Concurrent callers share one catch-up.
    @discardableResult
    public func catchUp() async throws -> CatchUp {
        if let inFlight { return try await inFlight.value }
        let task = Task { try await self.performCatchUp() }
        self.inFlight = task
        defer { self.inFlight = nil }
        return try await task.value
    }

    /// Waits for a catch-up at most `timeout`; `nil` when it is still running then (it goes on in the background).
    public func catchUp(within timeout: Duration) async throws -> CatchUp? {
        let task: Task<CatchUp, any Error>
        if let inFlight {
            task = inFlight
        } else {
            task = Task { try await self.catchUp() }
        }
        return try await withThrowingTaskGroup(of: CatchUp?.self) { group in
            group.addTask { try await task.value }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    private func performCatchUp() async throws -> CatchUp {
        let connection = try await self.connect()
        var summary = CatchUp(records: 0, bytes: 0, filesDropped: 0, rebuilt: self.createdOnOpen)
        self.createdOnOpen = false
        let opened = self.openFiles()
        self.handed.withLockedValue { $0.keep(files: opened.map { (device: $0.device, inode: $0.inode) }) }
        let known = try await Self.knownFiles(connection)
        var plan: [(file: AuditLogFiles.Opened, id: Int64?, from: Int64)] = []
        var matched: Set<Int64> = []
        for file in opened {
            if let entry = known.first(where: { $0.device == file.device && $0.inode == file.inode && $0.head == file.head }),
                file.size >= entry.indexed
            {
                matched.insert(entry.id)
                plan.append((file, entry.id, entry.indexed))
            } else {
                plan.append((file, nil, 0))
            }
        }
        let gone = known.filter { !matched.contains($0.id) }.map(\.id)
        let total = plan.reduce(Int64(0)) { $0 + ($1.file.size - $1.from) }
        self.locations = [:]
        for step in plan {
            if let id = step.id { self.locations[id] = (step.file.path, step.file.device, step.file.inode) }
        }
        if gone.isEmpty, total == 0 { return summary }
        self.progressBox.withLockedValue { $0 = Progress(running: true, bytesDone: 0, bytesTotal: total) }
        defer { self.progressBox.withLockedValue { $0.running = false } }
        if !gone.isEmpty {
            try await self.transaction(connection) {
                for id in gone {
                    _ = try await connection.query(AuditIndexSchema.subtractFile, [.integer(Int(id))])
                    _ = try await connection.query("DELETE FROM hourly WHERE count <= 0")
                    _ = try await connection.query("DELETE FROM records WHERE file = ?", [.integer(Int(id))])
                    _ = try await connection.query("DELETE FROM files WHERE id = ?", [.integer(Int(id))])
                }
            }
            summary.filesDropped = gone.count
        }
        for step in plan {
            try Task.checkCancellation()
            var id = step.id
            if id == nil {
                let rows = try await connection.query(
                    "INSERT INTO files(device, inode, head, indexed, path) VALUES (?, ?, ?, 0, ?) RETURNING id",
                    [
                        .integer(Int(step.file.device)), .integer(Int(step.file.inode)), .blob(ByteBuffer(bytes: step.file.head)),
                        .text(step.file.path),
                    ])
                id = rows.first?.column("id")?.integer.map(Int64.init)
            }
            guard let id else { throw Failure(description: "cannot register \(step.file.path) in the index") }
            self.locations[id] = (step.file.path, step.file.device, step.file.inode)
            let (records, bytes, handed) = try await self.index(step.file, id: id, from: step.from, connection: connection)
            summary.records += records
            summary.bytes += bytes
            summary.handed += handed
        }
        if summary.records > 10_000 {
            // Statistics for the query planner after a large addition (bounded work: analysis_limit).
            _ = try? await connection.query("PRAGMA optimize")
        }
        return summary
    }

    /// Indexes `file` from `offset` to its last complete line, a chunk per transaction.
    private func index(
        _ file: AuditLogFiles.Opened, id: Int64, from offset: Int64, connection: SQLiteConnection
    ) async throws -> (records: Int, bytes: Int64, handed: Int) {
        var position = offset
        var records = 0
        var handedRecords = 0
        let start = offset
        while position < file.size {
            try Task.checkCancellation()
            let from = position
            let (handed, next) = self.handed.withLockedValue {
                $0.take(device: file.device, inode: file.inode, from: from, end: file.size, limit: Int64(Self.chunkBytes))
            }
            var chunk: ParsedChunk
            let wasHanded: Bool
            if !handed.isEmpty, let built = try await self.pool.runIfActive({ Self.handedChunk(handed, file: file, from: from) }) {
                chunk = built
                wasHanded = true
            } else {
                wasHanded = false
                let limit = next.flatMap { $0 > from ? $0 : nil }
                chunk = try await self.pool.runIfActive { Self.parseChunk(file, id: id, from: from, upTo: limit) }
                if chunk.end == from, limit != nil {
                    // The next handed record starts inside a line (something else wrote to the file): read past it.
                    chunk = try await self.pool.runIfActive { Self.parseChunk(file, id: id, from: from, upTo: nil) }
                }
            }
            guard chunk.end > from else { break }  // no complete line yet
            // Another process sharing the index may have indexed some of these bytes already: then go on from
            // where it got to.
            let outcome: (inserted: Int, indexed: Int64) = try await self.transaction(connection) {
                let current = try await connection.query("SELECT indexed FROM files WHERE id = ?", [.integer(Int(id))])
                guard let indexed = current.first?.column("indexed")?.integer.map(Int64.init) else {
                    throw Failure(description: "the index lost its entry for \(file.path)")
                }
                guard indexed == from else { return (0, indexed) }
                for batch in stride(from: 0, to: chunk.rows.count, by: Self.batchRows) {
                    let rows = chunk.rows[batch..<min(batch + Self.batchRows, chunk.rows.count)]
                    var binds: [SQLiteData] = []
                    binds.reserveCapacity(rows.count * AuditIndexSchema.recordColumns.count)
                    for row in rows { row.append(to: &binds, file: id) }
                    _ = try await connection.query(AuditIndexSchema.insert(rows: rows.count), binds)
                }
                let hourly = Array(chunk.hourly)
                for batch in stride(from: 0, to: hourly.count, by: Self.batchRows) {
                    var binds: [SQLiteData] = []
                    for (key, count) in hourly[batch..<min(batch + Self.batchRows, hourly.count)] {
                        binds += [
                            .integer(Int(key.hour)), .text(key.service), .text(key.party), .integer(key.unit), .integer(key.result),
                            .integer(count),
                        ]
                    }
                    _ = try await connection.query(AuditIndexSchema.addHourly(rows: binds.count / 6), binds)
                }
                _ = try await connection.query(
                    "UPDATE files SET indexed = ?, path = ? WHERE id = ?",
                    [.integer(Int(chunk.end)), .text(file.path), .integer(Int(id))])
                return (chunk.rows.count, chunk.end)
            }
            records += outcome.inserted
            if wasHanded { handedRecords += outcome.inserted }
            self.progressBox.withLockedValue { $0.bytesDone += max(0, outcome.indexed - position) }
            position = max(position, outcome.indexed)
        }
        return (records, position - start, handedRecords)
    }

    /// The chunk of the records the writer handed, starting at `from`: their fields as the writer noted them, their
    /// lines not parsed. `nil` when there are none, or when the file does not have a line break at the end of each
    /// (something else wrote to the file; its lines are then parsed).
    private static func handedChunk(
        _ handed: ArraySlice<AuditPlacement.Record>, file: AuditLogFiles.Opened, from: Int64
    ) -> ParsedChunk? {
        guard let last = handed.last else { return nil }
        let end = last.offset + Int64(last.length) + 1
        let bytes = file.read(at: from, count: Int(end - from))
        guard bytes.count == Int(end - from) else { return nil }
        var chunk = ParsedChunk(end: end)
        for record in handed {
            let start = Int(record.offset - from)
            guard bytes[start] == UInt8(ascii: "{"), bytes[start + record.length] == UInt8(ascii: "\n") else { return nil }
            chunk.add(record.fields, offset: record.offset, length: record.length)
        }
        return chunk
    }

    /// The lines of one chunk of a file, parsed (runs on the index's thread); not beyond `limit` (where the records
    /// the writer handed start again) when given.
    private static func parseChunk(_ file: AuditLogFiles.Opened, id: Int64, from offset: Int64, upTo limit: Int64?) -> ParsedChunk {
        var size = Self.chunkBytes
        let end = min(file.size, limit ?? file.size)
        while true {
            let bytes = file.read(at: offset, count: Int(min(Int64(size), end - offset)))
            guard let lastNewline = bytes.lastIndex(of: UInt8(ascii: "\n")) else {
                // A line longer than the chunk: read more, unless the file ends first (a line being written).
                if offset + Int64(bytes.count) >= end { return ParsedChunk(end: offset) }
                size *= 2
                continue
            }
            var chunk = ParsedChunk(end: offset + Int64(lastNewline) + 1)
            bytes.withUnsafeBytes { buffer in
                var lineStart = 0
                while lineStart <= lastNewline {
                    var lineEnd = lineStart
                    while buffer[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                    let line = UnsafeRawBufferPointer(rebasing: buffer[lineStart..<lineEnd])
                    if let fields = AuditRecordFields.parse(line) {
                        chunk.add(fields, offset: offset + Int64(lineStart), length: lineEnd - lineStart)
                    }
                    lineStart = lineEnd + 1
                }
            }
            return chunk
        }
    }

    // MARK: searching

    /// The records matching `query`, newest first: `limit` of them after `cursor` (from the newest without one).
    public func search(_ query: AuditQuery, limit: Int, after cursor: Cursor? = nil, countTotal: Bool = true) async throws -> Page {
        try await self.catchUp()
        let connection = try await self.connect()
        var filter = SQLFilter(query)
        var total = 0
        if countTotal {
            let rows = try await connection.query("SELECT count(*) AS n FROM records" + filter.whereClause, filter.binds)
            total = rows.first?.column("n")?.integer ?? 0
        }
        if let cursor {
            filter.clauses.append("(time, id) < (?, ?)")
            filter.binds += [.integer(Int(cursor.time)), .integer(Int(cursor.id))]
        }
        let limit = max(1, limit)
        let rows = try await connection.query(
            "SELECT id, time, file, offset, length FROM records" + filter.whereClause + " ORDER BY time DESC, id DESC LIMIT ?",
            filter.binds + [.integer(limit + 1)])
        var records = try self.lines(rows.prefix(limit))
        if records.count < min(rows.count, limit) {
            // A file was rotated between the catch-up and the read: catch up again (new names) and read once more.
            try await self.catchUp()
            records = try self.lines(rows.prefix(limit))
        }
        let next = rows.count > limit ? records.last.map { Cursor(time: $0.time, id: $0.id) } : nil
        return Page(records: records, total: countTotal ? total : records.count, next: next)
    }

    /// Every record matching `query`, newest first, a page of `batch` at a time as the consumer asks for them (exports
    /// of any size in bounded memory).
    public nonisolated func export(_ query: AuditQuery, batch: Int = 1000) -> Export {
        Export(index: self, query: query, batch: batch)
    }

    /// The pages of an export (see ``export(_:batch:)``).
    public struct Export: AsyncSequence, Sendable {
        public typealias Element = [Found]
        let index: AuditIndex
        let query: AuditQuery
        let batch: Int

        public func makeAsyncIterator() -> Iterator {
            Iterator(index: self.index, query: self.query, batch: self.batch)
        }

        public struct Iterator: AsyncIteratorProtocol {
            let index: AuditIndex
            let query: AuditQuery
            let batch: Int
            var cursor: Cursor?
            var finished = false

            init(index: AuditIndex, query: AuditQuery, batch: Int) {
                self.index = index
                self.query = query
                self.batch = batch
            }

            public mutating func next() async throws -> [Found]? {
                guard !self.finished else { return nil }
                let page = try await self.index.search(self.query, limit: self.batch, after: self.cursor, countTotal: false)
                self.cursor = page.next
                self.finished = page.next == nil
                return page.records.isEmpty ? nil : page.records
            }
        }
    }

    /// One record by its number.
    public func record(id: Int64) async throws -> Found? {
        try await self.catchUp()
        let connection = try await self.connect()
        let rows = try await connection.query(
            "SELECT id, time, file, offset, length FROM records WHERE id = ?", [.integer(Int(id))])
        return try self.lines(rows[...]).first
    }

    /// Reads the lines of `rows` (`id, time, file, offset, length`) from the log files; a row whose file has moved
    /// since the last catch-up is left out.
    private func lines(_ rows: ArraySlice<SQLiteRow>) throws -> [Found] {
        var found: [Found] = []
        var open: [Int64: AuditLogFiles.Opened] = [:]
        for row in rows {
            guard let id = row.column("id")?.integer, let time = row.column("time")?.integer,
                let file = row.column("file")?.integer.map(Int64.init), let offset = row.column("offset")?.integer,
                let length = row.column("length")?.integer
            else { throw Failure(description: "the index answered an incomplete row") }
            if open[file] == nil, let location = self.locations[file], let opened = AuditLogFiles.open(location.path),
                opened.device == location.device, opened.inode == location.inode
            {
                open[file] = opened
            }
            guard let handle = open[file] else { continue }
            let bytes = handle.read(at: Int64(offset), count: length)
            guard bytes.count == length else { continue }
            found.append(Found(id: Int64(id), time: Int64(time), line: String(decoding: bytes, as: UTF8.self)))
        }
        return found
    }

    // MARK: reports

    /// Counts per hour of one service and calling AE (or HL7 sending application), unit and result.
    public struct HourCount: Sendable, Equatable {
        /// Milliseconds since the epoch at the start of the hour (UTC).
        public var hour: Int64
        public var service: String
        /// The calling AE title (DICOM) or sending application (HL7); empty for TLS connections.
        public var party: String
        public var unit: AuditRecordFields.Unit
        public var result: AuditRecordFields.Result
        public var count: Int
    }

    /// The hourly counts within `since`..<`until` (hours that start in it), for services and parties matching the
    /// patterns (as ``AuditQuery``'s).
    public func hourlyCounts(since: Int64?, until: Int64?, service: String?, party: String?) async throws -> [HourCount] {
        try await self.catchUp()
        let connection = try await self.connect()
        var filter = SQLFilter()
        if let since {
            filter.clauses.append("hour >= ?")
            filter.binds.append(.integer(Int(since / 3_600_000 * 3_600_000)))
        }
        if let until {
            filter.clauses.append("hour < ?")
            filter.binds.append(.integer(Int(until)))
        }
        filter.pattern("service", service)
        filter.pattern("party", party)
        let rows = try await connection.query(
            "SELECT hour, service, party, unit, result, count FROM hourly" + filter.whereClause + " ORDER BY hour",
            filter.binds)
        return rows.compactMap { row in
            guard let hour = row.column("hour")?.integer, let service = row.column("service")?.string,
                let party = row.column("party")?.string, let unit = row.column("unit")?.integer.flatMap({ AuditRecordFields.Unit(rawValue: $0) }),
                let result = row.column("result")?.integer.flatMap({ AuditRecordFields.Result(rawValue: $0) }),
                let count = row.column("count")?.integer
            else { return nil }
            return HourCount(hour: Int64(hour), service: service, party: party, unit: unit, result: result, count: count)
        }
    }

    // MARK: the database

    private func connect() async throws -> SQLiteConnection {
        if let connection, let identity = self.openedIdentity {
            var info = stat()
            if stat(self.location.indexPath, &info) == 0, Int64(info.st_dev) == identity.device, Int64(info.st_ino) == identity.inode {
                return connection
            }
            // Deleted or replaced under us: start a new one.
            self.logger.notice("audit search index file is gone; rebuilding it from the log", metadata: ["audit.index": "\(self.location.indexPath)"])
            try? await connection.close()
            self.connection = nil
        }
        if !self.started {
            self.pool.start()
            self.started = true
            if self.lowPriority {
                // The index's thread gives way to the event loops and the audit writer. On Linux the nice value is
                // per thread and `setpriority(PRIO_PROCESS, 0, …)` changes the calling thread's only (setpriority(2)).
                _ = try? await self.pool.runIfActive { setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10) }
            }
        }
        do {
            return try await self.open()
        } catch {
            // An index that does not open or has another schema is only a cache of the log: rebuild it.
            self.logger.warning(
                "audit search index unusable; rebuilding it from the log",
                metadata: ["audit.index": "\(self.location.indexPath)", "error": "\(error)"])
            if let connection { try? await connection.close() }
            self.connection = nil
            for suffix in ["", "-wal", "-shm", "-journal"] { unlink(self.location.indexPath + suffix) }
            return try await self.open()
        }
    }

    private func open() async throws -> SQLiteConnection {
        let path = self.location.indexPath
        let created = Self.createIfMissing(path)
        let connection = try await SQLiteConnection.open(
            storage: .file(path: path), threadPool: self.pool, logger: self.logger, on: self.loop.next())
        do {
            // busy_timeout replaces SQLiteNIO's spinning busy handler with SQLite's sleeping one.
            for pragma in [
                "PRAGMA busy_timeout = 60000", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL",
                "PRAGMA temp_store = MEMORY", "PRAGMA cache_size = -16384", "PRAGMA analysis_limit = 1000",
            ] {
                _ = try await connection.query(pragma)
            }
            _ = try await connection.query("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            let version = try await connection.query("SELECT value FROM meta WHERE key = 'schema'").first?.column("value")?.string
            if version != AuditIndexSchema.version {
                try await self.transaction(connection) {
                    for statement in AuditIndexSchema.drop + AuditIndexSchema.create { _ = try await connection.query(statement) }
                    _ = try await connection.query(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', ?)", [.text(AuditIndexSchema.version)])
                }
                self.createdOnOpen = true
                if !created {
                    self.logger.notice("audit search index of another version; rebuilding it", metadata: ["audit.index": "\(path)"])
                }
            }
        } catch {
            try? await connection.close()
            throw error
        }
        var info = stat()
        guard stat(path, &info) == 0 else {
            try? await connection.close()
            throw Failure(description: "the index file \(path) vanished while it was opened")
        }
        self.openedIdentity = (Int64(info.st_dev), Int64(info.st_ino))
        self.connection = connection
        return connection
    }

    /// Creates an empty index file readable by the log's owner and group only (it holds AE titles and addresses, as
    /// the log does); `true` if it was created.
    private static func createIfMissing(_ path: String) -> Bool {
        let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard descriptor >= 0 else { return false }
        close(descriptor)
        return true
    }

    /// Runs `body` in an `IMMEDIATE` transaction (other processes sharing the index wait for it).
    private func transaction<T>(_ connection: SQLiteConnection, _ body: () async throws -> T) async throws -> T {
        _ = try await connection.query("BEGIN IMMEDIATE")
        do {
            let result = try await body()
            _ = try await connection.query("COMMIT")
            return result
        } catch {
            _ = try? await connection.query("ROLLBACK")
            throw error
        }
    }

    private struct KnownFile {
        var id: Int64
        var device: Int64
        var inode: Int64
        var head: [UInt8]
        var indexed: Int64
    }

    private static func knownFiles(_ connection: SQLiteConnection) async throws -> [KnownFile] {
        try await connection.query("SELECT id, device, inode, head, indexed FROM files ORDER BY id").compactMap { row in
            guard let id = row.column("id")?.integer, let device = row.column("device")?.integer,
                let inode = row.column("inode")?.integer, var head = row.column("head")?.blob,
                let indexed = row.column("indexed")?.integer
            else { return nil }
            return KnownFile(
                id: Int64(id), device: Int64(device), inode: Int64(inode), head: head.readBytes(length: head.readableBytes) ?? [],
                indexed: Int64(indexed))
        }
    }

    /// The log's files with a complete first line, oldest first, each once (a rotation between listing and opening
    /// can show one file under two names).
    private func openFiles() -> [AuditLogFiles.Opened] {
        var seen: Set<[Int64]> = []
        var files: [AuditLogFiles.Opened] = []
        for path in AuditLogFiles.discover(self.location.logPath) {
            guard let file = AuditLogFiles.open(path), !file.head.isEmpty, seen.insert([file.device, file.inode]).inserted else {
                continue
            }
            files.append(file)
        }
        return files
    }
}

/// The parsed lines of one chunk of a log file, ready for the index.
struct ParsedChunk: Sendable {
    /// The offset after the chunk's last complete line.
    var end: Int64
    var rows: [Row] = []
    var hourly: [HourKey: Int] = [:]

    struct Row: Sendable {
        var offset: Int64
        var length: Int
        var fields: AuditRecordFields

        func append(to binds: inout [SQLiteData], file: Int64) {
            func text(_ value: String?) -> SQLiteData { value.map { .text($0) } ?? .null }
            func address(_ value: String?) -> SQLiteData {
                guard let value, let key = ClientNetwork.addressKey(value) else { return .null }
                return .blob(ByteBuffer(bytes: key))
            }
            let fields = self.fields
            binds.append(.integer(Int(file)))
            binds.append(.integer(Int(self.offset)))
            binds.append(.integer(self.length))
            binds.append(.integer(Int(fields.time ?? 0)))
            binds.append(text(fields.event))
            binds.append(text(fields.service))
            binds.append(text(fields.callingAE))
            binds.append(text(fields.calledAE))
            binds.append(address(fields.client))
            binds.append(text(fields.server))
            binds.append(address(fields.serverAddress))
            binds.append(text(fields.outcome))
            binds.append(text(fields.sni))
            binds.append(text(fields.messageType))
            binds.append(text(fields.controlID))
            binds.append(text(fields.party))
            binds.append(.integer(fields.unit.rawValue))
            binds.append(.integer(fields.result.rawValue))
        }
    }

    struct HourKey: Hashable, Sendable {
        var hour: Int64
        var service: String
        var party: String
        var unit: Int
        var result: Int
    }

    init(end: Int64) {
        self.end = end
    }

    mutating func add(_ fields: AuditRecordFields, offset: Int64, length: Int) {
        self.rows.append(Row(offset: offset, length: length, fields: fields))
        let unit = fields.unit
        guard unit != .other else { return }
        let key = HourKey(
            hour: (fields.time ?? 0) / 3_600_000 * 3_600_000, service: fields.service ?? "", party: fields.party ?? "",
            unit: unit.rawValue, result: fields.result.rawValue)
        self.hourly[key, default: 0] += 1
    }
}

extension AuditRecordFields {
    /// Who the reports count the record for: the calling AE (DICOM) or the sending application (HL7).
    var party: String? { self.callingAE ?? self.sendingApp }
}

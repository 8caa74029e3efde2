public import ArgumentParser
import Foundation
import Logging
public import PacsgateAuditIndex
import PacsgateCore

/// `pacsgate audit`: search and count the audit log's records from its files (no gateway needed).
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Search the audit log and report on it, reading its files directly (rotated ones included).",
        discussion: """
            Examples:
              pacsgate audit search --config /etc/pacsgate/pacsgate.yaml --calling-ae 'CT*' --since 2026-11-24T14:00 --until 2026-11-24T15:00
              pacsgate audit search --log /var/log/pacsgate/audit.jsonl --outcome 'rejected*' --client 10.20.0.0/16 --format csv > rejected.csv
              pacsgate audit report --config /etc/pacsgate/pacsgate.yaml --by day --group calling_ae

            The search index (an SQLite file beside the log, PATH.index.sqlite) is created or brought up to date first;
            the log files are only read. Its first build reads the whole retained log (about 10 s per GB here).
            """,
        subcommands: [AuditSearchCommand.self, AuditReportCommand.self]
    )
}

/// Where the log is: `--config` (its `audit.path`) or `--log`.
struct AuditLogOptions: ParsableArguments {
    @Option(help: "The gateway's configuration file (the log is its audit.path).")
    var config: String?

    @Option(help: "The audit log (PATH; rotated files are PATH.1 … PATH.N).")
    var log: String?

    @Option(help: "The search index file (default: the log's path + .index.sqlite).")
    var index: String?

    func validate() throws {
        if (self.config == nil) == (self.log == nil) { throw ValidationError("give --config FILE or --log PATH (one of them)") }
    }

    /// Runs `body` with the index of the log named by the options, and closes it. Errors other than a usage error
    /// are printed as `WHAT: error` and end the command with exit code 1.
    func withIndex<T>(_ what: String, _ body: (AuditIndex) async throws -> T) async throws -> T {
        let index = try self.openIndex()
        do {
            let result = try await body(index)
            await index.shutdown()
            return result
        } catch let error as ExitCode {
            await index.shutdown()
            throw error
        } catch {
            await index.shutdown()
            printError("\(what): \(error)")
            throw ExitCode(1)
        }
    }

    /// Opens the index of the log named by the options.
    private func openIndex() throws -> AuditIndex {
        let path: String
        if let log = self.log {
            path = log
        } else if let config = self.config {
            switch ConfigurationFile.load(path: config) {
            case .failure(let errors):
                printError(errors.formatted(file: config))
                throw ExitCode(1)
            case .success(let loaded):
                guard let auditPath = loaded.configuration.audit.path else {
                    throw ValidationError("\(config) has no audit.path: its audit records are kept in memory only")
                }
                path = auditPath
            }
        } else {
            throw ValidationError("give --config FILE or --log PATH")
        }
        guard FileManager.default.fileExists(atPath: path) || FileManager.default.fileExists(atPath: path + ".1") else {
            throw ValidationError("no audit log at \(path)")
        }
        var logger = Logger(label: "pacsgate.audit")
        logger.logLevel = .warning
        return AuditIndex(location: .init(logPath: path, indexPath: self.index), logger: logger)
    }
}

/// The search filters, as options (`AuditQuery`'s parameters with dashes).
struct AuditFilterOptions: ParsableArguments {
    @Option(help: "From this time: 2026-11-24T14:00 (local), 2026-11-24T13:00Z, 2026-11-24, or ago: 24h, 7d.")
    var since: String?
    @Option(help: "Before this time (same forms).")
    var until: String?
    @Option(help: "Event, e.g. dicom.association, 'hl7.*', admin.change.")
    var event: String?
    @Option(help: "Service label (pattern).")
    var service: String?
    @Option(name: .customLong("calling-ae"), help: "Calling AE title; * and ? are wildcards ('CT*').")
    var callingAE: String?
    @Option(name: .customLong("called-ae"), help: "Called AE title (pattern).")
    var calledAE: String?
    @Option(help: "Client address or network (10.1.2.7, 10.1.2.0/24, fd00::/8).")
    var client: String?
    @Option(help: "Server label (pattern), or its address or network.")
    var server: String?
    @Option(help: "Outcome: released, rejected-by-gateway, 'aborted*', AA, AE, forwarded, ok, failed …")
    var outcome: String?
    @Option(help: "TLS server name (pattern, e.g. '*.example.org').")
    var sni: String?
    @Option(name: .customLong("message-type"), help: "HL7 message type (pattern, e.g. 'ADT^A0*').")
    var messageType: String?
    @Option(name: .customLong("control-id"), help: "HL7 control ID (MSH-10).")
    var controlID: String?

    func query() throws -> AuditQuery {
        let pairs: [(String, String?)] = [
            ("since", self.since), ("until", self.until), ("event", self.event), ("service", self.service),
            ("calling_ae", self.callingAE), ("called_ae", self.calledAE), ("client", self.client), ("server", self.server),
            ("outcome", self.outcome), ("sni", self.sni), ("message_type", self.messageType), ("control_id", self.controlID),
        ]
        var parameters: [String: String] = [:]
        for (name, value) in pairs { if let value { parameters[name] = value } }
        do {
            return try AuditQuery.parse(parameters)
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// `pacsgate audit search`.
struct AuditSearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Find audit records, newest first.",
        discussion: """
            Every filter given must match. Patterns match the whole value with * and ? as wildcards; without them the
            value must be equal. --client and --server take an address or a network. --until is exclusive.
            --format json prints each record exactly as the log holds it (JSON lines); csv adds a header and one row
            per record with its fields and the whole record. A page ends with the cursor of the next one (table: on
            standard error).
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table
        case json
        case csv
    }

    @OptionGroup var source: AuditLogOptions
    @OptionGroup var filters: AuditFilterOptions

    @Option(help: "Output: table, json (the records as JSON lines) or csv.")
    var format: Format = .table

    @Option(help: "At most this many records (0: all).")
    var limit: Int = 100

    @Option(help: "Continue after this cursor (printed at the end of the previous page).")
    var cursor: String?

    func run() async throws {
        let query = try self.filters.query()
        var cursor: AuditIndex.Cursor?
        if let text = self.cursor {
            guard let parsed = AuditIndex.Cursor(text) else { throw ValidationError("--cursor '\(text)' is not a cursor") }
            cursor = parsed
        }
        guard self.limit >= 0 else { throw ValidationError("--limit must be 0 (all) or more") }
        try await self.source.withIndex("audit search") { index in
            try await self.search(index, query: query, after: cursor)
        }
    }

    private func search(_ index: AuditIndex, query: AuditQuery, after cursor: AuditIndex.Cursor?) async throws {
        let output = BufferedOutput()
        if self.format == .csv { output.write(AuditExport.csvHeader) }
        if self.limit == 0 {
            for try await records in index.export(query) {
                for record in records { output.write(self.render(record)) }
            }
            output.flush()
            return
        }
        let page = try await index.search(query, limit: self.limit, after: cursor)
        switch self.format {
        case .table:
            output.write(AuditTable.render(page.records))
            output.flush()
            var summary = "\(page.records.count) of \(page.total) matching records, newest first"
            if let next = page.next { summary += "; next page: --cursor \(next)" }
            printError(summary)
        case .json, .csv:
            for record in page.records { output.write(self.render(record)) }
            output.flush()
            if let next = page.next { printError("next page: --cursor \(next)") }
        }
    }

    private func render(_ record: AuditIndex.Found) -> String {
        switch self.format {
        case .csv: return AuditExport.csvLine(record)
        case .json, .table: return AuditExport.jsonLine(record)
        }
    }
}

/// `pacsgate audit report`.
struct AuditReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Associations, messages and connections per hour or day, with failures and rejections.",
        discussion: """
            One row per bucket and service (--group service) or service and calling AE / HL7 sending application
            (--group calling_ae). Days start at local midnight.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table
        case csv
        case json
    }

    @OptionGroup var source: AuditLogOptions

    @Option(help: "From this time (as for search).")
    var since: String?
    @Option(help: "Before this time.")
    var until: String?
    @Option(help: "Service label (pattern).")
    var service: String?
    @Option(name: .customLong("calling-ae"), help: "Calling AE or HL7 sending application (pattern).")
    var callingAE: String?
    @Option(help: "Bucket: hour or day.")
    var by: AuditReport.Bucket = .hour
    @Option(help: "One series per service, or per service and calling AE (calling_ae).")
    var group: AuditReport.Group = .service
    @Option(help: "Output: table, csv or json.")
    var format: Format = .table

    func run() async throws {
        var parameters: [String: String] = [:]
        if let since { parameters["since"] = since }
        if let until { parameters["until"] = until }
        let times: AuditQuery
        do {
            times = try AuditQuery.parse(parameters)
        } catch {
            throw ValidationError(error.description)
        }
        let counts = try await self.source.withIndex("audit report") { index in
            try await index.hourlyCounts(since: times.since, until: times.until, service: self.service, party: self.callingAE)
        }
        let report = AuditReport.build(
            counts, bucket: self.by, group: self.group, since: times.since, until: times.until,
            utcOffsetSeconds: TimeZone.current.secondsFromGMT())
        switch self.format {
        case .csv:
            FileHandle.standardOutput.write(Data(report.csv.utf8))
        case .json:
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
        case .table:
            var rows: [[String]] = [["START", "SERVICE", "CALLING AE", "ASSOC", "MESSAGES", "CONNS", "FAILED", "REJECTED"]]
            for series in report.series {
                for point in series.points where point.total > 0 {
                    rows.append([
                        point.start, series.service, series.callingAe ?? "", String(point.associations), String(point.messages),
                        String(point.connections), String(point.failed), String(point.rejected),
                    ])
                }
            }
            FileHandle.standardOutput.write(Data(AuditTable.columns(rows, rightAligned: 3...7).utf8))
        }
    }
}

extension AuditReport.Bucket: ExpressibleByArgument {}
extension AuditReport.Group: ExpressibleByArgument {}

/// Audit records as a table for people.
enum AuditTable {
    static func render(_ records: [AuditIndex.Found]) -> String {
        var rows: [[String]] = [["TIME", "EVENT", "SERVICE", "CALLING → CALLED", "CLIENT", "SERVER", "OUTCOME", "MORE"]]
        for record in records {
            let fields = AuditRecordFields.parse(record.line) ?? AuditRecordFields()
            let aes = fields.callingAE == nil && fields.calledAE == nil ? "" : "\(fields.callingAE ?? "-") → \(fields.calledAE ?? "-")"
            var more: [String] = []
            if let sni = fields.sni { more.append("sni=\(sni)") }
            if let type = fields.messageType { more.append(type) }
            if let id = fields.controlID { more.append("id=\(id)") }
            rows.append([
                fields.time.map { WallClock.Instant(millisecondsSinceEpoch: $0).iso8601 } ?? "-", fields.event ?? "-",
                fields.service ?? "", aes, fields.client ?? "", fields.server ?? "", fields.outcome ?? "", more.joined(separator: " "),
            ].map(Self.printable))
        }
        return Self.columns(rows, rightAligned: nil)
    }

    /// Rows padded to columns two spaces apart.
    static func columns(_ rows: [[String]], rightAligned: ClosedRange<Int>?) -> String {
        guard let width = rows.first?.count else { return "" }
        var widths = [Int](repeating: 0, count: width)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        var text = ""
        for row in rows {
            var line = ""
            for (index, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                line += rightAligned?.contains(index) == true ? pad + cell : cell + (index == row.count - 1 ? "" : pad)
                if index < row.count - 1 { line += "  " }
            }
            while line.hasSuffix(" ") { line.removeLast() }
            text += line + "\n"
        }
        return text
    }

    /// Control characters made visible: the values come from the wire.
    static func printable(_ text: String) -> String {
        EscapingLogHandler.escape(text)
    }
}

/// Standard output in large writes (a search can print a million lines).
final class BufferedOutput {
    private var buffer: [UInt8] = []

    func write(_ text: String) {
        self.buffer.append(contentsOf: text.utf8)
        if self.buffer.count >= 1 << 20 { self.flush() }
    }

    func flush() {
        guard !self.buffer.isEmpty else { return }
        FileHandle.standardOutput.write(Data(self.buffer))
        self.buffer.removeAll(keepingCapacity: true)
    }
}

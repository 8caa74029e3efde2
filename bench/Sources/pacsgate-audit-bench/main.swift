// pacsgate-audit-bench: typical audit-search queries over a generated audit log, timed against the search index the
// admin page, `GET /api/v1/audit/search` and `pacsgate audit search` use (PacsgateAuditIndex).
//
//   swift run -c release pacsgate-audit-bench [--dir DIR] [--records 1000000] [--files 10] [--repeat 20]
//
// The log is made by scripts/audit_search_check.py (the generator the audit-search test checks against a brute-force
// scan): ten days from 2026-11-16, DICOM associations, HL7 messages, TLS connections and admin logins, the oldest in
// audit.jsonl.9. An existing log in DIR is reused. The index is deleted and built once (timed), then each query runs
// `--repeat` times; the table gives the median and the slowest run, and how many records match.
import Foundation
import Logging
import PacsgateAuditIndex
import PacsgateCore

struct Options {
    var directory = FileManager.default.temporaryDirectory.appendingPathComponent("pacsgate-audit-bench").path
    var records = 1_000_000
    var files = 10
    var repetitions = 20

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--dir": self.directory = iterator.next() ?? self.directory
            case "--records": self.records = iterator.next().flatMap { Int($0) } ?? self.records
            case "--files": self.files = iterator.next().flatMap { Int($0) } ?? self.files
            case "--repeat": self.repetitions = iterator.next().flatMap { Int($0) } ?? self.repetitions
            default:
                FileHandle.standardError.write(Data("usage: pacsgate-audit-bench [--dir DIR] [--records N] [--files N] [--repeat N]\n".utf8))
                exit(2)
            }
        }
    }
}

/// The generator beside this package: ../scripts/audit_search_check.py.
let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("scripts/audit_search_check.py").path

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

func format(_ value: Double) -> String {
    value < 10 ? String(format: "%.2f", value) : String(format: "%.0f", value)
}

let options = Options(CommandLine.arguments)
let log = options.directory + "/audit.jsonl"
if !FileManager.default.fileExists(atPath: log) {
    let generator = Process()
    generator.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    generator.arguments = [
        "python3", script, "generate", "--dir", options.directory, "--records", String(options.records), "--files", String(options.files),
    ]
    generator.standardOutput = FileHandle.standardError  // stdout is the report
    try generator.run()
    generator.waitUntilExit()
    guard generator.terminationStatus == 0 else { fatalError("the generator failed") }
}
let index = AuditIndex.defaultIndexPath(for: log)
for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: index + suffix) }

var logger = Logger(label: "pacsgate-audit-bench")
logger.logLevel = .warning
let auditIndex = AuditIndex(location: .init(logPath: log), logger: logger)
let clock = ContinuousClock()
let built = try await clock.measure { _ = try await auditIndex.catchUp() }

/// Typical questions a PACS administrator asks, as the page and the API receive them.
let queries: [(String, [String: String])] = [
    ("one calling AE over one day", ["calling_ae": "CT01", "since": "2026-11-20T00:00:00Z", "until": "2026-11-21T00:00:00Z"]),
    ("one calling AE, one hour (14:00–15:00)", ["calling_ae": "CT01", "since": "2026-11-20T14:00:00Z", "until": "2026-11-20T15:00:00Z"]),
    ("failures of one AE over one day", ["calling_ae": "CT01", "outcome": "aborted*", "since": "2026-11-20T00:00:00Z", "until": "2026-11-21T00:00:00Z"]),
    ("an AE pattern over the whole log", ["calling_ae": "MR*"]),
    ("a client network over one day", ["client": "10.20.3.0/24", "since": "2026-11-20T00:00:00Z", "until": "2026-11-21T00:00:00Z"]),
    ("HL7 results (ORU*) over one day", ["event": "hl7.message", "message_type": "ORU*", "since": "2026-11-20T00:00:00Z", "until": "2026-11-21T00:00:00Z"]),
    ("everything, newest page", [:]),
]

let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.map(String.init) ?? "?"
print("Audit search over \(options.records) records in \(options.files) files (\(options.directory)), \(ProcessInfo.processInfo.activeProcessorCount) cores, load average \(load) at the end of the index build.")
print("")
print("Index built from scratch in \(format(milliseconds(built))) ms; \(options.repetitions) runs of each query (a page of 100 with the total).")
print("")
print("| query | matches | median ms | slowest ms |")
print("|---|---:|---:|---:|")
for (name, parameters) in queries {
    let query = try AuditQuery.parse(parameters, timeZone: TimeZone(identifier: "UTC") ?? .current)
    var times: [Double] = []
    var total = 0
    for _ in 0..<options.repetitions {
        let elapsed = try await clock.measure { total = try await auditIndex.search(query, limit: 100).total }
        times.append(milliseconds(elapsed))
    }
    times.sort()
    print("| \(name) | \(total) | \(format(times[times.count / 2])) | \(format(times.last ?? 0)) |")
}
var reportTimes: [Double] = []
var hours = 0
for _ in 0..<options.repetitions {
    let elapsed = try await clock.measure {
        hours = try await auditIndex.hourlyCounts(since: nil, until: nil, service: nil, party: nil).count
    }
    reportTimes.append(milliseconds(elapsed))
}
reportTimes.sort()
print("| report: hourly counts per service and party, whole log | \(hours) rows | \(format(reportTimes[reportTimes.count / 2])) | \(format(reportTimes.last ?? 0)) |")
await auditIndex.shutdown()

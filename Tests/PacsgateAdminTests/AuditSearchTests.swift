import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PacsgateAdmin
import PacsgateAuditIndex
import PacsgateCore
import PacsgateTestSupport
import Testing

/// The searchable audit trail: `pacsgate audit search` against a brute-force scan of the same files, the API with its
/// token scope, the exports read back by Python's `csv` module, the search page, and the reports.
@Suite("Audit search", .serialized)
struct AuditSearchTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let checkScript = Self.repository.appendingPathComponent("scripts/audit_search_check.py").path

    /// 2026-11-24T14:00:00Z, the hour the records below fall in.
    static let base = WallClock.Instant(millisecondsSinceEpoch: 1_795_528_800_000)

    /// A DICOM association record as the gateway writes one (the fields the search looks at).
    static func association(
        _ callingAE: String, client: String, outcome: String, minute: Int, server: String? = "A"
    ) -> AuditRecord {
        var line = AuditLog.record(event: "dicom.association", time: WallClock.Instant(millisecondsSinceEpoch: Self.base.millisecondsSinceEpoch + Int64(minute) * 60_000))
        line.field("service", "SVC")
        line.field("client", client)
        if let server {
            var object = JSONLine()
            object.field("label", server)
            object.field("address", "127.0.0.1:11112")
            line.field("server", object)
        } else {
            line.field("server", nil as String?)
        }
        line.field("calling_ae", callingAE)
        line.field("called_ae", "MACH7")
        line.field("outcome", outcome)
        return line
    }

    /// A gateway with the search index and five associations in its audit log, each written before it returns.
    static func gateway() async throws -> (AdminHarness, TestBackend) {
        let backend = try await TestBackend.start("A")
        let yaml = "services:\n" + serviceYAML("SVC", port: try Ports.free(), backends: [backend])
        let harness = try await AdminHarness.start(yaml: yaml, searchIndex: true)
        for line in [
            Self.association("CT01", client: "10.1.2.3:40001", outcome: "released", minute: 1),
            Self.association("MR01", client: "10.9.0.7:40002", outcome: "rejected-by-gateway", minute: 2, server: nil),
            Self.association("CT02", client: "10.1.5.9:40003", outcome: "aborted-by-client", minute: 3),
            Self.association("=HYPERLINK(\"x\",\"y\")", client: "[fd00::5]:40004", outcome: "released", minute: 4),
            Self.association("<script>alert(1)</script>", client: "10.1.2.4:40005", outcome: "released", minute: 5),
        ] {
            try await harness.audit.writeAndWait(line)
        }
        return (harness, backend)
    }

    static func records(_ response: TestResponse) -> [[String: Any]] {
        (response.json["records"] as? [[String: Any]] ?? []).compactMap { $0["record"] as? [String: Any] }
    }

    @Test("pacsgate audit search over ten rotated files answers as a scan of them for every filter, pages, rebuilds a deleted index, finds a new record, and exports CSV that Python reads back")
    func commandMatchesScan() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pacsgate-audit-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let python = try ExternalTools.python
        let generated = try await ExternalTools.run(
            python, [Self.checkScript, "generate", "--dir", directory, "--records", "20000", "--files", "10"])
        #expect(generated.status == 0, "\(generated.standardError)")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("audit.jsonl") }
        #expect(files.count == 10)
        let checked = try await ExternalTools.run(
            python, [Self.checkScript, "check", "--dir", directory, "--bin", try GatewayUnderTest.executable, "--csv"])
        #expect(checked.status == 0, "\(checked.standardOutput)\n\(checked.standardError)")
        #expect(checked.standardOutput.contains("ok index deleted, rebuilt"))
        #expect(checked.standardOutput.contains("ok a record appended a moment ago is found"))
        #expect(checked.standardOutput.contains("read back with Python's csv module match"))
        #expect(checked.standardOutput.contains("PASS"), "\(checked.standardOutput)")
    }

    @Test("GET /api/v1/audit/search needs scope read, filters by AE pattern and network, pages newest first, shows one record, and finds a record written a moment ago")
    func api() async throws {
        let (harness, backend) = try await Self.gateway()
        try await harness.application.test(.router) { client in
            let read = ScopeAndAuditTests.bearer(.read)
            let denied = try await client.execute(uri: "/api/v1/audit/search", method: .get, headers: ScopeAndAuditTests.bearer(.metrics))
            #expect(denied.status == .forbidden)
            #expect(try await client.execute(uri: "/api/v1/audit/search", method: .get).status == .unauthorized)

            let ct = try await client.execute(uri: "/api/v1/audit/search?calling_ae=CT*", method: .get, headers: read)
            #expect(ct.status == .ok, "\(ct.text)")
            #expect(ct.json["total"] as? Int == 2)
            #expect(Self.records(ct).map { $0["calling_ae"] as? String } == ["CT02", "CT01"], "newest first")

            let network = try await client.execute(uri: "/api/v1/audit/search?client=10.1.0.0/16&outcome=released", method: .get, headers: read)
            #expect(Self.records(network).map { $0["calling_ae"] as? String } == ["<script>alert(1)</script>", "CT01"])
            let v6 = try await client.execute(uri: "/api/v1/audit/search?client=fd00::/8", method: .get, headers: read)
            #expect(Self.records(v6).count == 1)
            let serverless = try await client.execute(uri: "/api/v1/audit/search?outcome=rejected*", method: .get, headers: read)
            #expect(Self.records(serverless).map { $0["calling_ae"] as? String } == ["MR01"])
            let hour = try await client.execute(
                uri: "/api/v1/audit/search?since=2026-11-24T14:02:00Z&until=2026-11-24T14:04:00Z", method: .get, headers: read)
            #expect(Self.records(hour).map { $0["calling_ae"] as? String } == ["CT02", "MR01"], "until is exclusive")

            // Pages: one record each, following `next`.
            var seen: [String] = []
            var uri = "/api/v1/audit/search?event=dicom.association&limit=2"
            while true {
                let page = try await client.execute(uri: uri, method: .get, headers: read)
                #expect(page.json["total"] as? Int == 5)
                seen += Self.records(page).compactMap { $0["calling_ae"] as? String }
                guard let next = page.json["next"] as? String else { break }
                uri = "/api/v1/audit/search?event=dicom.association&limit=2&cursor=\(next)"
            }
            #expect(seen.count == 5)
            #expect(seen.first == "<script>alert(1)</script>" && seen.last == "CT01")

            let id = try #require((ct.json["records"] as? [[String: Any]])?.first?["id"] as? Int)
            let one = try await client.execute(uri: "/api/v1/audit/records/\(id)", method: .get, headers: read)
            #expect((one.json["record"] as? [String: Any])?["calling_ae"] as? String == "CT02")
            #expect(try await client.execute(uri: "/api/v1/audit/records/999999", method: .get, headers: read).status == .notFound)

            let unknown = try await client.execute(uri: "/api/v1/audit/search?calling=CT01", method: .get, headers: read)
            #expect(unknown.status == .badRequest)
            #expect((unknown.json["error"] as? String)?.contains("unknown filter 'calling'") == true, "\(unknown.text)")
            #expect(try await client.execute(uri: "/api/v1/audit/search?client=10.1.2", method: .get, headers: read).status == .badRequest)
            #expect(try await client.execute(uri: "/api/v1/audit/search?since=yesterday", method: .get, headers: read).status == .badRequest)

            // Written a moment ago: the search catches up with the file before it answers.
            try await harness.audit.writeAndWait(Self.association("US01", client: "10.1.2.3:40009", outcome: "released", minute: 30))
            let fresh = try await client.execute(uri: "/api/v1/audit/search?calling_ae=US01", method: .get, headers: read)
            #expect(Self.records(fresh).count == 1)
        }
        await harness.stop()
        await backend.kill()
    }

    @Test("the API's CSV export is read back by Python's csv module as the JSON-lines export's records, formulas neutralized")
    func csvExport() async throws {
        let (harness, backend) = try await Self.gateway()
        let directory = harness.directory
        try await harness.application.test(.router) { client in
            let read = ScopeAndAuditTests.bearer(.read)
            let csv = try await client.execute(uri: "/api/v1/audit/search?format=csv&until=2026-11-25", method: .get, headers: read)
            #expect(csv.status == .ok)
            #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            let jsonl = try await client.execute(uri: "/api/v1/audit/search?format=jsonl&until=2026-11-25", method: .get, headers: read)
            #expect(jsonl.text.split(separator: "\n").count == 5)
            #expect(csv.text.contains("'=HYPERLINK"), "a formula is written with a leading quote")
            let csvPath = directory.appendingPathComponent("export.csv").path
            let jsonPath = directory.appendingPathComponent("export.jsonl").path
            try csv.text.write(toFile: csvPath, atomically: true, encoding: .utf8)
            try jsonl.text.write(toFile: jsonPath, atomically: true, encoding: .utf8)
            let compared = try await ExternalTools.run(
                try ExternalTools.python, [Self.checkScript, "csv", "--csv-file", csvPath, "--json-file", jsonPath])
            #expect(compared.status == 0, "\(compared.standardOutput)\(compared.standardError)")
            #expect(compared.standardOutput.contains("5 rows read back"), "\(compared.standardOutput)")
        }
        await harness.stop()
        await backend.kill()
    }

    @Test("the audit page lists the matching records with every value escaped, and links each to its detail")
    func page() async throws {
        let (harness, backend) = try await Self.gateway()
        try await harness.application.test(.router) { client in
            let session = try await AdminAPITests.login(client)
            let page = try await client.execute(uri: "/audit?client=10.1.2.0/24&tz=0", method: .get, headers: [.cookie: session.cookie])
            #expect(page.status == .ok)
            #expect(page.text.components(separatedBy: "<tr data-record=").count - 1 == 2, "CT01 and the script title")
            #expect(page.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(!page.text.contains("<script>alert(1)"))
            let marker = "href=\"/audit/record/"
            let start = try #require(page.text.range(of: marker)?.upperBound)
            let id = String(page.text[start...].prefix { $0.isNumber })
            let detail = try await client.execute(uri: "/audit/record/\(id)", method: .get, headers: [.cookie: session.cookie])
            #expect(detail.status == .ok)
            #expect(detail.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            let bad = try await client.execute(uri: "/audit?client=nonsense", method: .get, headers: [.cookie: session.cookie])
            #expect(bad.text.contains("is not an address or network"))
            #expect(try await client.execute(uri: "/audit", method: .get).status != .ok, "no page without a session")
        }
        await harness.stop()
        await backend.kill()
    }

    @Test("GET /api/v1/audit/report counts associations per hour with failures and rejections, also as CSV; the reports page draws a graph per calling AE")
    func report() async throws {
        let (harness, backend) = try await Self.gateway()
        try await harness.application.test(.router) { client in
            let read = ScopeAndAuditTests.bearer(.read)
            let uri = "/api/v1/audit/report?since=2026-11-24T13:00:00Z&until=2026-11-24T16:00:00Z&bucket=hour&tz=0"
            let report = try await client.execute(uri: uri, method: .get, headers: read)
            #expect(report.status == .ok, "\(report.text)")
            let series = try #require((report.json["series"] as? [[String: Any]])?.first)
            let points = try #require(series["points"] as? [[String: Any]])
            #expect(points.count == 3, "one point per hour, empty hours included")
            #expect(points.map { $0["associations"] as? Int } == [0, 5, 0])
            #expect(points[1]["rejected"] as? Int == 1)
            #expect(points[1]["failed"] as? Int == 1)
            let csv = try await client.execute(uri: uri + "&format=csv", method: .get, headers: read)
            #expect(
                csv.text.split(separator: "\r\n") == [
                    "start,service,calling_ae,associations,messages,connections,failed,rejected",
                    "2026-11-24T14:00:00.000Z,SVC,,5,0,0,1,1",
                ], "the header and the one hour with records: \(csv.text)")
            #expect(try await client.execute(uri: uri, method: .get, headers: ScopeAndAuditTests.bearer(.metrics)).status == .forbidden)

            let session = try await AdminAPITests.login(client)
            let page = try await client.execute(
                uri: "/reports?group=calling_ae&since=2026-11-24T13:00&until=2026-11-24T16:00&tz=0", method: .get,
                headers: [.cookie: session.cookie])
            #expect(page.status == .ok)
            #expect(page.text.components(separatedBy: "<div class=\"graph report\"").count - 1 == 5, "one graph per calling AE")
            #expect(page.text.contains("data-series=\"SVC/&lt;script&gt;alert(1)&lt;/script&gt;\""))
        }
        await harness.stop()
        await backend.kill()
    }
}

/// The logs page and `GET /api/v1/logs`: the newest lines of a ring of `logging.recent_lines`.
@Suite("Recent log lines")
struct RecentLogLinesTests {
    @Test("the ring keeps the newest lines, oldest first, and filters by level")
    func ring() {
        let ring = RecentLogLines(capacity: 3)
        for (number, level) in [Logger.Level.info, .error, .debug, .warning, .info].enumerated() {
            ring.append(level: level, "line \(number + 1)")
        }
        #expect(ring.lines().map(\.text) == ["line 3", "line 4", "line 5"])
        #expect(ring.lines(minimum: .warning).map(\.text) == ["line 4"])
        #expect(ring.lines(limit: 2).map(\.number) == [4, 5])
        #expect(ring.appended == 5)
    }

    @Test("logging.recent_lines is read from the file and bounded")
    func configuration() {
        let services = "services:\n  - { label: SVC, listen: \"127.0.0.1:11112\", servers: [{ label: A, address: \"127.0.0.1:11113\" }] }\n"
        let yaml = services + "logging:\n  recent_lines: 50\n"
        guard case .success(let (configuration, _)) = AdminHarness.loader.load(yaml: yaml) else {
            Issue.record("does not load")
            return
        }
        #expect(configuration.recentLogLines == 50)
        guard case .failure(let errors) = AdminHarness.loader.load(yaml: services + "logging:\n  recent_lines: -1\n") else {
            Issue.record("a negative size loads")
            return
        }
        #expect("\(errors)".contains("recent_lines"))
    }

    @Test("GET /api/v1/logs answers the lines at a level with scope read; the page shows them escaped")
    func api() async throws {
        let backend = try await TestBackend.start("A")
        let logs = RecentLogLines(capacity: 10)
        logs.append(level: .info, "pacsgate: started")
        logs.append(level: .error, "pacsgate: audit disk <full>")
        let yaml = "services:\n" + serviceYAML("SVC", port: try Ports.free(), backends: [backend])
        let harness = try await AdminHarness.start(yaml: yaml, logs: logs)
        try await harness.application.test(.router) { client in
            let answer = try await client.execute(uri: "/api/v1/logs?level=warning", method: .get, headers: ScopeAndAuditTests.bearer(.read))
            #expect(answer.status == .ok)
            let lines = answer.json["lines"] as? [[String: Any]] ?? []
            #expect(lines.map { $0["text"] as? String } == ["pacsgate: audit disk <full>"])
            #expect(lines.first?["level"] as? String == "error")
            #expect(answer.json["capacity"] as? Int == 10)
            #expect(try await client.execute(uri: "/api/v1/logs", method: .get, headers: ScopeAndAuditTests.bearer(.metrics)).status == .forbidden)
            #expect(try await client.execute(uri: "/api/v1/logs?level=loud", method: .get, headers: ScopeAndAuditTests.bearer(.read)).status == .badRequest)
            let session = try await AdminAPITests.login(client)
            let page = try await client.execute(uri: "/logs", method: .get, headers: [.cookie: session.cookie])
            #expect(page.text.contains("audit disk &lt;full&gt;"))
            #expect(page.text.contains("pacsgate: started"))
            let fragment = try await client.execute(uri: "/fragment/logs?level=error", method: .get, headers: [.cookie: session.cookie])
            #expect(!fragment.text.contains("pacsgate: started"))
        }
        await harness.stop()
        await backend.kill()
    }
}

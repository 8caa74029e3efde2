import Foundation
@testable import PacsgateAdmin
import PacsgateAuditRecords
import PacsgateCore
import Testing

/// What the page shows: protocol activity from audit records, graphs, escaping, the CLI table.
@Suite("Overview data and rendering")
struct PageAndActivityTests {
    @Test("DICOM, HL7 and TLS records become the last associations, HL7 counts with NAKs, SNI counts")
    func activity() {
        var state = ActivityState()
        for index in 0..<60 {
            state.ingest(
                ActivityRecords.association(
                    service: "DICOM", client: "10.0.0.\(index):1000", calling: "MOD\(index)", called: "MACH7",
                    outcome: index == 59 ? "rejected-by-gateway" : "released"))
        }
        #expect(state.associations.count == 50)
        #expect(state.associations.first?.callingAE == "MOD10")
        #expect(state.associations.last?.outcome == "rejected-by-gateway")
        #expect(state.associationOutcomes["DICOM"] == ["released": 59, "rejected-by-gateway": 1])
        for ack in ["AA", "AA", "AE", "AR", "none"] {
            state.ingest(ActivityRecords.hl7Message(service: "HL7", type: "ORM^O01", ack: ack))
        }
        state.ingest(ActivityRecords.hl7Rejected(service: "HL7", type: nil))
        #expect(state.hl7["HL7"]?["ORM^O01"]?.messages == 5)
        #expect(state.hl7["HL7"]?["ORM^O01"]?.naks == 2)
        #expect(state.hl7["HL7"]?["(none)"]?.rejected == 1)
        #expect(state.hl7["HL7"]?["(none)"]?.naks == 1)
        state.ingest(ActivityRecords.tls(service: "HTTPS", sni: "a.mach7.test"))
        // A payload of a type the overview does not count changes nothing.
        state.ingest(payload: ProxyRefusedAudit(service: "HTTPS", client: "10.0.0.1:1", reason: "x", bytesReceived: 0))
        #expect(state.tls["HTTPS"] == ["a.mach7.test": 1])
        #expect(state.handshakeFailures.isEmpty)
    }

    @Test("the aggregator sees records through the audit log's observer and ignores other events")
    func aggregator() async throws {
        let audit = AuditLog(configuration: AuditConfiguration(), logger: AdminHarness.logger)
        try audit.start()
        let aggregator = ActivityAggregator()
        aggregator.attach(to: audit)
        try await audit.writeAndWait(MetricsTests.association(outcome: "released"))
        var other = AuditLog.record(event: "connection")
        other.field("service", "SVC")
        try await audit.writeAndWait(other)
        let snapshot = aggregator.snapshot()
        #expect(snapshot.associations.count == 1)
        #expect(snapshot.associations.first?.server == "A")
        await audit.shutdown()
    }

    @Test("hostile AE titles and SNI are escaped on the page")
    func escaping() {
        var state = ActivityState()
        state.ingest(
            ActivityRecords.association(
                service: "DICOM", calling: "<script>alert(1)</script>", called: "\"><img src=x>", outcome: "released"))
        state.ingest(ActivityRecords.tls(service: "HTTPS", sni: "<b>x</b>"))
        let overview = Overview.build(
            services: [], listenPorts: [:], audit: .ok, activity: state, history: TrafficHistory(), user: "<alice>")
        let page = OverviewPage.page(overview, csrfToken: "t\"oken", canUpload: true)
        #expect(!page.contains("<script>alert"))
        #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!page.contains("\"><img"))
        #expect(page.contains("&lt;b&gt;x&lt;/b&gt;"))
        #expect(page.contains("content=\"t&quot;oken\""))
        #expect(!page.contains("<alice>"))
        #expect(!page.contains("http://") && !page.contains("https://"), "no external resources: the appliance has no internet")
    }

    @Test("traffic series: rates between samples, a restarted counter counts from zero, an hour is kept")
    func traffic() {
        var series = TrafficSeries(capacity: 3)
        let start = ContinuousClock.now
        let wall = WallClock.Instant(millisecondsSinceEpoch: 0)
        series.record(connections: 10, bytes: 1000, at: start, wall: wall)
        #expect(series.points.isEmpty)
        series.record(connections: 20, bytes: 6000, at: start + .seconds(5), wall: wall)
        #expect(series.points.last?.connectionsPerSecond == 2)
        #expect(series.points.last?.bytesPerSecond == 1000)
        series.record(connections: 5, bytes: 500, at: start + .seconds(10), wall: wall)
        #expect(series.points.last?.connectionsPerSecond == 1)
        series.record(connections: 5, bytes: 500, at: start + .seconds(15), wall: wall)
        series.record(connections: 5, bytes: 500, at: start + .seconds(20), wall: wall)
        #expect(series.points.count == 3)
        let history = TrafficHistory(interval: .seconds(5), span: .seconds(3600))
        #expect(history.points(of: "X").isEmpty)
        #expect(Sparkline.svg([0, 1, 2], label: "x").contains("<polyline"))
    }

    @Test("ctl's table lists every service and server with state, health and the last check")
    func statusTable() throws {
        let overview = Overview(
            generatedAt: "2026-01-01T00:00:00.000Z", user: nil, audit: .init(ok: false, reason: "disk full", buffered: 3),
            services: [
                .init(
                    label: "DICOM", listen: "127.0.0.1:11112", port: 11112, protocol: "dicom", balance: "roundrobin", mode: "layer 7 · inspected", engine: "native",
                    persistence: "none", healthCheck: "dicom-echo every 5s", up: true, activeConnections: 2, totalConnections: 10, refusedConnections: 0, bytesUp: 0,
                    bytesDown: 0,
                    servers: [
                        .init(
                            label: "DICOM1", address: "10.0.0.1:104", weight: 100, state: "drain", health: "up", acceptsNew: false,
                            activeConnections: 1, totalConnections: 6, connectFailures: 0,
                            lastCheck: .init(ok: true, detail: "C-ECHO status 0x0000", latencyMs: 3.25, at: nil, passed: 4, failed: 0)),
                        .init(
                            label: "DR", address: "10.9.0.1:104", weight: 100, state: "online", health: "up", acceptsNew: true,
                            backup: true, activeConnections: 0, totalConnections: 0, connectFailures: 0, lastCheck: nil),
                    ])
            ], associations: [], hl7: [], tls: [], graphs: [])
        let json = try JSONBody.encoder().encode(overview)
        let decoded = try StatusTable.decode(Array(json))
        #expect(decoded == overview, "the JSON round-trips")
        let table = StatusTable.render(decoded)
        let lines = table.split(separator: "\n")
        #expect(lines.first?.hasPrefix("   SERVICE/SERVER") == true)
        #expect(lines.contains { $0.contains("DICOM1") && $0.contains("drain") && $0.contains("ok: C-ECHO status 0x0000 (3.3 ms)") })
        #expect(table.contains("AUDIT LOG FAILING: disk full"))
        #expect(lines.contains { $0.contains("DR (backup, in use)") && $0.contains("10.9.0.1:104") })
        #expect(!table.contains("DICOM1 (backup"))
        // The page tags the backup, and says whether it stands by or takes the new connections.
        let page = OverviewPage.page(decoded, csrfToken: "t", canUpload: false)
        #expect(page.contains(#"data-server="DR" data-state="online" data-health="up" data-role="backup""#))
        #expect(page.contains(#"data-server="DICOM1" data-state="drain" data-health="up" data-role="primary""#))
        #expect(page.contains("backup · in use"))
        var standing = decoded
        standing.services[0].servers[1].acceptsNew = false
        #expect(OverviewPage.page(standing, csrfToken: "t", canUpload: false).contains("backup · standing by"))
    }

    @Test("form bodies and admin URLs parse")
    func parsing() throws {
        #expect(FormFields.parse("a=1&b=x+y%21&c=&d") == ["a": "1", "b": "x y!", "c": "", "d": ""])
        let client = try AdminClient(baseURL: "https://[::1]:9443/ignored", token: nil)
        #expect(client.host == "::1")
        #expect(client.port == 9443)
        #expect(try AdminClient(baseURL: "http://gateway", token: nil).port == 80)
        #expect(throws: AdminClient.Failure.self) { try AdminClient(baseURL: "ftp://x", token: nil) }
        #expect(throws: AdminClient.Failure.self) { try AdminClient(baseURL: "http://x:99999", token: nil) }
    }

    @Test("password hashes: bcrypt shape, no NUL, no silent truncation")
    func passwords() async throws {
        let hash = try PasswordHasher.hash("a password long enough", cost: 4)
        #expect(PasswordHasher.isWellFormedHash(hash))
        #expect(await PasswordHasher.verify("a password long enough", hash: hash))
        #expect(await !PasswordHasher.verify("a password long enougH", hash: hash))
        #expect(!PasswordHasher.isWellFormedHash("$2b$03$" + String(repeating: "a", count: 53)))
        #expect(!PasswordHasher.isWellFormedHash("$2b$12$" + String(repeating: "!", count: 53)))
        #expect(throws: PasswordHasher.PasswordError.tooShort(minimum: 10)) { try PasswordHasher.hash("short") }
        #expect(throws: PasswordHasher.PasswordError.tooLong(maximum: 72)) { try PasswordHasher.hash(String(repeating: "x", count: 73)) }
        #expect(throws: PasswordHasher.PasswordError.containsNUL) { try PasswordHasher.hash("0123456789\u{0}abc") }
    }
}

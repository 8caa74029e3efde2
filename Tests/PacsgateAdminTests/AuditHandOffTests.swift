import Foundation
import Logging
@testable import PacsgateAuditIndex
import PacsgateCore
import Testing

/// The audit writer hands the search index each record's place in the file and the fields it noted while the record
/// was built: the index then indexes it without reading and parsing its line. What it is handed must be what parsing
/// gives, and a file it was not told the truth about must still be read.
@Suite("Audit records handed to the search index")
struct AuditHandOffTests {
    static let logger = Logger(label: "pacsgate.test.handoff", factory: { _ in SwiftLogNoOpLogHandler() })
    /// 2026-11-24T14:00:00Z.
    static let base: Int64 = 1_795_528_800_000

    static func time(_ minute: Int) -> WallClock.Instant {
        WallClock.Instant(millisecondsSinceEpoch: Self.base + Int64(minute) * 60_000 + 345)
    }

    /// Records of every shape the modules write: a server as an object built from its identity or rendered once, a
    /// server as a label, `null` values, `outcome` against `result`, `ack_code` and `reason` in either order, nested
    /// objects and lists the index skips, values that need escaping, IPv6 clients.
    static func samples() -> [AuditRecord] {
        let server = ServerIdentity(label: "DICOM1", endpoint: Endpoint(host: "192.168.1.21", port: 11112))
        var records: [AuditRecord] = []

        var association = AuditLog.record(event: "dicom.association", time: Self.time(1))
        association.field("service", "DICOM")
        association.field("client", "10.1.2.3:40001")
        association.field("server", server)
        association.field("calling_ae", "CT\"01\\\u{7f}")
        association.field("called_ae", "MACH7")
        var context = JSONLine()
        context.field("id", 1)
        context.field("uid", "1.2.840.10008.1.1")
        context.field("outcome", "not me")
        association.field("contexts", [context])
        association.field("outcome", "released")
        association.field("reason", "not the outcome")
        association.field("bytes_up", 1234)
        records.append(association)

        var refused = AuditLog.record(event: "dicom.association", time: Self.time(2))
        refused.field("service", "DICOM")
        refused.field("client", "[fd00::5]:40004")
        refused.field("server", nil as ServerIdentity?)
        refused.field("calling_ae", nil as String?)
        refused.field("outcome", "rejected-by-gateway")
        records.append(refused)

        var message = AuditLog.record(event: "hl7.message", time: Self.time(3))
        message.field("service", "HL7")
        message.field("client", "10.40.2.15:40112")
        message.field("server", AuditServer(server))
        message.field("sending_app", "RIS")
        message.field("sending_facility", "GENERAL")
        message.field("message_type", "ORM^O01")
        message.field("control_id", "MSG\u{2028}0001")
        message.field("ack_code", "AA")
        message.field("ack_ms", 12)
        records.append(message)

        var rejected = AuditLog.record(event: "hl7.rejected", time: Self.time(4))
        rejected.field("service", "HL7")
        rejected.field("client", "10.40.2.15:40113")
        rejected.nullField("server")
        rejected.field("reason", "bad-frame")
        rejected.field("nak_code", "AR")
        rejected.field("sending_app", nil as String?)
        records.append(rejected)

        var tls = AuditLog.record(event: "tls.connection", time: Self.time(5))
        tls.field("service", "HTTPS")
        tls.field("client", "10.9.0.7:50000")
        tls.field("server", server)
        tls.field("sni", "portal.hospital.example")
        tls.field("alpn", ["h2", "http/1.1"])
        tls.field("outcome", "handshake_failed")
        tls.field("refusal", nil as String?)
        tls.field("reason", "certificate unknown")
        records.append(tls)

        var change = AuditLog.record(event: "admin.change", time: Self.time(6))
        change.field("user", "admin")
        change.field("what", "server.state")
        change.field("service", "DICOM")
        change.field("server", "DICOM1")
        change.field("before", "ready")
        change.field("after", "drain")
        change.field("result", "ok")
        records.append(change)

        var login = AuditLog.record(event: "admin.login", time: Self.time(7))
        login.field("user", "(unknown user)")
        login.field("client", "127.0.0.1")
        login.field("result", "failed")
        records.append(login)

        var link = AuditLog.record(event: "ha.link.down", time: Self.time(8))
        link.field("node", "a")
        link.field("peer", nil as String?)
        link.field("reason", "timeout\n")
        records.append(link)

        var bare = AuditLog.record(event: "connection.refused.aggregate", time: Self.time(9))
        bare.field("client", "10.66.0.1")
        bare.field("refused", 500)
        bare.field("services", ["DICOM", "HL7"])
        records.append(bare)
        return records
    }

    @Test("the fields a record notes as it is written are the fields its line parses to")
    func notedFieldsAreParsedFields() throws {
        for record in Self.samples() {
            let parsed = try #require(AuditRecordFields.parse(record.text))
            #expect(record.searchFields == parsed, "\(record.text)")
        }
    }

    @Test("an index handed the writer's placements answers as one that parsed the file, without parsing a line it was handed")
    func handedIndexAnswersAsParsedIndex() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pacsgate-handoff-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/audit.jsonl"
        let audit = AuditLog(configuration: AuditConfiguration(path: path), logger: Self.logger)
        let handed = AuditIndex(location: .init(logPath: path, indexPath: "\(directory)/handed.sqlite"), logger: Self.logger)
        let parsed = AuditIndex(location: .init(logPath: path, indexPath: "\(directory)/parsed.sqlite"), logger: Self.logger)
        audit.addPlacementObserver { handed.take($0) }
        try audit.start()
        let samples = Self.samples()
        for record in samples { try await audit.writeAndWait(record) }

        let first = try await handed.catchUp()
        #expect(first.records == samples.count)
        #expect(first.handed == samples.count, "every record was handed: none of their lines was parsed")
        let scan = try await parsed.catchUp()
        #expect(scan.records == samples.count)
        #expect(scan.handed == 0)
        try await Self.expectSameAnswers(handed, parsed)

        // A line written behind the writer's back: the writer's offsets no longer match the file, so the records it
        // hands next are checked against the file, found out, and read from it instead.
        let foreign = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try foreign.seekToEnd()
        try foreign.write(contentsOf: Data(#"{"time":"2026-11-24T14:30:00.000Z","event":"foreign","service":"X"}"#.utf8) + Data([0x0a]))
        try foreign.close()
        for record in samples.prefix(3) { try await audit.writeAndWait(record) }
        let second = try await handed.catchUp()
        #expect(second.records == 4)
        #expect(second.handed == 0, "the handed records did not start where the file's next line does")
        #expect(try await parsed.catchUp().records == 4)
        try await Self.expectSameAnswers(handed, parsed)

        await audit.shutdown()
        await handed.shutdown()
        await parsed.shutdown()
    }

    /// The same records for a query on each indexed field, and the same hourly counts.
    static func expectSameAnswers(_ one: AuditIndex, _ other: AuditIndex, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        var queries = [AuditQuery()]
        for parameters in [
            ["event": "dicom.association"], ["service": "HL7"], ["calling_ae": "CT*"], ["called_ae": "MACH7"],
            ["client": "10.40.2.0/24"], ["client": "fd00::/8"], ["server": "192.168.1.21"], ["server": "DICOM1"],
            ["outcome": "AA"], ["outcome": "bad-frame"], ["outcome": "failed"], ["outcome": "timeout*"],
            ["sni": "portal.*"], ["message_type": "ORM^O01"], ["control_id": "MSG*"],
            ["since": "2026-11-24T14:04:00Z", "until": "2026-11-24T14:08:00Z"],
        ] {
            queries.append(try AuditQuery.parse(parameters))
        }
        for query in queries {
            let mine = try await one.search(query, limit: 100)
            let theirs = try await other.search(query, limit: 100)
            #expect(mine.records.map(\.line) == theirs.records.map(\.line), "\(query)", sourceLocation: sourceLocation)
            #expect(mine.records.map(\.time) == theirs.records.map(\.time), "\(query)", sourceLocation: sourceLocation)
            #expect(mine.total == theirs.total, "\(query)", sourceLocation: sourceLocation)
        }
        let counts = try await one.hourlyCounts(since: nil, until: nil, service: nil, party: nil)
        let otherCounts = try await other.hourlyCounts(since: nil, until: nil, service: nil, party: nil)
        #expect(!counts.isEmpty, sourceLocation: sourceLocation)
        #expect(counts == otherCounts, sourceLocation: sourceLocation)
    }
}

/// The queue of handed records on its own: what a catch-up takes from where.
@Suite("Handed audit records")
struct HandedRecordsTests {
    /// Records of 9, 19 and 29 bytes (each with its newline: 10, 20, 30) at 100, 110, 130; then, after a gap, 200.
    static func placement(device: Int64 = 1, inode: Int64 = 2) -> AuditPlacement {
        var fields = AuditRecordFields()
        fields.event = "e"
        return AuditPlacement(
            device: device, inode: inode,
            records: [(100, 9), (110, 19), (130, 29), (200, 9)].map { AuditPlacement.Record(offset: $0.0, length: $0.1, fields: fields) })
    }

    @Test("a catch-up takes the records that follow each other from where the index got to, within the file and the chunk")
    func takesContiguousRecords() {
        var handed = HandedRecords()
        handed.add(Self.placement())
        #expect(handed.count == 4)
        let none = handed.take(device: 1, inode: 2, from: 90, end: 1000, limit: 1 << 20)
        #expect(none.records.isEmpty)
        #expect(none.next == 100, "the lines before the first handed record are read from the file, up to it")
        let first = handed.take(device: 1, inode: 2, from: 100, end: 1000, limit: 30)
        #expect(first.records.map(\.offset) == [100, 110], "the third would pass the chunk's limit")
        #expect(first.next == 130)
        let cut = handed.take(device: 1, inode: 2, from: 130, end: 150, limit: 1 << 20)
        #expect(cut.records.isEmpty, "the file as opened ends before the record does")
        #expect(cut.next == 130)
        let rest = handed.take(device: 1, inode: 2, from: 130, end: 1000, limit: 1 << 20)
        #expect(rest.records.map(\.offset) == [130])
        #expect(rest.next == 200, "a gap: the lines in it are read from the file")
        #expect(handed.count == 1)
        let past = handed.take(device: 1, inode: 2, from: 300, end: 1000, limit: 1 << 20)
        #expect(past.records.isEmpty && past.next == nil, "records before where the index got to are dropped")
        #expect(handed.count == 0)
    }

    @Test("records of other files are kept apart, forgotten when their file leaves the log, and not kept beyond the capacity")
    func filesAndCapacity() {
        var handed = HandedRecords()
        handed.add(Self.placement(inode: 2))
        handed.add(Self.placement(inode: 3))
        #expect(handed.take(device: 1, inode: 3, from: 100, end: 1000, limit: 1 << 20).records.count == 3)
        handed.keep(files: [(device: 1, inode: 3)])
        #expect(handed.count == 1)
        #expect(handed.take(device: 1, inode: 2, from: 100, end: 1000, limit: 1 << 20).records.isEmpty)
        var full = HandedRecords()
        var fields = AuditRecordFields()
        fields.event = "e"
        let many = (0..<HandedRecords.capacity).map { AuditPlacement.Record(offset: Int64($0) * 10, length: 9, fields: fields) }
        full.add(AuditPlacement(device: 1, inode: 2, records: many))
        full.add(Self.placement(inode: 4))
        #expect(full.count == HandedRecords.capacity, "beyond the capacity records are read from the file instead")
    }
}

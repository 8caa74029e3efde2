import Foundation
import Logging
import NIOCore
import NIOPosix
import PacsgateCore
import PacsgateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import PacsgateAdmin

/// The audit log's disk fills up under live DICOM traffic (the log path leads to /dev/full, where every write fails
/// with ENOSPC; replacing the link with nothing lets the writer create a regular file: the disk "has room again").
@Suite("Faults: audit log not writable", .timeLimit(.minutes(3)))
struct AuditFailureTests {
    private func echo(_ port: Int, _ name: String, scope: TestScope) async throws -> (status: Int32?, output: String) {
        try await Peers.run(
            Peers.echoscu,
            ["-aet", "MODALITY1", "-aec", "MACH7", "127.0.0.1", String(port)],
            name: name,
            scope: scope
        )
    }

    private func services(_ scp: RealSCP) -> String {
        """
          - label: DICOM
            listen: "127.0.0.1:11112"
            protocol: dicom
            servers:
              - \(scp.server("DICOM1"))
        """
    }

    @Test("on_failure: continue keeps forwarding, raises the alarm (log, metric, banner), writes the backlog later")
    func continueKeepsForwarding() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let path = "\(scope.directory)/audit.jsonl"
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/full")
            let gateway = try await RelGateway.start(
                services: self.services(scp),
                audit: "fsync: every, buffer_records: 100, on_failure: continue",
                auditPath: path,
                scope: scope
            )
            let port = try await gateway.port("DICOM")
            for index in 1...3 {
                let result = try await self.echo(port, "echoscu-\(index)", scope: scope)
                #expect(result.status == 0, "association \(index) must go through while the log is failing")
            }
            #expect(scp.associationsReceived == 3)
            #expect(try await gateway.drained("DICOM"), "connections wait for records that cannot be written")

            // The alarm: a critical log line, the metric, the overview banner.
            guard case .failing(let reason, let buffered) = gateway.audit.status else {
                Issue.record("audit status is \(gateway.audit.status)")
                return
            }
            #expect(reason.contains("No space left on device"), "\(reason)")
            #expect(buffered == 6, "3 start + 3 end records held in memory")
            let alarm = gateway.logs.all.filter { $0.level == .critical }
            #expect(alarm.map(\.message) == ["audit log cannot be written; buffering records in memory"])
            #expect(alarm.first?.metadata["audit.path"] == path)
            let metrics = AdminMetrics().render(services: [], activity: ActivityState(), audit: gateway.audit.status)
            #expect(metrics.contains("pacsgate_audit_log_ok 0"), "\(metrics)")
            #expect(metrics.contains("pacsgate_audit_log_buffered_records 6"), "\(metrics)")
            let overview = Overview.build(
                services: [], listenPorts: [:], audit: gateway.audit.status, activity: ActivityState(),
                history: TrafficHistory(), user: nil)
            let banner = OverviewPage.live(overview, csrfToken: "-")
            #expect(banner.contains("<div class=\"alarm\">Audit log cannot be written"), "\(banner.prefix(300))")
            #expect(banner.contains("6 records held in memory until it can (none is dropped)"), "\(banner.prefix(300))")

            // Room again: the buffered records are written, in order, and the alarm clears.
            try FileManager.default.removeItem(atPath: path)
            #expect(await eventually(timeout: .seconds(20)) { gateway.audit.status == .ok }, "\(gateway.audit.status)")
            let records = try gateway.records()
            let events = records.map { $0.string("event") ?? "" }
            let association = ["dicom.association.start", "dicom.association"]
            #expect(events == association + association + association)
            #expect(records.allSatisfy { $0.string("calling_ae") == "MODALITY1" })
            #expect(gateway.logs.all.contains { $0.message == "audit log writable again; buffered records written" })
        }
    }

    @Test("on_failure: refuse answers A-ASSOCIATE-RJ 2/3/1 until the log is writable, then forwards again")
    func refuseRejectsUntilWritable() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let path = "\(scope.directory)/audit.jsonl"
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/full")
            let gateway = try await RelGateway.start(
                services: self.services(scp),
                audit: "fsync: every, on_failure: refuse",
                auditPath: path,
                scope: scope
            )
            let port = try await gateway.port("DICOM")
            // The first association finds the log healthy as far as anyone knows; its records reveal the failure.
            let first = try await self.echo(port, "echoscu-1", scope: scope)
            #expect(first.status == 0, "\(first.output)")
            #expect(await eventually(timeout: .seconds(10)) { gateway.audit.status != .ok })

            let refused = try await self.echo(port, "echoscu-2", scope: scope)
            #expect(refused.status != 0)
            #expect(refused.output.contains("Association Rejected"), "\(refused.output)")
            #expect(refused.output.contains("Rejected Transient"), "\(refused.output)")
            #expect(refused.output.contains("Temporary Congestion"), "\(refused.output)")
            let client = try await RawConnection.connect(port: port, scope: scope)
            try await client.send(ByteBuffer(bytes: BackendFaultTests.storeRQ))
            #expect(await client.waitForEOF())
            #expect(client.received == [0x03, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x02, 0x03, 0x01])
            await client.close()
            #expect(scp.associationsReceived == 1, "refused associations must not reach the server")

            try FileManager.default.removeItem(atPath: path)
            #expect(await eventually(timeout: .seconds(20)) { gateway.audit.status == .ok })
            let again = try await self.echo(port, "echoscu-3", scope: scope)
            #expect(again.status == 0, "\(again.output)")
            #expect(scp.associationsReceived == 2)

            let ends = try await gateway.records("dicom.association", count: 4)
            let outcomes = ends.map { $0.string("outcome") ?? "" }
            #expect(outcomes == ["released", "rejected-by-gateway", "rejected-by-gateway", "released"])
            #expect(ends[1].string("error") == "the audit log cannot be written (audit.on_failure: refuse)")
            #expect(try gateway.records("dicom.association.start").count == 2)
        }
    }

    @Test("at buffer_records waiting the gateway stops reading clients; nothing is dropped, all is written once the disk is back")
    func bufferIsBounded() async throws {
        try await withTestScope { scope in
            let path = "\(scope.directory)/audit.jsonl"
            let configuration = AuditConfiguration(path: path, bufferRecords: 5)
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let healthy = AuditLog(configuration: configuration, logger: Logger(label: "rel-audit"))
            try healthy.start()
            for index in 1...3 { try await healthy.write(Self.record(index), on: loop).get() }
            await healthy.shutdown()

            // The disk is full: the file is set aside and the path leads to /dev/full.
            try FileManager.default.moveItem(atPath: path, toPath: "\(path).kept")
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/full")
            let log = AuditLog(configuration: configuration, logger: Logger(label: "rel-audit"))
            try log.start()
            var refused = 0
            for index in 4...23 {
                do { try await log.write(Self.record(index), on: loop).get() } catch { refused += 1 }
            }
            #expect(refused == 20, "nothing may be acknowledged while the disk is full")
            #expect(log.status == .failing(reason: Self.reason(log.status), buffered: 20))
            #expect(!log.isAccepting, "20 records waiting, buffer_records is 5: the engines stop reading clients")

            // Room again: the file is back with everything acknowledged; the backlog follows it.
            // One rename over the link, so the writer never sees a moment without the file.
            #expect(rename("\(path).kept", path) == 0)
            try await log.write(Self.record(24), on: loop).get()
            #expect(log.status == .ok)
            #expect(log.isAccepting)
            await log.shutdown()
            let numbers = try AuditRecord.read(path).compactMap { $0.int("n") }
            #expect(numbers == Array(1...24), "\(numbers)")
        }
    }

    static func record(_ number: Int) -> PacsgateCore.AuditRecord {
        var line = AuditLog.record(event: "rel.test")
        line.field("n", number)
        return line
    }

    static func reason(_ status: AuditLog.Status) -> String {
        if case .failing(let reason, _) = status { return reason }
        return ""
    }
}

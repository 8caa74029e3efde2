import Foundation
import NIOCore
import Logging
import NIOConcurrencyHelpers
import PacsgateAdmin
import PacsgateCore
import PacsgateTestSupport
import ServiceLifecycle
import Testing

/// The System Overview in a real browser: headless Chromium driven by Selenium (`scripts/admin_browser.py`).
@Suite("Admin page in a browser", .serialized)
struct BrowserTests {
    static let services = [("DICOM", "dicom"), ("HL7", "hl7"), ("DMWL", "dicom"), ("HTTPS", "tls")]

    @Test("log in, see the four demo services and their servers, click Drain: the page shows it and new connections avoid the server")
    func drainFromTheBrowser() async throws {
        // The four Mach7 services of the demo, each in front of two nodes that answer with their name.
        var backends: [String: [TestBackend]] = [:]
        var yaml = "services:\n"
        for (label, protocolName) in Self.services {
            let nodes = [try await TestBackend.start("\(label)1"), try await TestBackend.start("\(label)2")]
            backends[label] = nodes
            yaml += serviceYAML(
                label, port: try Ports.free(), protocolName: protocolName, backends: nodes,
                extra: "persistence: { type: source-ip, timeout: 30m }\n    health_check: { type: connect, interval: 2s, timeout: 1s }")
        }
        let harness = try await AdminHarness.start(yaml: yaml)
        let dicomPort = try #require(await harness.gateway.listenAddress(of: "DICOM")?.port)
        // Some traffic so the page is not empty, and protocol activity as the DICOM, HL7 and TLS modules record it.
        for _ in 0..<4 { _ = try await TestClient.identify(port: dicomPort) }
        // PACSGATE_SCREENSHOT=docs/admin-overview.png: a minute of varying traffic first, so the graphs have a shape.
        let screenshotTarget = ProcessInfo.processInfo.environment["PACSGATE_SCREENSHOT"]

        let server = try AdminServer(
            configuration: harness.configuration, gateway: harness.gateway, manager: harness.manager, metrics: AdminMetrics(),
            tls: nil, logger: AdminHarness.logger, history: TrafficHistory(interval: .seconds(screenshotTarget == nil ? 1 : 2)),
            onRunning: { url in BrowserTests.url.withLockedValue { $0 = url } })
        for record in Self.sampleActivity() { harness.audit.write(record) }
        let group = ServiceGroup(services: [server], logger: AdminHarness.logger)
        let running = Task { try await group.run() }
        defer { running.cancel() }
        let bound = await eventually(timeout: .seconds(20)) { Self.url.withLockedValue { $0 } != nil }
        let url = try #require(Self.url.withLockedValue { $0 }, "the admin server did not start")
        #expect(bound)
        #expect(url.hasPrefix("http://127.0.0.1:"))
        #expect(!url.hasSuffix(":0"), "the URL names the bound port")

        if screenshotTarget != nil {
            var ports: [Int] = []
            for (label, _) in Self.services { ports.append(try #require(await harness.gateway.listenAddress(of: label)?.port)) }
            try await Self.traffic(ports: ports, seconds: 60)
        }
        let screenshot = screenshotTarget ?? harness.directory.appendingPathComponent("overview.png").path
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/admin_browser.py").path
        var arguments = [script, "--url", url, "--user", "alice", "--password", AdminHarness.password, "--drain", "DICOM/DICOM1", "--screenshot", screenshot]
        for (label, _) in Self.services { arguments += ["--expect", "\(label):\(label)1,\(label)2"] }
        arguments += ["--expect-text", "CT_SCANNER1 → MACH7", "--expect-text", "ORM^O01", "--expect-text", "portal.hospital.example"]
        let result = try await ExternalTools.run(try ExternalTools.python, arguments)
        print(result.standardOutput)
        #expect(
            result.status == 0,
            "browser test failed (exit \(result.status); 2 = chromium, chromium-driver or selenium missing): \(result.standardOutput) \(result.standardError.suffix(1500))")
        #expect(result.standardOutput.contains("DICOM/DICOM1 now shows state 'drain'"))
        #expect(FileManager.default.fileExists(atPath: screenshot))

        // The click reached the gateway: the pool says drain and new connections go to DICOM2.
        #expect(await harness.gateway.service("DICOM")?.pool.snapshot().first { $0.label == "DICOM1" }?.adminState == .drain)
        // New clients (persistence is by source address: a client stuck to DICOM1 may still reach it while it drains).
        for host in 61...66 {
            #expect(try await TestClient.identify(port: dicomPort, from: "127.0.0.\(host)") == "DICOM2", "a drained server takes no new client")
        }
        let change = harness.auditRecords("admin.change").last
        #expect(change?["user"] as? String == "alice")
        #expect(change?["server"] as? String == "DICOM1")
        #expect(change?["after"] as? String == "drain")

        await group.triggerGracefulShutdown()
        try await running.value
        await harness.stop()
        for nodes in backends.values { for node in nodes { await node.kill() } }
    }

    static let url = NIOLockedValueBox<String?>(nil)

    /// Audit records in the shape the protocol modules write them.
    static func sampleActivity() -> [AuditRecord] {
        var records: [AuditRecord] = []
        let modalities = [
            ("CT_SCANNER1", "10.40.12.31"), ("US_ROOM3", "10.40.14.7"), ("MR_3T", "10.40.12.40"), ("WORKSTATION7", "10.40.30.77"),
            ("CR_ER2", "10.40.16.12"),
        ]
        for index in 0..<14 {
            let (ae, ip) = modalities[index % modalities.count]
            let association = ActivityRecords.association(
                service: index % 4 == 3 ? "DMWL" : "DICOM", client: "\(ip):\(51_000 + index * 17)",
                server: index % 2 == 0 ? "DICOM1" : "DICOM2", calling: ae, called: index % 4 == 3 ? "MACH7_MWL" : "MACH7",
                outcome: index == 9 ? "rejected-by-gateway" : index == 12 ? "aborted-by-client" : "released")
            records.append(association.auditRecord)
        }
        for (type, acks) in [("ADT^A08", ["AA", "AA", "AA", "AA", "AA", "AA", "AE"]), ("ORM^O01", ["AA", "AA", "AA", "AA", "AR"]), ("ORU^R01", ["AA", "AA", "none"])] {
            for ack in acks {
                records.append(ActivityRecords.hl7Message(service: "HL7", type: type, ack: ack).auditRecord)
            }
        }
        for (sni, count) in [("portal.hospital.example", 9), ("viewer.hospital.example", 4), (nil, 1)] as [(String?, Int)] {
            for _ in 0..<count {
                records.append(ActivityRecords.tls(service: "HTTPS", sni: sni).auditRecord)
            }
        }
        return records
    }

    /// Connections and bytes in waves, for the graphs of the README screenshot.
    static func traffic(ports: [Int], seconds: Int) async throws {
        let clock = ContinuousClock()
        let end = clock.now + .seconds(seconds)
        var tick = 0
        while clock.now < end {
            tick += 1
            for (index, port) in ports.enumerated() {
                let connections = 1 + (tick + index * 3) % 6
                for _ in 0..<connections { _ = try? await TestClient.identify(port: port) }
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}

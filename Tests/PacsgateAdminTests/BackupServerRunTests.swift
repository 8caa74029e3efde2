import Foundation
import PacsgateAdmin
import PacsgateTestSupport
import Testing

/// Issue 20, must show 5: `pacsgate run` with two primary dcmtk SCPs and a backup. Both primaries down: DICOM
/// associations reach the backup; both back: new associations return to the primaries (the persisted client too);
/// the overview API and `/metrics` show which server takes the new connections.
@Suite("Backup servers through pacsgate run", .serialized, .timeLimit(.minutes(3)))
struct BackupServerRunTests {
    /// `storescp -v -aet MACH7 -od DIR PORT` on a given port (a primary coming back where it was).
    static func storescp(_ name: String, port: Int, directory: String, scope: TestScope) async throws -> ChildProcess {
        let process = try await ChildProcess.start(
            Peers.storescp, ["-v", "-aet", "MACH7", "-od", directory, String(port)], name: name,
            directory: scope.directory, scope: scope)
        #expect(await Ports.waitListening(port, while: { process.isRunning }), "\(name) did not listen on \(port)")
        return process
    }

    /// C-ECHO requests an SCP answered (a health check's bare connect also logs "Association Received").
    static func echoes(_ process: ChildProcess) -> Int {
        process.output.components(separatedBy: "Received Echo Request").count - 1
    }

    /// `curl` of the admin API at `adminURL` with the test token.
    static func curl(_ adminURL: String, _ path: String) async throws -> ExternalTools.Output {
        try await ExternalTools.run(
            "/usr/bin/curl", ["-sS", "--fail", "--max-time", "10", "-H", "Authorization: Bearer \(AdminHarness.token)", adminURL + path])
    }

    /// `/metrics`, parsed by prometheus_client.
    static func metrics(_ adminURL: String) async throws -> [String: Double] {
        let output = try await Self.curl(adminURL, "/metrics")
        #expect(output.status == 0, "curl /metrics: \(output.standardError)")
        return try await ExternalTools.parsePrometheus(output.standardOutput)
    }

    /// The `servers` of service DICOM in `GET /api/v1/overview`, by label.
    static func servers(_ adminURL: String) async -> [String: [String: Any]] {
        guard let output = try? await Self.curl(adminURL, "/api/v1/overview"), output.status == 0,
            let object = try? JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8)) as? [String: Any],
            let services = object["services"] as? [[String: Any]],
            let dicom = services.first(where: { $0["label"] as? String == "DICOM" }),
            let servers = dicom["servers"] as? [[String: Any]]
        else { return [:] }
        var byLabel: [String: [String: Any]] = [:]
        for server in servers { if let label = server["label"] as? String { byLabel[label] = server } }
        return byLabel
    }

    /// Which servers take new connections, per the overview.
    static func takingNew(_ adminURL: String) async -> [String: Bool] {
        await Self.servers(adminURL).mapValues { $0["accepts_new"] as? Bool ?? false }
    }

    /// The server label of every `dicom.association` record so far.
    static func associationServers(_ auditPath: String) -> [String] {
        let text = (try? String(contentsOfFile: auditPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                record["event"] as? String == "dicom.association"
            else { return nil }
            return (record["server"] as? [String: Any])?["label"] as? String
        }
    }

    static func echo(_ port: Int, _ index: Int, scope: TestScope) async throws {
        let result = try await Peers.run(
            Peers.echoscu, ["-aet", "MODALITY1", "-aec", "MACH7", "127.0.0.1", String(port)], name: "echoscu-\(index)",
            scope: scope)
        #expect(result.status == 0, "echoscu \(index): \(result.output)")
    }

    @Test("primaries down: associations go to the backup; primaries up: they come back; overview and metrics show it")
    func failoverToBackupAndBack() async throws {
        try await withTestScope(
            directoryPrefix: "pacsgate-backup",
            missingPeerAdvice: "the backup server test needs dcmtk and curl (scripts/install-test-deps.sh)"
        ) { scope in
            let portA = try Ports.free()
            let portB = try Ports.free()
            let directoryA = try scope.makeDirectory("a")
            let directoryB = try scope.makeDirectory("b")
            var a = try await Self.storescp("storescp-a", port: portA, directory: directoryA, scope: scope)
            var b = try await Self.storescp("storescp-b", port: portB, directory: directoryB, scope: scope)
            let dr = try await RealSCP.storescp("storescp-dr", scope: scope)

            let port = try Ports.free()
            let adminPort = try Ports.free()
            let auditPath = "\(scope.directory)/audit.jsonl"  // where ExecutableTests.tail puts it
            let configPath = "\(scope.directory)/pacsgate.yaml"
            try ("""
                services:
                  - label: DICOM
                    listen: "127.0.0.1:\(port)"
                    protocol: dicom
                    persistence: { type: source-ip, timeout: 30m }
                    health_check: { type: connect, interval: 200ms, timeout: 1s, rise: 1, fall: 1 }
                    servers:
                      - { label: A, address: "127.0.0.1:\(portA)" }
                      - { label: B, address: "127.0.0.1:\(portB)" }
                      - { label: DR, address: "127.0.0.1:\(dr.port)", backup: true }

                """ + ExecutableTests.tail(adminPort: adminPort, directory: scope.directory)).write(
                    toFile: configPath, atomically: true, encoding: .utf8)
            let check = try await ExternalTools.run(try GatewayUnderTest.executable, ["check-config", configPath])
            #expect(check.status == 0, "check-config: \(check.standardError)")
            let process = try await GatewayUnderTest.process(config: configPath, scope: scope)
            let gateway = "http://127.0.0.1:\(adminPort)"
            let ready = await eventually { await Self.takingNew(gateway) == ["A": true, "B": true, "DR": false] }
            try #require(ready, "the primaries take new connections, the backup stands by: \(process.output)")
            #expect(await Self.servers(gateway)["DR"]?["backup"] as? Bool == true)
            #expect(await Self.servers(gateway)["A"]?["backup"] as? Bool == false)

            // 1. Primaries up: associations go to a primary.
            try await Self.echo(port, 1, scope: scope)
            try await Self.echo(port, 2, scope: scope)
            #expect(await eventually { Self.associationServers(auditPath).count == 2 })
            let before = Self.associationServers(auditPath)
            #expect(before.allSatisfy { $0 == "A" || $0 == "B" }, "\(before)")

            // 2. Both primaries down: the backup takes the associations; the overview and metrics say so.
            await a.stop()
            await b.stop()
            let takenOver = await eventually { await Self.takingNew(gateway) == ["A": false, "B": false, "DR": true] }
            try #require(takenOver, "the backup takes over: \(process.output)")
            #expect(await Self.servers(gateway)["A"]?["health"] as? String == "down")
            #expect(await eventually { process.output.contains("no primary server takes new connections; the backup servers do") })
            let metrics = try await Self.metrics(gateway)
            #expect(metrics[#"pacsgate_server_backup{server="DR",service="DICOM"}"#] == 1)
            #expect(metrics[#"pacsgate_server_backup{server="A",service="DICOM"}"#] == 0)
            #expect(metrics[#"pacsgate_server_takes_new{server="DR",service="DICOM"}"#] == 1)
            #expect(metrics[#"pacsgate_server_takes_new{server="A",service="DICOM"}"#] == 0)
            #expect(metrics[#"pacsgate_service_available{service="DICOM"}"#] == 1)
            try await Self.echo(port, 3, scope: scope)
            try await Self.echo(port, 4, scope: scope)
            #expect(await eventually { Self.associationServers(auditPath).count == 4 })
            #expect(Array(Self.associationServers(auditPath).dropFirst(2)) == ["DR", "DR"])
            #expect(Self.echoes(dr.process) == 2, "the backup SCP answered both echoes: \(dr.process.output)")

            // 3. The primaries come back on their ports: new associations, the persisted client's too, return.
            a = try await Self.storescp("storescp-a2", port: portA, directory: directoryA, scope: scope)
            b = try await Self.storescp("storescp-b2", port: portB, directory: directoryB, scope: scope)
            let back = await eventually { await Self.takingNew(gateway) == ["A": true, "B": true, "DR": false] }
            try #require(back, "the primaries are back: \(process.output)")
            #expect(await eventually { process.output.contains("a primary server takes new connections again; the backup servers stand by") })
            try await Self.echo(port, 5, scope: scope)
            try await Self.echo(port, 6, scope: scope)
            #expect(await eventually { Self.associationServers(auditPath).count == 6 })
            let after = Array(Self.associationServers(auditPath).dropFirst(4))
            #expect(after.allSatisfy { $0 == "A" || $0 == "B" }, "\(after)")
            #expect(Self.echoes(a) + Self.echoes(b) == 2)
            #expect(Self.echoes(dr.process) == 2, "nothing more reached the backup")
            let final = try await Self.metrics(gateway)
            #expect(final[#"pacsgate_server_connections_total{server="DR",service="DICOM"}"#] == 2)
            #expect(final[#"pacsgate_server_takes_new{server="DR",service="DICOM"}"#] == 0)
            await process.stop()
        }
    }
}

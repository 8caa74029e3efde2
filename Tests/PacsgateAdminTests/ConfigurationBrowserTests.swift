import Foundation
import Logging
import NIOConcurrencyHelpers
import PacsgateAdmin
import PacsgateConfig
import PacsgateCore
import PacsgateTestSupport
import ServiceLifecycle
import Testing

/// The Configuration page in headless Chromium against a running gateway in front of three dcmtk storescp nodes:
/// add a server, change its weight, remove it, roll back. After each step the page, the file on disk, the running
/// pool and the routing of real dcmtk associations (echoscu through the gateway, counted by the storescp that
/// received them) agree.
@Suite("Configuration page in a browser", .serialized)
struct ConfigurationBrowserTests {
    static let url = NIOLockedValueBox<String?>(nil)

    /// A server as the page, the file and the pool each show it.
    struct Server: Equatable, CustomStringConvertible {
        var label: String
        var port: Int
        var weight: Int
        var description: String { "\(self.label)@\(self.port) w\(self.weight)" }
    }

    @Test("add a server, change its weight, remove it, roll back: the page, the file and dcmtk's routing agree after each")
    func editInTheBrowser() async throws {
        try await withTestScope(
            directoryPrefix: "pacsgate-config-browser",
            missingPeerAdvice: "the configuration browser test needs dcmtk, chromium, chromium-driver and selenium: scripts/install-test-deps.sh"
        ) { scope in
            var started: [String: RealSCP] = [:]
            for label in ["DICOM1", "DICOM2", "DICOM3"] { started[label] = try await RealSCP.storescp(label, scope: scope) }
            let nodes = started
            let first = try #require(nodes["DICOM1"]), second = try #require(nodes["DICOM2"]), third = try #require(nodes["DICOM3"])
            let yaml = """
                # The modalities' DICOM service (comments stay through every edit).
                services:
                  - label: DICOM
                    listen: "127.0.0.1:\(try Ports.free())"
                    protocol: tcp
                    balance: roundrobin
                    servers:
                      - { label: DICOM1, address: "127.0.0.1:\(first.port)", weight: 100 }   # node 1
                      - { label: DICOM2, address: "127.0.0.1:\(second.port)", weight: 100 }
                # end of file

                """
            let harness = try await AdminHarness.start(yaml: yaml)
            await scope.onCleanup { await harness.stop() }
            let port = try #require(await harness.gateway.listenAddress(of: "DICOM")?.port)
            let server = try AdminServer(
                configuration: harness.configuration, gateway: harness.gateway, manager: harness.manager, metrics: AdminMetrics(),
                tls: nil, logger: AdminHarness.logger, history: TrafficHistory(interval: .seconds(1)),
                onRunning: { url in Self.url.withLockedValue { $0 = url } })
            Self.url.withLockedValue { $0 = nil }
            let group = ServiceGroup(services: [server], logger: AdminHarness.logger)
            let running = Task { try await group.run() }
            defer { running.cancel() }
            #expect(await eventually(timeout: .seconds(20)) { Self.url.withLockedValue { $0 } != nil })
            let url = try #require(Self.url.withLockedValue { $0 }, "the admin server did not start")

            /// Runs the browser script for one step; returns the DICOM servers the page shows after it.
            func browser(_ arguments: [String]) async throws -> [Server] {
                let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                    .deletingLastPathComponent().appendingPathComponent("scripts/admin_config_browser.py").path
                let result = try await ExternalTools.run(
                    try ExternalTools.python,
                    [script, "--url", url, "--user", "alice", "--password", AdminHarness.password] + arguments)
                print(result.standardOutput)
                try #require(
                    result.status == 0,
                    "browser step \(arguments) failed (exit \(result.status); 2 = chromium, chromium-driver or selenium missing): \(result.standardOutput) \(result.standardError.suffix(1500))")
                let line = try #require(result.standardOutput.split(separator: "\n").first { $0.hasPrefix("PAGE ") })
                let page = try JSONSerialization.jsonObject(with: Data(line.dropFirst(5).utf8)) as? [String: [[String: Any]]]
                return (page?["DICOM"] ?? []).map { server in
                    let address = server["address"] as? String ?? ""
                    return Server(
                        label: server["label"] as? String ?? "", port: Int(address.split(separator: ":").last ?? "") ?? 0,
                        weight: Int(server["weight"] as? String ?? "") ?? 100)
                }
            }

            /// The page's servers are the file's and the pool's, and dcmtk's associations go to exactly the page's
            /// servers of weight above 0.
            func agree(_ page: [Server], _ step: String) async throws {
                let file = try String(contentsOfFile: harness.configPath, encoding: .utf8)
                #expect(file.hasPrefix("# The modalities' DICOM service (comments stay through every edit).\n"), "\(step): the comment")
                #expect(file.hasSuffix("# end of file\n"), "\(step): the comment")
                guard case .success(let (configuration, _)) = AdminHarness.loader.load(yaml: file) else {
                    Issue.record("\(step): the file on disk does not validate")
                    return
                }
                let inFile = configuration.services.first { $0.label == "DICOM" }?.servers.map {
                    Server(label: $0.label, port: $0.endpoint.port, weight: $0.weight)
                }
                #expect(inFile == page, "\(step): the file holds what the page shows")
                let pool = await harness.gateway.service("DICOM")?.pool.snapshot().map { $0.label + "/" + String($0.weight) }
                #expect(pool == page.map { $0.label + "/" + String($0.weight) }, "\(step): the gateway runs what the page shows")

                let before = nodes.mapValues(\.associationsReceived)
                for index in 0..<6 {
                    let echo = try await Peers.run(
                        Peers.echoscu, ["-aet", "MODALITY", "-aec", "MACH7", "127.0.0.1", String(port)], name: "echoscu-\(index)",
                        scope: scope)
                    #expect(echo.status == 0, "\(step): echoscu through the gateway: \(echo.output)")
                }
                // storescp prints "Association Received" as it accepts; give the last one a moment to be read.
                _ = await eventually(timeout: .seconds(5)) {
                    nodes.values.reduce(0) { $0 + $1.associationsReceived } - before.values.reduce(0, +) >= 6
                }
                let received = nodes.mapValues(\.associationsReceived).merging(before) { $0 - $1 }
                for (label, count) in received {
                    let serving = page.contains { $0.label == label && $0.weight > 0 }
                    if serving {
                        #expect(count > 0, "\(step): \(label) is on the page with a weight, so it takes associations (\(received))")
                    } else {
                        #expect(count == 0, "\(step): \(label) is not on the page or has weight 0, so it takes none (\(received))")
                    }
                }
                #expect(received.values.reduce(0, +) == 6, "\(step): every association reached a node (\(received))")
            }

            let start = try await browser([])
            #expect(start == [Server(label: "DICOM1", port: first.port, weight: 100), Server(label: "DICOM2", port: second.port, weight: 100)])
            try await agree(start, "at the start")

            let added = try await browser(["--add", "DICOM:DICOM3:127.0.0.1:\(third.port):100", "--expect-diff", "label: DICOM3"])
            #expect(added.last == Server(label: "DICOM3", port: third.port, weight: 100))
            try await agree(added, "after adding DICOM3")

            let weighed = try await browser(["--weight", "DICOM/DICOM3:0", "--expect-diff", "weight: 0"])
            #expect(weighed.last == Server(label: "DICOM3", port: third.port, weight: 0))
            try await agree(weighed, "after setting DICOM3's weight to 0")

            let removed = try await browser(["--remove", "DICOM/DICOM3", "--expect-diff", "label: DICOM3"])
            #expect(removed == start)
            try await agree(removed, "after removing DICOM3")

            // Roll back to the file as it was before the weight change: DICOM3 is back with weight 100.
            let backups = await harness.manager.backups()
            #expect(backups.count == 3, "one backup per change: \(backups.map(\.name))")
            let beforeWeightChange = try #require(backups.dropFirst().first?.name)
            let rolledBack = try await browser(["--rollback", beforeWeightChange, "--expect-diff", "label: DICOM3"])
            #expect(rolledBack == added)
            try await agree(rolledBack, "after rolling back to \(beforeWeightChange)")
            #expect(try String(contentsOfFile: harness.configPath, encoding: .utf8) == (try String(contentsOfFile: harness.directory.appendingPathComponent("backups/\(beforeWeightChange)").path, encoding: .utf8)))

            // Every change through the page is an audit record with the user and what was changed.
            let applied = harness.auditRecords("admin.change").filter { $0["result"] as? String == "applied" }
            #expect(applied.map { $0["edit"] as? String } == [
                "server.add DICOM/DICOM3", "server.update DICOM/DICOM3", "server.remove DICOM/DICOM3", "rollback to \(beforeWeightChange)",
            ])
            #expect(applied.allSatisfy { $0["user"] as? String == "alice" })

            await group.triggerGracefulShutdown()
            try await running.value
        }
    }
}

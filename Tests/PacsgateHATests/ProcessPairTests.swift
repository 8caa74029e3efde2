import Foundation
import PacsgateCore
import Testing
import PacsgateTestSupport

/// Two real `pacsgate run` processes on loopback, linked as a pair.
@Suite("HA pair of pacsgate processes", .serialized)
struct ProcessPairTests {
    @Test("a client stuck on the primary is sent to the same server by the secondary; the weight and file changed on the primary reach the secondary, its local keys stay")
    func pairOfProcesses() async throws {
        let s1 = try await NamedBackend.start(name: "s1")
        let s2 = try await NamedBackend.start(name: "s2")
        let pair = try await ProcessPair.start(backends: [s1.port, s2.port])
        defer { pair.stop() }
        let linked = await eventually(timeout: .seconds(30)) {
            pair.secondary.logText.contains("HA link up") && pair.primary.logText.contains("HA snapshot received")
        }
        #expect(linked, "link not up: \(pair.primary.logText.suffix(1500)) \(pair.secondary.logText.suffix(1500))")

        // The overview shows the pair on both sides: roles, link, peer, replication and config versions in sync.
        for (unit, role, peer) in [(pair.primary, "primary", "gw-b"), (pair.secondary, "secondary", "gw-a")] {
            let shown = await eventually(timeout: .seconds(15)) {
                guard let pairInfo = await ProcessPair.overviewPair(unit) else { return false }
                return pairInfo["role"] as? String == role && pairInfo["link"] as? String == "up"
                    && pairInfo["peer_node"] as? String == peer && (pairInfo["peer_reachable"] as? NSNumber)?.boolValue == true
                    && (pairInfo["config_in_sync"] as? NSNumber)?.boolValue == true && (pairInfo["queued"] as? NSNumber)?.intValue == 0
            }
            let shownPair = await ProcessPair.overviewPair(unit)
            #expect(shown, "\(unit.name) overview pair: \(String(describing: shownPair))")
        }

        // Persistence: two clients (two source addresses) land on s1 and s2 through the primary (round robin).
        let first = try await identify(port: pair.primary.servicePort, from: "127.0.0.51")
        let second = try await identify(port: pair.primary.servicePort, from: "127.0.0.52")
        #expect(Set([first, second]) == ["s1", "s2"])
        // The secondary, asked first by the second client, sends it where the primary did — not to its own
        // round-robin first choice.
        let replicated = await eventually(timeout: .seconds(20)) {
            (try? await identify(port: pair.secondary.servicePort, from: "127.0.0.52")) == second
        }
        #expect(replicated, "the secondary did not follow the replicated entry")
        #expect(try await identify(port: pair.secondary.servicePort, from: "127.0.0.51") == first)

        // Config sync, runtime: a weight changed on the primary's API appears on the secondary.
        let put = try await ProcessPair.api(pair.primary, "/api/v1/services/WEB/servers/s2/weight", method: "PUT", body: #"{"weight": 37}"#)
        #expect(put.status == 0, "\(put.standardOutput) \(put.standardError)")
        let synced = await eventually(timeout: .seconds(15)) {
            await ProcessPair.weight(pair.secondary, service: "WEB", server: "s2") == 37
        }
        #expect(synced, "weight not synced: \(pair.secondary.logText.suffix(2000))")

        // Config sync, file: an upload on the primary changing a shared setting and a local one.
        let secondaryAdmin = pair.secondary.adminURL.split(separator: ":").last.map(String.init) ?? ""
        let primaryAdmin = pair.primary.adminURL.split(separator: ":").last.map(String.init) ?? ""
        var uploaded = pair.primary.configText
        uploaded = uploaded.replacingOccurrences(of: "port: \(s1.port)\", weight: 100", with: "port: \(s1.port)\", weight: 100")
        uploaded = uploaded.replacingOccurrences(of: "\(s1.port)\", weight: 100 }", with: "\(s1.port)\", weight: 55 }")
        #expect(uploaded != pair.primary.configText)
        let upload = try await ProcessPair.api(pair.primary, "/api/v1/config", method: "POST", body: uploaded)
        #expect(upload.status == 0, "\(upload.standardOutput)")
        let fileSynced = await eventually(timeout: .seconds(15)) {
            await ProcessPair.weight(pair.secondary, service: "WEB", server: "s1") == 55
        }
        #expect(fileSynced, "file change not synced: \(pair.secondary.logText.suffix(2000))")
        let secondaryFile = pair.secondary.configText
        #expect(secondaryFile.contains("Synced from the HA primary 'gw-a'"))
        // Local keys kept: the secondary's own admin listen, HA section, service listen and audit file.
        #expect(secondaryFile.contains("127.0.0.1:\(secondaryAdmin)"), "admin.listen was overwritten:\n\(secondaryFile)")
        #expect(!secondaryFile.contains("127.0.0.1:\(primaryAdmin)"), "the primary's admin.listen reached the secondary:\n\(secondaryFile)")
        #expect(secondaryFile.contains("\"gw-b\""), "the ha section was overwritten:\n\(secondaryFile)")
        #expect(secondaryFile.contains("127.0.0.1:\(pair.secondary.servicePort)"))
        #expect(secondaryFile.contains(pair.secondary.directory.appendingPathComponent("audit.jsonl").path))
        // The secondary still answers on its own admin port, and audited the sync.
        let audited = await eventually(timeout: .seconds(10)) {
            let audit = (try? String(contentsOf: pair.secondary.directory.appendingPathComponent("audit.jsonl"), encoding: .utf8)) ?? ""
            return audit.contains("\"event\":\"ha.config.sync\"") && audit.contains("\"user\":\"ha-sync:gw-a\"")
        }
        #expect(audited, "the sync was not audited on the secondary")

        // Config sync, an edit made in the page (issue 21): previewed and applied on the primary, it reaches the
        // secondary; the secondary's own preview of an edit says it is refused there.
        let edit = #"{"op": "server.update", "service": "WEB", "server": "s1", "weight": "44""#
        let preview = try await ProcessPair.api(pair.primary, "/api/v1/config/edits/preview", method: "POST", body: edit + "}")
        #expect(preview.status == 0, "\(preview.standardOutput)")
        let base = ((try? JSONSerialization.jsonObject(with: Data(preview.standardOutput.utf8))) as? [String: Any])?["base"] as? String ?? ""
        let applied = try await ProcessPair.api(pair.primary, "/api/v1/config/edits", method: "POST", body: edit + #", "base": "\#(base)"}"#)
        #expect(applied.status == 0, "\(applied.standardOutput)")
        let editSynced = await eventually(timeout: .seconds(15)) {
            await ProcessPair.weight(pair.secondary, service: "WEB", server: "s1") == 44
        }
        #expect(editSynced, "the edit was not synced: \(pair.secondary.logText.suffix(2000))")
        let refusedEdit = try await ProcessPair.api(
            pair.secondary, "/api/v1/config/edits/preview", method: "POST", body: edit.replacingOccurrences(of: "44", with: "45") + "}")
        #expect(refusedEdit.standardOutput.contains("this unit is the HA secondary"), "\(refusedEdit.standardOutput)")

        // The secondary refuses direct changes of shared settings unless forced.
        let direct = try await ProcessPair.api(pair.secondary, "/api/v1/services/WEB/servers/s2/weight", method: "PUT", body: #"{"weight": 5}"#)
        #expect(direct.status != 0)
        #expect(direct.standardOutput.contains("this unit is the HA secondary"), "\(direct.standardOutput)")
        #expect(await ProcessPair.weight(pair.secondary, service: "WEB", server: "s2") == 37)
        let directFile = try await ProcessPair.api(
            pair.secondary, "/api/v1/config", method: "POST", body: secondaryFile.replacingOccurrences(of: "\"55\"", with: "\"56\""))
        #expect(directFile.status != 0)
        #expect(directFile.standardOutput.contains("this unit is the HA secondary"), "\(directFile.standardOutput)")
        let ctlArguments = ["ctl", "--admin", pair.secondary.adminURL, "--token", ProcessPair.token]
        let refusedCtl = try await ExternalTools.run(try GatewayUnderTest.executable, ctlArguments + ["weight", "WEB", "s2", "5"])
        #expect(refusedCtl.status == 1 && refusedCtl.standardError.contains("this unit is the HA secondary"), "\(refusedCtl.standardError)")
        let forced = try await ExternalTools.run(try GatewayUnderTest.executable, ["ctl", "--force", "--admin", pair.secondary.adminURL, "--token", ProcessPair.token, "weight", "WEB", "s2", "5"])
        #expect(forced.status == 0, "\(forced.standardError)")
        #expect(await ProcessPair.weight(pair.secondary, service: "WEB", server: "s2") == 5)
        await s1.stop()
        await s2.stop()
    }

    static let manyClients = """
        import socket, sys
        port, count = int(sys.argv[1]), int(sys.argv[2])
        for i in range(count):
            source = "127.1.%d.%d" % (i // 250, i % 250 + 1)
            s = socket.socket(); s.settimeout(10); s.bind((source, 0)); s.connect(("127.0.0.1", port))
            data = b""
            while True:
                chunk = s.recv(16)
                if not chunk: break
                data += chunk
            s.close()
            print(source, data.decode())
        """

    @Test("10,000 clients stuck through the primary process are in the secondary process's table and sent to the same servers there")
    func tenThousandClients() async throws {
        let s1 = try await NamedBackend.start(name: "s1")
        let s2 = try await NamedBackend.start(name: "s2")
        let pair = try await ProcessPair.start(backends: [s1.port, s2.port])
        defer { pair.stop() }
        #expect(await eventually(timeout: .seconds(30)) { pair.primary.logText.contains("HA snapshot received") })
        let python = try ExternalTools.tool("python3", ["/usr/bin/python3"])
        let run = try await ExternalTools.run(python, ["-c", Self.manyClients, String(pair.primary.servicePort), "10000"])
        #expect(run.status == 0, "\(run.standardError.suffix(500))")
        var assigned: [String: String] = [:]
        for line in run.standardOutput.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2 { assigned[String(parts[0])] = String(parts[1]) }
        }
        #expect(assigned.count == 10_000)
        #expect(Set(assigned.values) == ["s1", "s2"])
        let replicated = await eventually(timeout: .seconds(30)) {
            guard let info = await ProcessPair.overviewPair(pair.secondary),
                let entries = info["entries"] as? [String: Any]
            else { return false }
            return (entries["WEB"] as? NSNumber)?.intValue == 10_000
        }
        let shown = await ProcessPair.overviewPair(pair.secondary)
        #expect(replicated, "secondary: \(String(describing: shown))")
        // Every 40th client, through the secondary: the same server as through the primary.
        var wrong: [String] = []
        for (index, source) in assigned.keys.sorted().enumerated() where index % 40 == 0 {
            let answer = try await identify(port: pair.secondary.servicePort, from: source)
            if answer != assigned[source] { wrong.append("\(source): \(assigned[source] ?? "-") then \(answer)") }
        }
        #expect(wrong.isEmpty, "\(wrong.prefix(10))")
        await s1.stop()
        await s2.stop()
    }
}

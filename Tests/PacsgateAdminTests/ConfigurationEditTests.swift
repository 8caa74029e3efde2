import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
@testable import PacsgateAdmin
import PacsgateConfig
import PacsgateCore
import PacsgateDICOM
import PacsgateTestSupport
import PacsgateVersion
import Testing

/// Changes to the configuration file made in the page: targeted text edits that keep the rest of the file, their
/// diff, and the preview → apply → backup → rollback cycle through the API with its audit records.
@Suite("Configuration edits in the page")
struct ConfigurationEditTests {
    /// A file as operators write them: comments everywhere, a service with one-line `{ … }` servers and one with
    /// block servers, a commented-out service between them.
    static let file = """
        # Site configuration — edited by hand and in the page.
        services:
          # The modalities' DICOM service.
          - label: DICOM
            listen: "127.0.0.1:11112"   # the VIP
            protocol: tcp
            balance: roundrobin
            persistence: { type: source-ip, timeout: 30m }
            servers:
              - { label: DICOM1, address: "127.0.0.1:4101", weight: 100 }   # node 1
              - { label: DICOM2, address: "127.0.0.1:4102", weight: 100 }
        #~  - label: OLD
        #~    listen: "127.0.0.1:9"

          - label: HL7
            listen: "127.0.0.1:6667"
            protocol: tcp
            servers:
              - label: HL71
                address: "127.0.0.1:4201"
                # the second node is a standby
              - label: HL72
                address: "127.0.0.1:4202"
                backup: true
        # Audit trail.
        audit: { path: "/tmp/audit.jsonl" }

        """

    static func edited(_ edit: ConfigurationEdit, _ text: String = Self.file) throws -> String {
        let result = try edit.apply(to: text)
        if case .failure(let errors) = AdminHarness.loader.load(yaml: result) {
            Issue.record("the edited file does not validate: \(errors.problems)\n\(result)")
        }
        return result
    }

    /// The lines of `new` not in `old` and of `old` not in `new`, by the diff of the two.
    static func changed(_ old: String, _ new: String) -> (removed: [String], added: [String]) {
        let diff = ConfigurationDiff(from: old, to: new)
        let lines = diff.hunks.flatMap(\.lines)
        return (lines.filter { $0.kind == .removed }.map(\.text), lines.filter { $0.kind == .added }.map(\.text))
    }

    @Test("adding a server appends one line in the style of its neighbours; every other line stays")
    func addServer() throws {
        let flow = try Self.edited(.addServer(service: "DICOM", .init(label: "DICOM3", address: "127.0.0.1:4103", weight: 50)))
        #expect(Self.changed(Self.file, flow).removed == [])
        #expect(Self.changed(Self.file, flow).added == [#"      - { label: DICOM3, address: "127.0.0.1:4103", weight: 50 }"#])
        #expect(flow.contains("      - { label: DICOM2, address: \"127.0.0.1:4102\", weight: 100 }\n      - { label: DICOM3"))
        #expect(flow.contains("#~  - label: OLD"), "the commented-out service stays where it was")

        let block = try Self.edited(.addServer(service: "HL7", .init(label: "HL73", address: "127.0.0.1:4203", backup: true)))
        #expect(Self.changed(Self.file, block).removed == [])
        #expect(Self.changed(Self.file, block).added == ["      - label: HL73", #"        address: "127.0.0.1:4203""#, "        backup: true"])
        #expect(block.contains("        backup: true\n      - label: HL73\n"))
    }

    @Test("changing a server rewrites only its line (one-line item) or only the changed key (block item)")
    func updateServer() throws {
        let flow = try Self.edited(.updateServer(service: "DICOM", server: "DICOM1", .init(label: "DICOM1", address: "127.0.0.1:4101", weight: 7)))
        #expect(Self.changed(Self.file, flow).removed == [#"      - { label: DICOM1, address: "127.0.0.1:4101", weight: 100 }   # node 1"#])
        #expect(Self.changed(Self.file, flow).added == [#"      - { label: DICOM1, address: "127.0.0.1:4101", weight: 7 }   # node 1"#])

        let block = try Self.edited(.updateServer(service: "HL7", server: "HL72", .init(weight: 30, backup: false)))
        #expect(Self.changed(Self.file, block).removed == ["        backup: true"])
        #expect(Self.changed(Self.file, block).added == ["        backup: false", "        weight: 30"], "a new key goes after the item's last")
        #expect(block.contains("        # the second node is a standby\n"), "a comment inside the list stays")

        let renamed = try Self.edited(.updateServer(service: "HL7", server: "HL71", .init(label: "HL7-A", backup: false)))
        #expect(Self.changed(Self.file, renamed).removed == ["      - label: HL71"])
        #expect(Self.changed(Self.file, renamed).added == ["      - label: HL7-A"], "backup: false (the default) is not written")
    }

    @Test("removing a server takes its lines and nothing else; the comment above the next item stays")
    func removeServer() throws {
        let flow = try Self.edited(.removeServer(service: "DICOM", server: "DICOM2"))
        #expect(Self.changed(Self.file, flow).removed == [#"      - { label: DICOM2, address: "127.0.0.1:4102", weight: 100 }"#])
        #expect(Self.changed(Self.file, flow).added == [])

        let block = try Self.edited(.removeServer(service: "HL7", server: "HL72"))
        #expect(Self.changed(Self.file, block).removed == ["      - label: HL72", #"        address: "127.0.0.1:4202""#, "        backup: true"])
        #expect(block.contains("        # the second node is a standby\n# Audit trail."))
    }

    @Test("service keys: set in place, added above servers:, removed; one-line values only")
    func serviceKeys() throws {
        let changed = try Self.edited(
            .setServiceKeys(
                service: "DICOM",
                [.init("balance", "leastconn"), .init("persistence", nil), .init("health_check", "{ type: connect, interval: 2s }")]))
        #expect(Self.changed(Self.file, changed).removed == ["    balance: roundrobin", "    persistence: { type: source-ip, timeout: 30m }"])
        #expect(Self.changed(Self.file, changed).added == ["    balance: leastconn", "    health_check: { type: connect, interval: 2s }"])
        #expect(changed.contains("    listen: \"127.0.0.1:11112\"   # the VIP\n"), "an untouched key keeps its comment")

        #expect(throws: ConfigurationEditError.self) {
            try ConfigurationEdit.setServiceKeys(service: "DICOM", [.init("balance", "leastconn\nextra: 1")]).apply(to: Self.file)
        }
        #expect(throws: ConfigurationEditError.self) {
            try ConfigurationEdit.setServiceKeys(service: "DICOM", [.init("servers", "[]")]).apply(to: Self.file)
        }
    }

    @Test("adding and removing a service")
    func services() throws {
        let added = try Self.edited(
            .addService(label: "DMWL", listen: "127.0.0.1:5104", protocol: "tcp", balance: "roundrobin", firstServer: .init(label: "DMWL1", address: "127.0.0.1:4301")))
        #expect(Self.changed(Self.file, added).removed == [])
        #expect(added.contains("        backup: true\n  - label: DMWL\n    listen: \"127.0.0.1:5104\"\n"))
        let removed = try Self.edited(.removeService(service: "HL7"))
        #expect(!removed.contains("HL71"))
        #expect(removed.contains("#~    listen: \"127.0.0.1:9\"\n\n# Audit trail."), "the comments around it stay")
    }

    @Test("what the editor cannot do it says, naming the line")
    func refusals() {
        let flowList = "services:\n  - label: A\n    listen: \"127.0.0.1:1\"\n    servers: [ { label: A1, address: \"127.0.0.1:2\" } ]\n"
        #expect(throws: ConfigurationEditError.self) {
            try ConfigurationEdit.addServer(service: "A", .init(label: "A2", address: "127.0.0.1:3")).apply(to: flowList)
        }
        #expect(throws: ConfigurationEditError("'services / label=DICOM / servers' has no item with label 'NOPE'")) {
            try ConfigurationEdit.removeServer(service: "DICOM", server: "NOPE").apply(to: Self.file)
        }
    }

    @Test("the page's fields and the edit round-trip")
    func fields() throws {
        let edits: [ConfigurationEdit] = [
            .addServer(service: "S", .init(label: "A", address: "h:1", weight: 5, backup: true)),
            .updateServer(service: "S", server: "A", .init(weight: 0)),
            .removeServer(service: "S", server: "A"),
            .setServiceKeys(service: "S", [.init("balance", "source"), .init("calling_ae_allow", "[CT*]")]),
            .addService(label: "T", listen: "h:2", protocol: "dicom", balance: nil, firstServer: .init(label: "T1", address: "h:3")),
            .removeService(service: "T"),
        ]
        for edit in edits {
            #expect(try ConfigurationEdit(fields: Dictionary(uniqueKeysWithValues: edit.fields)) == edit)
        }
        #expect(throws: ConfigurationEditError.self) { try ConfigurationEdit(fields: ["op": "server.add", "service": "S"]) }
        #expect(throws: ConfigurationEditError.self) { try ConfigurationEdit(fields: ["op": "server.update", "service": "S", "server": "A", "weight": "-1"]) }
    }

    @Test("the diff is diff -u's: hunks with three lines of context and their line numbers")
    func diff() {
        let old = (1...20).map { "line \($0)" }.joined(separator: "\n") + "\n"
        let new = old.replacingOccurrences(of: "line 10\n", with: "line ten\n").replacingOccurrences(of: "line 19\n", with: "")
        let diff = ConfigurationDiff(from: old, to: new)
        #expect(diff.hunks.count == 2)
        #expect(diff.hunks[0].header == "@@ -7,7 +7,7 @@")
        #expect(diff.text.contains("-line 10\n+line ten\n"))
        #expect(diff.hunks[1].lines.filter { $0.kind == .removed }.map(\.text) == ["line 19"])
        #expect(ConfigurationDiff(from: old, to: old).isEmpty)
    }

    // MARK: through the API

    static let bearer: HTTPFields = [.authorization: "Bearer \(AdminHarness.token)", .contentType: "application/json"]

    /// The lines of a diff's text that start with `mark`.
    static func lines(_ diff: Any?, _ mark: String) -> [String] {
        ((diff as? String) ?? "").split(separator: "\n").map(String.init).filter { $0.hasPrefix(mark) }
    }

    static func json(_ object: [String: String]) -> ByteBuffer {
        ByteBuffer(data: (try? JSONSerialization.data(withJSONObject: object)) ?? Data())
    }

    @Test("preview shows the diff and changes nothing; apply keeps a backup, reloads, records; rollback restores it byte for byte")
    func previewApplyRollback() async throws {
        let backends = [try await TestBackend.start("N1"), try await TestBackend.start("N2")]
        let yaml = "# hand-written comment\nservices:\n" + serviceYAML("SVC", port: try Ports.free(), backends: [backends[0]])
        let harness = try await AdminHarness.start(yaml: yaml)
        let add = ["op": "server.add", "service": "SVC", "label": "N2", "address": "127.0.0.1:\(backends[1].port)", "weight": "10"]
        try await harness.application.test(.router) { client in
            let preview = try await client.execute(uri: "/api/v1/config/edits/preview", method: .post, headers: Self.bearer, body: Self.json(add))
            #expect(preview.status == .ok, "\(preview.text)")
            let newLine = "- { label: N2, address: \"127.0.0.1:\(backends[1].port)\", weight: 10 }"
            #expect(Self.lines(preview.json["diff"], "+").contains { $0.hasSuffix(newLine) }, "\(preview.text)")
            #expect(preview.json["acceptable"] as? Bool == true)
            #expect(try String(contentsOfFile: harness.configPath, encoding: .utf8) == yaml, "a preview changes nothing")
            let base = try #require(preview.json["base"] as? String)

            // A stale base is refused: the file changed since the preview.
            var stale = add
            stale["base"] = "sha256:00"
            let refused = try await client.execute(uri: "/api/v1/config/edits", method: .post, headers: Self.bearer, body: Self.json(stale))
            #expect(refused.status == .conflict, "\(refused.text)")

            var apply = add
            apply["base"] = base
            let applied = try await client.execute(uri: "/api/v1/config/edits", method: .post, headers: Self.bearer, body: Self.json(apply))
            #expect(applied.status == .ok, "\(applied.text)")
            #expect(applied.json["changed"] as? [String] == ["SVC"], "\(applied.text)")
            let file = try String(contentsOfFile: harness.configPath, encoding: .utf8)
            #expect(file.hasPrefix("# hand-written comment\n"))
            #expect(file.contains("label: N2"))
            #expect(await harness.gateway.service("SVC")?.pool.snapshot().map(\.label) == ["N1", "N2"], "applied as a reload")

            let list = try await client.execute(uri: "/api/v1/config/backups", method: .get, headers: Self.bearer)
            let backups = try #require(list.json["backups"] as? [[String: Any]])
            #expect(backups.count == 1)
            let name = try #require(backups.first?["name"] as? String)
            #expect(try String(contentsOfFile: harness.directory.appendingPathComponent("backups/\(name)").path, encoding: .utf8) == yaml)

            // An edit the loader refuses (a bad address) is shown with its problems.
            let bad = ["op": "server.update", "service": "SVC", "server": "N2", "address": "nowhere", "base": base]
            let badPreview = try await client.execute(uri: "/api/v1/config/edits/preview", method: .post, headers: Self.bearer, body: Self.json(bad))
            #expect(badPreview.status == .unprocessableContent)
            #expect((badPreview.json["problems"] as? [String])?.first?.contains("nowhere") == true, "\(badPreview.text)")

            // Rolling back to the backup: the file is the original again and the gateway runs it.
            let rollbackPreview = try await client.execute(
                uri: "/api/v1/config/rollback/preview", method: .post, headers: Self.bearer, body: Self.json(["backup": name]))
            #expect(Self.lines(rollbackPreview.json["diff"], "-").contains { $0.hasSuffix(newLine) }, "\(rollbackPreview.text)")
            let rollbackBase = try #require(rollbackPreview.json["base"] as? String)
            let rolledBack = try await client.execute(
                uri: "/api/v1/config/rollback", method: .post, headers: Self.bearer, body: Self.json(["backup": name, "base": rollbackBase]))
            #expect(rolledBack.status == .ok, "\(rolledBack.text)")
            #expect(try String(contentsOfFile: harness.configPath, encoding: .utf8) == yaml)
            #expect(await harness.gateway.service("SVC")?.pool.snapshot().map(\.label) == ["N1"])

            // A name that is not a backup (a path) is refused.
            let traversal = try await client.execute(
                uri: "/api/v1/config/rollback", method: .post, headers: Self.bearer,
                body: Self.json(["backup": "../pacsgate.yaml", "base": rollbackBase]))
            #expect(traversal.status == .conflict)

            // Below admin: refused.
            let operate: HTTPFields = [.authorization: "Bearer \(AdminHarness.scopedTokens[.operate] ?? "")", .contentType: "application/json"]
            #expect(try await client.execute(uri: "/api/v1/config/edits", method: .post, headers: operate, body: Self.json(apply)).status == .forbidden)
        }
        let changes = harness.auditRecords("admin.change")
        let applied = changes.filter { $0["result"] as? String == "applied" }
        #expect(applied.map { $0["what"] as? String } == ["config.edit", "config.rollback"])
        #expect(applied.first?["edit"] as? String == "server.add SVC/N2")
        #expect(applied.first?["user"] as? String == "token:ci")
        #expect(applied.first?["backup"] as? String != nil)
        let refusals = changes.filter { $0["result"] as? String == "refused" }
        #expect(refusals.count == 2, "the stale base and the unknown backup")
        #expect(refusals.allSatisfy { ($0["edit"] as? String) != nil })
        await harness.stop()
        for backend in backends { await backend.kill() }
    }

    @Test("an HA secondary refuses an edit in the preview and on apply, with the gate's message")
    func secondaryRefuses() async throws {
        let backend = try await TestBackend.start("N1")
        let harness = try await AdminHarness.start(yaml: "services:\n" + serviceYAML("SVC", port: try Ports.free(), backends: [backend]))
        await harness.manager.setGate(
            .init(
                file: { proposed, running, forced in proposed == running || forced ? nil : "this unit is the HA secondary: make the change on the primary" },
                runtime: { _ in nil }))
        let edit = ConfigurationEdit.updateServer(service: "SVC", server: "N1", .init(weight: 5))
        let preview = await harness.manager.preview(edit)
        #expect(preview.refusal?.contains("HA secondary") == true)
        #expect(!preview.acceptable)
        let outcome = await harness.manager.applyEdit(edit, base: preview.base, by: "alice")
        #expect(!outcome.applied)
        #expect(outcome.message.contains("make the change on the primary"))
        #expect(!(try String(contentsOfFile: harness.configPath, encoding: .utf8)).contains("weight: 5"))
        await harness.stop()
        await backend.kill()
    }

    @Test("the page's forms: a session's CSRF token is required; preview shows the diff, apply changes the file")
    func pageForms() async throws {
        let backends = [try await TestBackend.start("N1"), try await TestBackend.start("N2")]
        let harness = try await AdminHarness.start(yaml: "services:\n" + serviceYAML("SVC", port: try Ports.free(), backends: [backends[0]]))
        try await harness.application.test(.router) { client in
            let session = try await AdminAPITests.login(client)
            var headers = session.headers
            headers[.contentType] = "application/x-www-form-urlencoded"
            let add = ["op": "server.add", "service": "SVC", "label": "N2", "address": "127.0.0.1:\(backends[1].port)"]
            let forged = try await client.execute(uri: "/config/preview", method: .post, headers: headers, body: AdminAPITests.form(add))
            #expect(forged.status == .forbidden, "no CSRF token")

            let page = try await client.execute(uri: "/config", method: .get, headers: session.headers)
            #expect(page.text.contains("data-service=\"SVC\""))
            #expect(page.text.contains("data-server=\"N1\""))

            var fields = add
            fields["csrf"] = session.csrf
            let preview = try await client.execute(uri: "/config/preview", method: .post, headers: headers, body: AdminAPITests.form(fields))
            #expect(preview.status == .ok)
            #expect(preview.text.contains("<span class=\"diff-added\">+"), "\(preview.text)")
            let marker = "name=\"base\" value=\""
            let start = try #require(preview.text.range(of: marker)?.upperBound)
            fields["base"] = String(preview.text[start...].prefix { $0 != "\"" })

            let applied = try await client.execute(uri: "/config/apply", method: .post, headers: headers, body: AdminAPITests.form(fields))
            #expect(applied.status == .ok)
            #expect(applied.text.contains("configuration applied"), "\(applied.text)")
            #expect(applied.text.contains("data-server=\"N2\""), "the page shows the new server")
            #expect(try String(contentsOfFile: harness.configPath, encoding: .utf8).contains("label: N2"))
            #expect(applied.text.contains("class=\"config-backup\""), "the backup is listed")
        }
        #expect(harness.auditRecords("admin.change").last?["user"] as? String == "alice")
        await harness.stop()
        for backend in backends { await backend.kill() }
    }

    @Test("version and commit: in /api/v1/overview and in every page's footer")
    func version() async throws {
        let backend = try await TestBackend.start("N1")
        let harness = try await AdminHarness.start(yaml: "services:\n" + serviceYAML("SVC", port: try Ports.free(), backends: [backend]))
        #expect(!PacsgateVersion.commit.isEmpty)
        try await harness.application.test(.router) { client in
            let overview = try await client.execute(uri: "/api/v1/overview", method: .get, headers: Self.bearer)
            #expect(overview.json["version"] as? String == PacsgateVersion.version)
            #expect(overview.json["commit"] as? String == PacsgateVersion.commit)
            let session = try await AdminAPITests.login(client)
            for uri in ["/", "/config", "/logs", "/audit"] {
                let page = try await client.execute(uri: uri, method: .get, headers: session.headers)
                #expect(
                    page.text.contains("pacsgate \(PacsgateVersion.version) · commit <code>\(PacsgateVersion.commit)</code>"),
                    "the footer of \(uri)")
            }
        }
        await harness.stop()
        await backend.kill()
    }

    @Test("a protocol's own key (a DICOM AE allow-list) set in the page is validated as pacsgate check-config validates the file")
    func protocolKeysValidatedAsCheckConfig() async throws {
        let loader = ConfigurationLoader(registry: ProtocolRegistry.gateway([DICOMModule()]))
        let file = "services:\n  - label: DICOM\n    listen: \"127.0.0.1:11112\"\n    protocol: dicom\n    servers:\n      - { label: N1, address: \"127.0.0.1:4101\" }\n"
        let good = try ConfigurationEdit.setServiceKeys(service: "DICOM", [.init("calling_ae_allow", "[CT_*, MR_3T]")]).apply(to: file)
        #expect(Self.changed(file, good).added == ["    calling_ae_allow: [CT_*, MR_3T]"])
        guard case .success = ConfigurationManager.validate(good, loader: loader) else {
            Issue.record("a valid allow-list is refused")
            return
        }
        // An entry the DICOM module refuses: the page's problems are check-config's, line for line.
        let bad = try ConfigurationEdit.setServiceKeys(service: "DICOM", [.init("calling_ae_allow", "[{ ae: CT1, color: red }]")]).apply(to: file)
        guard case .failure(let errors) = ConfigurationManager.validate(bad, loader: loader) else {
            Issue.record("an allow-list entry with an unknown key is accepted")
            return
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pacsgate-edit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("pacsgate.yaml").path
        try bad.write(toFile: path, atomically: true, encoding: .utf8)
        let checked = try await ExternalTools.run(try GatewayUnderTest.executable, ["check-config", path])
        #expect(checked.status != 0)
        let problems = errors.formatted(file: path).split(separator: "\n").map(String.init)
        #expect(!problems.isEmpty)
        for problem in problems {
            #expect((checked.standardOutput + checked.standardError).contains(problem), "check-config: \(checked.standardOutput) \(checked.standardError)")
        }
    }
}

import Foundation
import Testing

#if canImport(Glibc)
import Glibc
import PacsgateTestSupport
#endif

/// Must show 1: the real `pacsgate run` with `audit.syslog` over TLS (mutual authentication) to a real rsyslog;
/// dcmtk's echoscu, a refused AE, an HL7 NAK and an admin login failure each arrive schema-valid with the right codes
/// and participants.
@Suite("pacsgate run exports to rsyslog", .serialized)
struct GatewayExportTests {
    @Test("an echoscu association, a refused AE, an HL7 NAK and an admin login failure reach rsyslog over mutual TLS")
    func fourEvents() async throws {
        let directory = try Tools.temporaryDirectory("gateway")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try await TestCertificates.make(in: directory)
        let syslogPort = try Ports.free()
        let repository = Rsyslog(
            directory: "\(directory)/rsyslog", port: syslogPort, tls: (certificates.ca, certificates.server, certificates.serverKey))
        try await repository.start()
        defer { repository.stop() }

        // Backends: dcmtk's storescp answers C-ECHO as MACH7; the HL7 service refuses its input before forwarding.
        let dicomBackendPort = try Ports.free()
        let storescp = try ExportPeers.storescp(port: dicomBackendPort, directory: directory)
        defer { terminate(storescp) }
        #expect(await eventually { canConnect(port: dicomBackendPort) }, "storescp did not start")

        let dicomPort = try Ports.free()
        let hl7Port = try Ports.free()
        let adminPort = try Ports.free()
        let yaml = """
            services:
              - label: DICOM
                listen: "127.0.0.1:\(dicomPort)"
                protocol: dicom
                calling_ae_allow: [ECHOSCU]
                servers: [{ label: DICOM1, address: "127.0.0.1:\(dicomBackendPort)" }]
              - label: HL7
                listen: "127.0.0.1:\(hl7Port)"
                protocol: hl7
                servers: [{ label: HL71, address: "127.0.0.1:\(dicomBackendPort)" }]
            state_dir: "\(directory)"
            audit:
              path: "\(directory)/audit.jsonl"
              syslog:
                address: "127.0.0.1:\(syslogPort)"
                transport: tls
                ca_file: "\(certificates.ca)"
                certificate: "\(certificates.client)"
                key: "\(certificates.clientKey)"
                site_id: TESTSITE
                source_id: pacsgate-it
            admin:
              listen: "127.0.0.1:\(adminPort)"
              tls: off

            """
        let configPath = "\(directory)/pacsgate.yaml"
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        let check = try await Tools.run(try GatewayUnderTest.executable, ["check-config", configPath])
        #expect(check.status == 0, "check-config: \(check.standardError)")

        let (gateway, gatewayLog) = try ExportPeers.gateway(config: configPath, directory: directory)
        defer { terminate(gateway) }
        let up = await eventually { canConnect(port: dicomPort) && canConnect(port: hl7Port) && canConnect(port: adminPort) }
        try #require(up, "pacsgate did not start: \(gatewayLog())")

        // 1. An association through the gateway, 2. a refused calling AE.
        let echo = try await Tools.run("/usr/bin/echoscu", ["-aet", "ECHOSCU", "-aec", "MACH7", "127.0.0.1", String(dicomPort)])
        #expect(echo.status == 0, "echoscu: \(echo.standardError)")
        let refused = try await Tools.run("/usr/bin/echoscu", ["-aet", "INTRUDER", "-aec", "MACH7", "127.0.0.1", String(dicomPort)])
        #expect(refused.status != 0, "the gateway refuses INTRUDER")

        // 3. An MLLP frame that is not an HL7 message: the gateway answers with a NAK.
        let nak = try await Tools.run(
            "/usr/bin/python3",
            [
                "-c",
                """
                import socket, sys
                s = socket.create_connection(("127.0.0.1", \(hl7Port)), timeout=10)
                s.sendall(b"\\x0bNOT AN HL7 MESSAGE\\x1c\\x0d")
                data = b""
                while b"\\x1c\\x0d" not in data:
                    chunk = s.recv(4096)
                    if not chunk: break
                    data += chunk
                sys.stdout.write(data.decode("latin-1"))
                """,
            ])
        #expect(nak.standardOutput.contains("MSA|AE") || nak.standardOutput.contains("MSA|AR"), "NAK: \(nak.standardOutput) \(nak.standardError)")

        // 4. A failed admin login (the form's CSRF cookie first).
        let jar = "\(directory)/cookies"
        let form = try await Tools.run("/usr/bin/curl", ["-sS", "-c", jar, "http://127.0.0.1:\(adminPort)/login"])
        let csrf = try #require(form.standardOutput.range(of: #"name="csrf" value=""#).map { range in
            String(form.standardOutput[range.upperBound...].prefix { $0 != "\"" })
        }, "no CSRF token in the login form")
        let login = try await Tools.run(
            "/usr/bin/curl",
            ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-b", jar, "--data-urlencode", "user=mallory", "--data-urlencode",
             "password=wrong", "--data-urlencode", "csrf=\(csrf)", "http://127.0.0.1:\(adminPort)/login"])
        #expect(login.standardOutput == "401", "login: \(login.standardOutput) \(login.standardError)")

        func arrived(_ markers: [String]) -> String? {
            repository.received.first { line in markers.allSatisfy { line.contains($0) } }
        }
        let association = [#"csd-code="110108""#, #"UserID="ECHOSCU" AlternativeUserID="AETITLES=ECHOSCU" UserIsRequestor="true" NetworkAccessPointID="127.0.0.1" NetworkAccessPointTypeCode="2""#, #"UserID="MACH7" AlternativeUserID="AETITLES=MACH7" UserIsRequestor="false""#, #"EventOutcomeIndicator="0""#]
        let rejected = [#"csd-code="110113""#, #"csd-code="110132""#, #"AETITLES=INTRUDER"#, #"EventOutcomeIndicator="4""#, #"ParticipantObjectIDTypeCode csd-code="110182""#]
        let hl7 = [#"csd-code="110113""#, #"csd-code="PROTOCOL-ERROR""#, "HL7: not_msh", #"NetworkAccessPointID="127.0.0.1""#]
        let adminLogin = [#"csd-code="110114""#, #"csd-code="110122""#, #"UserID="(unknown user)""#, #"EventOutcomeIndicator="4""#]
        let start = [#"csd-code="110100""#, #"csd-code="110120""#]
        let all = await eventually { [association, rejected, hl7, adminLogin, start].allSatisfy { arrived($0) != nil } }
        #expect(all, "received: \(repository.received.joined(separator: "\n"))\ngateway: \(gatewayLog())\nrsyslog: \(repository.diagnostics)")
        var documents: [String] = []
        for markers in [association, rejected, hl7, adminLogin, start] {
            guard let line = arrived(markers) else { continue }
            #expect(line.contains(" pacsgate-it pacsgate "), "HOSTNAME and APP-NAME")
            #expect(line.contains(#"AuditEnterpriseSiteID="TESTSITE" AuditSourceID="pacsgate-it""#))
            if let xml = auditXML(ofSyslog: line) { documents.append(xml) } else { Issue.record("not PRI 85 / IHE+RFC-3881: \(line)") }
        }
        let complaints = try await Tools.validate(documents)
        #expect(complaints.isEmpty, "\(complaints)")

        // The alarm banner: log in as the generated admin user, take the repository down, read the overview.
        let password = try #require(gatewayLog().range(of: #"password '[^']+'"#, options: .regularExpression).map {
            String(gatewayLog()[$0].dropFirst("password '".count).dropLast())
        }, "no generated admin password in the log")
        let session = "\(directory)/session"
        let loginForm = try await Tools.run("/usr/bin/curl", ["-sS", "-c", session, "http://127.0.0.1:\(adminPort)/login"])
        let sessionCSRF = loginForm.standardOutput.range(of: #"name="csrf" value=""#).map { range in
            String(loginForm.standardOutput[range.upperBound...].prefix { $0 != "\"" })
        } ?? ""
        let loggedIn = try await Tools.run(
            "/usr/bin/curl",
            ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-b", session, "-c", session, "--data-urlencode", "user=admin",
             "--data-urlencode", "password=\(password)", "--data-urlencode", "csrf=\(sessionCSRF)", "http://127.0.0.1:\(adminPort)/login"])
        #expect(loggedIn.standardOutput.hasPrefix("30"), "login: \(loggedIn.standardOutput)")
        let overview = { () async throws -> String in
            try await Tools.run("/usr/bin/curl", ["-sS", "-b", session, "http://127.0.0.1:\(adminPort)/fragment/overview"]).standardOutput
        }
        #expect(try await !overview().contains("Audit repository"), "no banner while connected")
        repository.stop()
        let banner = try await eventually { try await overview().contains("Audit repository 127.0.0.1:\(syslogPort) unreachable") }
        let shown = try await overview()
        #expect(banner, "overview: \(shown.prefix(500))")
        try await repository.start()
        #expect(try await eventually { try await !overview().contains("Audit repository") }, "the banner goes once the spool is sent")

        // The stop: Application Stop arrives before the gateway exits.
        terminate(gateway, grace: 20)
        #expect(await eventually(timeout: .seconds(10)) { arrived([#"csd-code="110121""#]) != nil }, "Application Stop")
    }
}

import Foundation
import PacsgateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 19's must show 5: the ATNA messages of a TLS DICOM service carry the client certificate's identity — a
/// forwarded association (Network Entry, the calling AE's participant names the certificate) and a refused handshake
/// (Security Alert, Node Authentication 110126, the certificate that was refused) — sent by the real `pacsgate run`
/// to a real rsyslog over mutual TLS, as the other export tests run it.
@Suite("pacsgate run exports TLS identities to rsyslog", .serialized)
struct SecureTransportExportTests {
    @Test("a TLS association and a refused client certificate reach rsyslog with the certificate identity")
    func certificateIdentities() async throws {
        let directory = try Tools.temporaryDirectory("secure")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try await TestCertificates.make(in: directory)
        let syslogPort = try Ports.free()
        let repository = Rsyslog(
            directory: "\(directory)/rsyslog", port: syslogPort, tls: (certificates.ca, certificates.server, certificates.serverKey))
        try await repository.start()
        defer { repository.stop() }

        // The hospital's PKI for DICOM: the gateway's certificate, a modality's, and one from a CA nobody trusts.
        let ca = try await TestCA.make("Test Hospital CA", in: directory)
        let other = try await TestCA.make("Other CA", in: directory)
        let gatewayPair = try await ca.issue("gateway", commonName: "pacsgate.test", alternativeNames: ["DNS:pacsgate.test"])
        let modality = try await ca.issue(
            "ct1", commonName: "ct1.hospital.example", alternativeNames: ["DNS:ct1.hospital.example"], usage: .client)
        let rogue = try await other.issue(
            "rogue", commonName: "ct1.hospital.example", alternativeNames: ["DNS:ct1.hospital.example"], usage: .client)

        let backendPort = try Ports.free()
        let storescp = try ExportPeers.storescp(port: backendPort, directory: directory)
        defer { terminate(storescp) }
        #expect(await eventually { canConnect(port: backendPort) }, "storescp did not start")

        let dicomPort = try Ports.free()
        let yaml = """
            services:
              - label: DICOM-TLS
                listen: "127.0.0.1:\(dicomPort)"
                protocol: dicom
                tls:
                  certificate: \(gatewayPair.certificate)
                  key: \(gatewayPair.key)
                  client_auth: required
                  client_ca_file: \(ca.certificate)
                servers: [{ label: DICOM1, address: "127.0.0.1:\(backendPort)" }]
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

            """
        let configPath = "\(directory)/pacsgate.yaml"
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        let (gateway, gatewayLog) = try ExportPeers.gateway(config: configPath, directory: directory)
        defer { terminate(gateway) }
        try #require(await eventually { canConnect(port: dicomPort) }, "pacsgate did not start: \(gatewayLog())")

        func echo(_ pair: TestCA.Pair) async throws -> Tools.Output {
            try await Tools.run(
                "/usr/bin/echoscu",
                ["+tls", pair.key, pair.certificate, "+cf", ca.certificate, "-aet", "CT_SCANNER1", "-aec", "MACH7", "127.0.0.1",
                 String(dicomPort)])
        }
        let accepted = try await echo(modality)
        #expect(accepted.status == 0, "echoscu: \(accepted.standardError)")
        let refused = try await echo(rogue)
        #expect(refused.status != 0, "the rogue certificate was let through")

        let modalityFingerprint = try await TestCA.fingerprint(modality.certificate)
        let rogueFingerprint = try await TestCA.fingerprint(rogue.certificate)
        func arrived(_ markers: [String]) -> String? {
            repository.received.first { line in markers.allSatisfy { line.contains($0) } }
        }
        let association = [
            #"csd-code="110108""#,
            #"UserID="CT_SCANNER1" AlternativeUserID="AETITLES=CT_SCANNER1" UserName="O=Radiology,CN=ct1.hospital.example (SAN DNS:ct1.hospital.example; SHA-256 \#(modalityFingerprint))" UserIsRequestor="true""#,
            #"EventOutcomeIndicator="0""#,
        ]
        let nodeAuthentication = [
            #"csd-code="110113""#, #"csd-code="110126""#, #"EventOutcomeIndicator="4""#,
            #"UserID="O=Radiology,CN=ct1.hospital.example" AlternativeUserID="SHA256=\#(rogueFingerprint)""#,
            #"UserIsRequestor="true" NetworkAccessPointID="127.0.0.1""#,
        ]
        let all = await eventually { [association, nodeAuthentication].allSatisfy { arrived($0) != nil } }
        #expect(all, "received: \(repository.received.joined(separator: "\n"))\ngateway: \(gatewayLog())\nrsyslog: \(repository.diagnostics)")
        var documents: [String] = []
        for markers in [association, nodeAuthentication] {
            guard let line = arrived(markers), let xml = auditXML(ofSyslog: line) else { continue }
            documents.append(xml)
        }
        // The alert's description is the refusal reason, base64 in its ParticipantObjectDetail.
        if let alert = documents.last {
            let reason = "certificate not issued by a CA of client_ca_file (issuer CN=Other CA)"
            #expect(alert.contains(Data(reason.utf8).base64EncodedString()), "\(alert)")
        }
        let complaints = try await Tools.validate(documents)
        #expect(complaints.isEmpty, "\(complaints)")
    }
}

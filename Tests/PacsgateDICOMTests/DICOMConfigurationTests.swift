import NIOCore
import PacsgateConfig
import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateDICOM

/// The DICOM keys as `check-config` reads them: defaults, every form, and every mistake with its line.
@Suite struct DICOMConfigurationTests {
    private func load(_ service: String, healthCheck: String = "") -> ConfigurationLoader.Outcome {
        let yaml = """
            services:
              - label: DICOM
                listen: "127.0.0.1:11112"
                protocol: dicom
                servers:
                  - { label: DICOM1, address: "127.0.0.1:4001" }
                  - { label: DICOM2, address: "127.0.0.1:4002" }
            \(service)
            \(healthCheck)
            """
        return ConfigurationLoader(registry: ProtocolRegistry.gateway([DICOMModule()])).load(yaml: yaml)
    }

    private func settings(_ service: String) throws -> DICOMServiceSettings {
        let (configuration, _) = try self.load(service).get()
        let handler = try #require(configuration.services.first?.protocolHandler as? DICOMServiceProtocol)
        return handler.settings
    }

    private func problems(_ service: String, healthCheck: String = "") -> [ConfigProblem] {
        guard case .failure(let errors) = self.load(service, healthCheck: healthCheck) else {
            Issue.record("configuration was accepted")
            return []
        }
        return errors.problems
    }

    @Test func defaults() throws {
        let (configuration, _) = try self.load("").get()
        let service = try #require(configuration.services.first)
        let settings = try #require(service.protocolHandler as? DICOMServiceProtocol).settings
        #expect(settings.maxPDUPeek == 65536)
        #expect(settings.policy == AEPolicy())
        #expect(service.timeouts.idle == .seconds(1800))
        #expect(service.timeouts.peek == .seconds(10))
    }

    @Test func everyKeyAndForm() throws {
        let settings = try self.settings(
            """
                max_pdu_peek: 16KiB
                persistence: { type: calling-ae, timeout: 1h }
                calling_ae_allow:
                  - CT01
                  - "US*"
                  - { ae: "MR*", from: [10.1.2.0/24, 10.1.3.7] }
                  - { from: "fd00::/8" }
                called_ae_allow: MACH7
                routes:
                  - { called_ae: MACH7-A, servers: [DICOM1] }
                  - { called_ae: "MACH7-*", servers: [DICOM1, DICOM2] }
            """
        )
        #expect(settings.maxPDUPeek == 16384)
        let calling = try #require(settings.policy.callingAllow).rules
        #expect(calling.map(\.description) == ["CT01", "US*", "MR* from 10.1.2.0/24,10.1.3.7", "* from fd00::/8"])
        #expect(try #require(settings.policy.calledAllow).rules.map(\.description) == ["MACH7"])
        #expect(settings.policy.routes.map(\.calledAE.text) == ["MACH7-A", "MACH7-*"])
        #expect(settings.policy.routes.map(\.servers) == [["DICOM1"], ["DICOM1", "DICOM2"]])
    }

    @Test func callingAEPersistenceIsAKnownType() throws {
        let (configuration, _) = try self.load("    persistence: calling-ae").get()
        #expect(configuration.services.first?.persistence.type == "calling-ae")
    }

    @Test func mistakesAreReportedWithTheirLines() {
        let problems = self.problems(
            """
                max_pdu_peek: 100
                calling_ae_allow:
                  - "BAD\\\\AE"
                  - { ae: "ABCDEFGHIJKLMNOPQ" }
                  - { ae: CT01, from: [10.1.2.0/33] }
                  - { ae: CT02, form: 10.0.0.0/8 }
                  - { }
                called_ae_allow: []
                routes:
                  - { called_ae: MACH7-A, servers: [DICOM9] }
                  - { called_ae: MACH7-B }
                  - { servers: [DICOM1] }
            """
        )
        let text = problems.map(\.description)
        let expected = [
            "8: service 'DICOM': bad size '100' for 'max_pdu_peek' (use e.g. 64KiB, 4MiB; 1024…1048576 bytes)",
            "10: service 'DICOM': calling_ae_allow[0]: AE title 'BAD\\x5CAE' contains byte 0x5C, which no AE title may contain",
            "11: service 'DICOM': calling_ae_allow[1]: AE title 'ABCDEFGHIJKLMNOPQ' has 17 characters besides '*' (an AE title has at most 16)",
            "12: service 'DICOM': calling_ae_allow[2]: '10.1.2.0/33' is not a client network (use e.g. 10.1.2.0/24, 10.1.2.7 or fd00::/8)",
            "13: service 'DICOM': calling_ae_allow[3]: unknown key 'form' (known keys: ae, certificate, from)",
            "14: service 'DICOM': calling_ae_allow[4]: give 'ae' (a title or pattern), 'from' (client networks), 'certificate' or a combination",
            "15: service 'DICOM': 'called_ae_allow' is empty; remove the key to allow every AE title",
            "17: service 'DICOM': routes[0]: no server 'DICOM9' in this service (servers: DICOM1, DICOM2)",
            "18: service 'DICOM': routes[1]: 'servers' must list at least one server label",
            "19: service 'DICOM': routes[2]: missing required key 'called_ae'",
        ]
        for line in expected {
            #expect(text.contains(line), "missing problem: \(line)\nall: \(text.joined(separator: "\n"))")
        }
        #expect(text.count == expected.count, "\(text.joined(separator: "\n"))")
    }

    @Test func certificateBindingsAndTLSNeedTheTLSModuleAndClientAuthentication() {
        // This registry has the DICOM module without TLS: 'tls' is refused with a reason, and a binding cannot be
        // checked against a termination that does not exist (its own mistakes are still reported).
        let problems = self.problems(
            """
                tls: { certificate: /etc/gw.crt, key: /etc/gw.key }
                calling_ae_allow:
                  - { ae: CT_SCANNER1, certificate: { san: ct1.hospital.example } }
                  - { ae: MR1, certificate: { fingerprint: "12:34" } }
            """
        ).map(\.description)
        #expect(
            problems == [
                "8: service 'DICOM': 'tls' is not available: this gateway is built without TLS",
                "11: service 'DICOM': calling_ae_allow[1]: certificate 'fingerprint' must be a SHA-256 fingerprint (64 hex digits, colons allowed), as openssl x509 -noout -fingerprint -sha256 prints it",
            ],
            "\(problems.joined(separator: "\n"))"
        )
        let plain = self.problems(
            """
                calling_ae_allow:
                  - { ae: CT_SCANNER1, certificate: { san: ct1.hospital.example } }
            """
        ).map(\.description)
        #expect(
            plain == [
                "9: service 'DICOM': calling_ae_allow[0]: 'certificate' needs client certificates: add 'tls:' with client_auth: required (or optional) to the service"
            ],
            "\(plain.joined(separator: "\n"))"
        )
    }

    @Test func unknownDICOMKeysAreStillReported() {
        let problems = self.problems("    calling_ae_alow: [CT01]")
        #expect(problems.contains { $0.line == 8 && $0.message.contains("unknown key 'calling_ae_alow'") })
    }

    @Test func dicomEchoHealthCheckKeys() throws {
        let (configuration, _) = try self.load(
            "",
            healthCheck: "    health_check: { type: dicom-echo, calling_ae: GW-HEALTH, called_ae: MACH7, interval: 5s }"
        ).get()
        let health = try #require(configuration.services.first?.healthCheck)
        #expect(health.type == "dicom-echo")
        let check = try #require(health.check as? DICOMEchoHealthCheck)
        #expect(check.configuration.callingAETitle == (try AETitle("GW-HEALTH")))
        #expect(check.configuration.calledAETitle == (try AETitle("MACH7")))

        let defaulted = try self.load("", healthCheck: "    health_check: { type: dicom-echo, called_ae: MACH7 }").get()
        let defaultCheck = try #require(defaulted.0.services.first?.healthCheck.check as? DICOMEchoHealthCheck)
        #expect(defaultCheck.configuration.callingAETitle == (try AETitle("PACSGATE")))
    }

    @Test func dicomEchoHealthCheckMistakes() {
        let missing = self.problems("", healthCheck: "    health_check: { type: dicom-echo }")
        #expect(missing.map(\.description) == ["9: service 'DICOM' health_check: missing required key 'called_ae'"])
        let bad = self.problems("", healthCheck: "    health_check: { type: dicom-echo, called_ae: \"A\\\\B\" }")
        #expect(bad.count == 1)
        #expect(
            bad.first?.message.contains("'called_ae' is not a valid AE title: AE title has forbidden byte 0x5C") == true
        )
    }
}

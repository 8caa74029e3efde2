import NIOCore
import PacsgateAuditRecords
import PacsgateConfig
import PacsgateTestSupport
import Testing

@testable import PacsgateCore
@testable import PacsgateHL7

/// `sender_allow`: MSH-3/MSH-4 allowed to send, optionally bound to a client certificate — reading (every mistake with
/// its exact words), matching, and the AR NAK the state machine answers with.
@Suite("HL7 sender_allow")
struct HL7SenderPolicyTests {
    static let certificate = PeerCertificate.sample("ris.hospital.example")
    static let other = PeerCertificate.sample("lab.hospital.example", subject: "CN=lab.hospital.example", fingerprint: "CD")

    static let policy = HL7SenderPolicy([
        .init(
            application: HL7FieldPattern("RIS"), facility: HL7FieldPattern("HOSP"),
            certificate: CertificateRequirement(.subjectAlternativeName(nil, "ris.hospital.example"))),
        .init(application: HL7FieldPattern("LAB*"), facility: HL7FieldPattern("*")),
    ])

    static func summary(_ application: String, _ facility: String) -> HL7MessageSummary {
        HL7MessageSummary(
            sendingApplication: application, sendingFacility: facility, receivingApplication: "PACS",
            receivingFacility: "MACH7", messageType: "ORM^O01", controlID: "C1", version: "2.5.1")
    }

    @Test("patterns: * matches any run; exact values are case-sensitive")
    func patterns() {
        for (pattern, value, expected) in [
            ("RIS", "RIS", true), ("RIS", "ris", false), ("RIS", "RIS2", false), ("*", "", true), ("LAB*", "LAB", true),
            ("LAB*", "LAB^1.2^ISO", true), ("*^ISO", "LAB^1.2^ISO", true), ("A*B*C", "AxxBxxC", true), ("A*B*C", "ACB", false),
            ("A*A", "A", false),
        ] {
            #expect(HL7FieldPattern(pattern).matches(value) == expected, "\(pattern) vs \(value)")
        }
    }

    @Test("a bound sender needs its certificate; unbound ones any client; others are not listed")
    func refusals() {
        let policy = Self.policy
        #expect(policy.refusal(for: Self.summary("RIS", "HOSP"), certificate: Self.certificate) == nil)
        #expect(
            policy.refusal(for: Self.summary("RIS", "HOSP"), certificate: Self.other)
                == "sending application RIS facility HOSP is bound to a client certificate with SAN ris.hospital.example; "
                + "the client's certificate is CN=lab.hospital.example (SAN DNS:lab.hospital.example)"
        )
        #expect(
            policy.refusal(for: Self.summary("RIS", "HOSP"), certificate: nil)
                == "sending application RIS facility HOSP is bound to a client certificate with SAN ris.hospital.example; "
                + "the client presented no certificate"
        )
        #expect(policy.refusal(for: Self.summary("LAB-A", "ANY"), certificate: nil) == nil)
        #expect(
            policy.refusal(for: Self.summary("RIS", "OTHER"), certificate: Self.certificate)
                == "sending application RIS facility OTHER not on sender_allow"
        )
    }

    @Test("the state machine answers a refused sender with an AR NAK and forwards nothing")
    func nak() throws {
        var machine = HL7StreamStateMachine(
            configuration: .init(settings: HL7ServiceSettings(senders: Self.policy)), connectionTag: "T")
        machine.clientCertificate = Self.other
        _ = machine.peek(ByteBuffer(string: "\u{0B}MSH|\r"))
        let ris = "MSH|^~\\&|RIS|HOSP|PACS|MACH7|20250101115959||ORM^O01^ORM_O01|R1|P|2.5.1\rPID|1||X\r"
        let lab = "MSH|^~\\&|LAB-A|HOSP|PACS|MACH7|20250101115959||ORU^R01^ORU_R01|L1|P|2.5.1\rPID|1||X\r"
        var chunk = ByteBuffer.framed(ris)
        chunk.writeImmutableBuffer(.framed(lab))
        var actions: [HL7StreamStateMachine.UpstreamAction] = []
        while let action = machine.nextUpstreamAction(
            from: &chunk, now: HL7StreamStateMachineTests.start, time: HL7StreamStateMachineTests.noon)
        {
            actions.append(action)
        }
        #expect(HL7StreamStateMachineTests.forwardedIDs(actions) == ["L1"])
        guard case .reject(let rejected, let nak?, let close) = actions.first else {
            Issue.record("expected a rejection first: \(actions)")
            return
        }
        #expect(!close)
        #expect(rejected.reason == .senderNotAllowed)
        #expect(rejected.response == .negativeAcknowledgment(.applicationReject))
        #expect(rejected.summary?.controlID == "R1")
        let text = String(buffer: nak)
        #expect(text.contains("\rMSA|AR|R1\r"), "\(text)")
        #expect(text.contains("ERR|||207^Application internal error^HL70357|E|||sending application RIS facility HOSP is bound"), "\(text)")
        #expect(machine.statistics.rejected == 1)
    }

    @Test("configuration: every form, and every mistake with its line")
    func configuration() throws {
        let (_, settings) = try HL7ModuleConfigurationTests.settings(
            HL7ModuleConfigurationTests.load(
                """
                    sender_allow:
                      - { sending_app: "LAB*" }
                      - { sending_app: RIS, sending_facility: HOSP }
                """
            )
        )
        #expect(try #require(settings.senders).rules.map(\.description) == ["LAB*/*", "RIS/HOSP"])

        guard
            case .failure(let errors) = HL7ModuleConfigurationTests.load(
                """
                    sender_allow:
                      - { sending_facility: HOSP }
                      - { sending_app: RIS, certificate: { san: ris.hospital.example } }
                      - { sending_app: "", sending_facility: HOSP }
                      - { sending_app: RIS, facility: HOSP }
                      - RIS
                """
            )
        else {
            Issue.record("accepted")
            return
        }
        let context = "service 'HL7': sender_allow"
        #expect(
            errors.problems.map(\.description) == [
                "8: \(context)[0]: 'sending_app' (MSH-3, or a pattern such as \"LAB*\") is required",
                "9: \(context)[1]: 'certificate' needs client certificates: add 'tls:' with client_auth: required (or optional) to the service",
                "10: \(context)[2]: 'sending_app' '' is empty or holds a control character",
                "11: \(context)[3]: unknown key 'facility' (known keys: certificate, sending_app, sending_facility)",
                "12: \(context)[4] must be a mapping, found a value",
            ],
            "\(errors.problems.map(\.description).joined(separator: "\n"))"
        )
        guard case .failure(let empty) = HL7ModuleConfigurationTests.load("    sender_allow: []") else {
            Issue.record("accepted")
            return
        }
        #expect(
            empty.problems.map(\.description) == [
                "7: service 'HL7': 'sender_allow' must be a non-empty list of { sending_app, sending_facility, certificate } entries (remove the key to allow every sender)"
            ]
        )
    }
}

import PacsgateConfig
import PacsgateTestSupport
import Testing

@testable import PacsgateCore
@testable import PacsgateHL7

/// The module's configuration keys, read by the real loader: defaults, values, and problems with line numbers.
@Suite("HL7 module configuration")
struct HL7ModuleConfigurationTests {
    static func load(_ serviceLines: String) -> ConfigurationLoader.Outcome {
        let yaml = """
            services:
              - label: HL7
                listen: "127.0.0.1:6667"
                protocol: hl7
                servers:
                  - { label: HL71, address: "127.0.0.1:7001" }
            \(serviceLines)
            """
        return ConfigurationLoader(registry: ProtocolRegistry.gateway([HL7Module()])).load(yaml: yaml)
    }

    static func settings(_ outcome: ConfigurationLoader.Outcome) throws -> (ServiceConfiguration, HL7ServiceSettings) {
        let configuration = try outcome.get().0
        let service = try #require(configuration.services.first)
        let handler = try #require(service.protocolHandler as? HL7ServiceProtocol)
        return (service, handler.settings)
    }

    @Test("defaults: 4 MiB, nak, 60 s ACK timeout, 24 h idle timeout")
    func defaults() throws {
        let (service, settings) = try Self.settings(Self.load(""))
        #expect(settings == HL7ServiceSettings())
        #expect(settings.maximumMessageBytes == 4 * 1024 * 1024)
        #expect(settings.onInvalid == .nak)
        #expect(settings.ackTimeout == .seconds(60))
        #expect(service.timeouts.idle == .seconds(86_400))
        #expect(HL7Module().name == "hl7")
    }

    @Test("values are read")
    func values() throws {
        let (service, settings) = try Self.settings(
            Self.load(
                """
                    max_message_bytes: 64KiB
                    on_invalid: close
                    ack_timeout: 5m
                    idle_timeout: 2h
                """
            )
        )
        #expect(settings.maximumMessageBytes == 64 * 1024)
        #expect(settings.onInvalid == .close)
        #expect(settings.ackTimeout == .seconds(300))
        #expect(service.timeouts.idle == .seconds(7200))
    }

    @Test("bad values are reported with their line; unknown keys too")
    func problems() throws {
        let outcome = Self.load(
            """
                max_message_bytes: 12
                on_invalid: drop
                ack_timeout: 0s
                max_frame: 4MiB
            """
        )
        guard case .failure(let errors) = outcome else {
            Issue.record("accepted a bad configuration")
            return
        }
        func line(of fragment: String) -> Int? { errors.problems.first { $0.message.contains(fragment) }?.line }
        #expect(line(of: "bad size '12' for 'max_message_bytes'") == 7, "\(errors)")
        #expect(line(of: "'on_invalid' must be one of nak | close, found 'drop'") == 8, "\(errors)")
        #expect(line(of: "'ack_timeout' must be longer than zero and at most 7d") == 9, "\(errors)")
        #expect(line(of: "unknown key 'max_frame'") == 10, "\(errors)")
    }

    @Test("an ack_timeout beyond 7 days is reported")
    func hugeAckTimeout() {
        guard case .failure(let errors) = Self.load("    ack_timeout: 30d") else {
            Issue.record("accepted ack_timeout: 30d")
            return
        }
        #expect(errors.problems.contains { $0.line == 7 && $0.message.contains("at most 7d") }, "\(errors)")
    }

    @Test("health check type mllp with its message keys; an invalid MSH value is a problem on its line")
    func healthCheckKeys() throws {
        let (service, _) = try Self.settings(
            Self.load(
                """
                    health_check:
                      type: mllp
                      sending_app: PGW
                      sending_facility: SITE
                      receiving_app: MACH7
                      receiving_facility: PACS
                      processing_id: T
                      version: "2.3"
                """
            )
        )
        let check = try #require(service.healthCheck.check as? MLLPHealthCheck)
        #expect(
            check.configuration
                == MLLPProbe.Configuration(
                    sendingApplication: "PGW",
                    sendingFacility: "SITE",
                    receivingApplication: "MACH7",
                    receivingFacility: "PACS",
                    processingID: "T",
                    versionID: "2.3"
                )
        )

        let bad = Self.load(
            """
                health_check:
                  type: mllp
                  sending_app: "A|B"
            """
        )
        guard case .failure(let errors) = bad else {
            Issue.record("accepted a sending_app with a field separator")
            return
        }
        let problem = errors.problems.first { $0.message.contains("mllp test message") }
        #expect(problem?.line == 9, "\(errors)")
        #expect(problem?.message.contains("MSH-3 contains a delimiter or control character at offset 1") == true)
    }
}

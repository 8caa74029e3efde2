import Foundation
import PacsgateConfig
import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateApp

/// YAML → configuration: Yams' line numbers reach the operator; the samples and the demo's embedded default agree.
@Suite("Configuration loader")
struct ConfigurationLoaderTests {
    let loader = ConfigurationLoader(registry: ProtocolRegistry.gateway([]))

    @Test("the Mach7 sample decodes to the site's four plain services and the two TLS services beside them")
    func mach7() throws {
        let site = try SitePKI.make()
        defer { try? FileManager.default.removeItem(at: site) }
        let (configuration, _) = try ConfigurationLoader(registry: BuiltInModules.registry).load(path: site.appendingPathComponent("mach7.yaml").path).get()
        #expect(configuration.services.map(\.label) == ["DICOM", "HL7", "DMWL", "DICOM-TLS", "HL7-TLS", "HTTPS"])
        #expect(configuration.services.map(\.listen.description) == [
            "192.168.110.100:11112", "192.168.110.101:6667", "192.168.110.102:5104", "192.168.110.100:2762",
            "192.168.110.101:6668", "192.168.110.103:443",
        ])
        #expect(configuration.services.map(\.protocolName) == ["dicom", "hl7", "dicom", "dicom", "hl7", "tls"])
        for service in configuration.services where !service.label.hasSuffix("-TLS") {
            #expect(service.servers.count == 2)
            #expect(service.servers.map(\.endpoint.host) == ["192.168.110.150", "192.168.110.151"])
            #expect(service.servers.allSatisfy { $0.endpoint.port == service.listen.port && $0.weight == 100 })
            #expect(service.servers.map(\.label) == [service.label + "1", service.label + "2"])
            #expect(service.persistence == PersistenceConfiguration(type: "source-ip", timeout: .seconds(1800)))
            #expect(service.healthCheck.type == "connect")
            #expect(service.healthCheck.interval == .seconds(2))
            #expect(service.healthCheck.timeout == .seconds(1))
            #expect(service.healthCheck.rise == 2)
            #expect(service.healthCheck.fall == 3)
            #expect(service.balance == .roundrobin)
        }
        // The TLS services: client certificates required, one node re-encrypted (and checked over TLS), one plain.
        for service in configuration.services where service.label.hasSuffix("-TLS") {
            let status = try #require(service.protocolHandler?.transportSecurity, "\(service.label) terminates TLS")
            #expect(status.clientAuthentication == .required)
            #expect(status.certificates.map(\.subject) == ["O=Radiology,CN=pacsgate.hospital.example"])
            #expect(status.revocationListNextUpdate != nil)
            #expect(service.servers.map(\.endpoint.host) == ["192.168.110.150", "192.168.110.151"])
            let handler = try #require(service.protocolHandler)
            #expect(handler.probeTransport(forServer: service.servers[0].label) != nil)
            #expect(handler.probeTransport(forServer: service.servers[1].label) == nil)
        }
        #expect(configuration.services.first { $0.label == "DICOM-TLS" }?.healthCheck.type == "dicom-echo")
        #expect(configuration.services.first { $0.label == "HL7-TLS" }?.healthCheck.type == "mllp")
        #expect(configuration.audit.path == "/var/log/pacsgate/audit.jsonl")
        #expect(configuration.sections["admin"] != nil)
    }

    @Test("the tests' registry knows the sections and protocols the executable registers, with the same options")
    func testRegistryMatchesTheExecutable() {
        let executable = BuiltInModules.registry
        let tests = ProtocolRegistry.gateway([])
        #expect(tests.sections == executable.sections)
        #expect(tests.definedProtocols == executable.definedProtocols)
        #expect(executable.notBuilt.isEmpty, "the executable builds every protocol module it defines")
    }

    @Test("the demo runs exactly Samples/local.yaml")
    func demoMatchesLocalSample() throws {
        let path = CheckConfigCommandTests.repository.appendingPathComponent("Samples/local.yaml").path
        #expect(try String(contentsOfFile: path, encoding: .utf8) == DemoConfiguration.yaml)
    }

    @Test("YAML syntax errors carry their line")
    func syntaxError() throws {
        let yaml = "services:\n  - label: A\n    listen: [unclosed\n"
        guard case .failure(let errors) = loader.load(yaml: yaml) else {
            Issue.record("a broken YAML file was accepted")
            return
        }
        #expect(errors.problems.count == 1)
        #expect(errors.problems.first?.line == 4)
        #expect(errors.problems.first?.message.hasPrefix("invalid YAML:") == true)
    }

    @Test("an empty file is refused")
    func empty() throws {
        guard case .failure(let empty) = loader.load(yaml: "") else {
            Issue.record("an empty file was accepted")
            return
        }
        #expect(empty.formatted(file: "x.yaml") == "x.yaml:1: the file is empty")
    }

    @Test("null values and flow mappings keep their lines")
    func lines() throws {
        let yaml = """
            services:
              - label: A
                listen: "127.0.0.1:2"
                maxconn: ~
                servers:
                  - { label: A1, address: "127.0.0.1:1", weight: heavy }
            """
        guard case .failure(let errors) = loader.load(yaml: yaml) else {
            Issue.record("bad weight accepted")
            return
        }
        #expect(errors.formatted(file: "f") == """
            f:4: service 'A': 'maxconn' must be a single value, found nothing
            f:6: service 'A' server 'A1': 'weight' must be a whole number from 0 to 1000000, found 'heavy'
            """)
    }

    @Test("backup servers and persistence.return_to_primary: defaults, values, and the problems with their lines")
    func backupKeys() throws {
        let yaml = """
            services:
              - label: DICOM
                listen: "127.0.0.1:11112"
                persistence: { type: source-ip, return_to_primary: false }
                servers:
                  - { label: A, address: "127.0.0.1:1" }
                  - { label: DR, address: "127.0.0.1:2", backup: true }
              - label: HL7
                listen: "127.0.0.1:6667"
                persistence: source-ip
                servers:
                  - { label: B, address: "127.0.0.1:3", backup: false }
            """
        let (configuration, warnings) = try loader.load(yaml: yaml).get()
        #expect(warnings.isEmpty)
        #expect(configuration.services[0].servers.map(\.backup) == [false, true])
        #expect(configuration.services[0].persistence.returnToPrimary == false)
        #expect(configuration.services[1].servers.map(\.backup) == [false])
        #expect(configuration.services[1].persistence.returnToPrimary == true, "the default")

        let noEffect = """
            services:
              - label: A
                listen: "127.0.0.1:2"
                persistence:
                  type: none
                  return_to_primary: true
                servers:
                  - { label: A1, address: "127.0.0.1:1" }
            """
        let (_, noted) = try loader.load(yaml: noEffect).get()
        #expect(noted.map { "\($0.line): \($0.message)" } == [
            "6: service 'A': persistence 'return_to_primary' has no effect with persistence type 'none'"
        ])

        let broken = """
            services:
              - label: A
                listen: "127.0.0.1:2"
                persistence: { type: source-ip, return_to_primary: maybe }
                accept_proxy: [10.0.0.0/8]
                source: 127.0.0.1
                servers:
                  - { label: A1, address: "127.0.0.1:1", backup: sometimes, source: 127.0.0.2 }
            """
        guard case .failure(let errors) = loader.load(yaml: broken) else {
            Issue.record("bad backup keys accepted")
            return
        }
        #expect(errors.formatted(file: "f") == """
            f:4: service 'A' persistence: 'return_to_primary' must be true or false, found 'maybe'
            f:8: service 'A' server 'A1': 'backup' must be true or false, found 'sometimes'
            """)
    }

    @Test("send_proxy (v1 | v2, default none) per server and accept_proxy (networks, default none) per service")
    func proxyProtocolKeys() throws {
        let yaml = """
            services:
              - label: A
                listen: "127.0.0.1:2"
                accept_proxy: [10.0.0.0/8, 192.0.2.7, "fd00::/8"]
                servers:
                  - { label: A1, address: "127.0.0.1:1", send_proxy: v1 }
                  - { label: A2, address: "127.0.0.1:3", send_proxy: v2 }
                  - { label: A3, address: "127.0.0.1:4" }
              - label: B
                listen: "127.0.0.1:5"
                servers: [{ label: B1, address: "127.0.0.1:6" }]
            """
        let (configuration, _) = try loader.load(yaml: yaml).get()
        #expect(configuration.services[0].servers.map(\.sendProxy) == [.v1, .v2, nil])
        #expect(configuration.services[0].acceptProxy.map(\.description) == ["10.0.0.0/8", "192.0.2.7", "fd00::/8"])
        #expect(configuration.services[1].acceptProxy.isEmpty)

        let broken = """
            services:
              - label: A
                listen: "127.0.0.1:2"
                accept_proxy: [10.0.0.0/33, upstream]
                servers: [{ label: A1, address: "127.0.0.1:1", send_proxy: yes }]
              - label: B
                listen: "127.0.0.1:3"
                accept_proxy: []
                servers: [{ label: B1, address: "127.0.0.1:1" }]
            """
        guard case .failure(let errors) = loader.load(yaml: broken) else {
            Issue.record("bad PROXY protocol keys accepted")
            return
        }
        #expect(errors.formatted(file: "f") == """
            f:4: service 'A': accept_proxy: '10.0.0.0/33' is not a network (use e.g. 10.1.2.0/24, 10.1.2.7 or fd00::/8)
            f:4: service 'A': accept_proxy: 'upstream' is not a network (use e.g. 10.1.2.0/24, 10.1.2.7 or fd00::/8)
            f:5: service 'A' server 'A1': 'send_proxy' must be one of v1 | v2, found 'yes'
            f:8: service 'B': 'accept_proxy' lists no network (remove the key to read no PROXY header)
            """)
    }

    @Test("source: an address of this host per service, overridden per server; another is refused unless an 'ha' section")
    func sourceKey() throws {
        let yaml = """
            services:
              - label: A
                listen: "127.0.0.1:2"
                source: 127.0.0.3
                servers:
                  - { label: A1, address: "127.0.0.1:1" }
                  - { label: A2, address: "127.0.0.1:3", source: 127.0.0.4 }
              - label: B
                listen: "127.0.0.1:4"
                servers: [{ label: B1, address: "127.0.0.1:1" }]
            """
        let (configuration, _) = try loader.load(yaml: yaml).get()
        #expect(configuration.services[0].servers.map { $0.source?.ipAddress } == ["127.0.0.3", "127.0.0.4"])
        #expect(configuration.services[1].servers[0].source == nil)

        let broken = """
            services:
              - label: A
                listen: "127.0.0.1:2"
                source: 192.0.2.77
                servers: [{ label: A1, address: "127.0.0.1:1", source: vip.example }]
            """
        guard case .failure(let errors) = loader.load(yaml: broken) else {
            Issue.record("a source this host does not have was accepted")
            return
        }
        #expect(errors.formatted(file: "f") == """
            f:4: service 'A': 'source' 192.0.2.77 is not an address of this host (only an HA unit, with an 'ha' section, may name the VIP before it holds it)
            f:5: service 'A' server 'A1': 'source' must be an IP address of this host (e.g. the VIP), found 'vip.example'
            """)
    }
}

import Logging
import PacsgateTestSupport
import Testing

@testable import PacsgateCore

@Suite struct ConfigurationDecoderTests {
    private static let bare = ConfigurationDecoder(registry: ProtocolRegistry.gateway([]))
    private static let withDICOM = ConfigurationDecoder(registry: ProtocolRegistry.gateway([FakeProtocolModule()]))

    private static let serviceKeys =
        "accept_proxy, balance, close_linger, connect_timeout, engine, health_check, idle_timeout, label, listen, maxconn, "
        + "maxconn_per_client, peek_timeout, persistence, protocol, servers, source, transparent"
    private static let dicomServiceKeys =
        "accept_proxy, balance, calling_ae_allow, close_linger, connect_timeout, engine, health_check, idle_timeout, label, listen, "
        + "maxconn, maxconn_per_client, peek_timeout, persistence, protocol, servers, source, transparent"

    private func decoded(
        _ root: ConfigNode,
        _ decoder: ConfigurationDecoder = Self.bare
    ) throws -> (GatewayConfiguration, warnings: [ConfigProblem]) {
        try decoder.decode(root).get()
    }

    private func problems(
        _ root: ConfigNode,
        _ decoder: ConfigurationDecoder = Self.bare,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> [ConfigProblem] {
        switch decoder.decode(root) {
        case .success:
            Issue.record("the configuration was accepted", sourceLocation: sourceLocation)
            return []
        case .failure(let errors):
            return errors.problems
        }
    }

    // MARK: a valid configuration

    /// ```
    ///  1 services:
    ///  2   - label: DICOM
    ///  3     listen: 0.0.0.0:11112
    ///  4     protocol: dicom
    ///  5     calling_ae_allow: [MODALITY1, CT_SCANNER]
    ///  6     persistence: {type: source-ip, timeout: 30m}
    ///  7     health_check:
    ///  8       type: connect
    ///  9     servers:
    /// 10       - label: MACH7-A
    /// 11         address: 192.168.110.150:11112
    /// 12       - label: MACH7-B
    /// 13         address: 192.168.110.151:11112
    /// 14         weight: 50
    /// 15         state: drain
    /// 16   - label: HL7
    /// 17     listen: "[::]:2575"
    /// 18     balance: leastconn
    /// 19     connect_timeout: 500ms
    /// 20     idle_timeout: 1h30m
    /// 21     maxconn: 200
    /// 22     maxconn_per_client: 4
    /// 23     servers:
    /// 24       - label: ENGINE
    /// 25         address: hl7-engine.example.org:2575
    /// 26 audit:
    /// 27   path: /var/log/pacsgate/audit.jsonl
    /// 28   fsync: interval
    /// 29   max_bytes: 64MiB
    /// 30   keep: 5
    /// 31 logging:
    /// 32   level: debug
    /// 33 shutdown_grace: 10s
    /// 34 state_dir: /var/lib/pacsgate
    /// 35 admin:
    /// 36   listen: 127.0.0.1:8080
    /// ```
    private static let mach7 = mapping(
        entry(
            "services",
            1,
            list(
                mapping(
                    entry("label", 2, "DICOM"),
                    entry("listen", 3, "0.0.0.0:11112"),
                    entry("protocol", 4, "dicom"),
                    entry("calling_ae_allow", 5, flowList(5, "MODALITY1", "CT_SCANNER")),
                    entry("persistence", 6, mapping(entry("type", 6, "source-ip"), entry("timeout", 6, "30m"))),
                    entry("health_check", 7, mapping(entry("type", 8, "connect"))),
                    entry(
                        "servers",
                        9,
                        list(
                            server(10, "MACH7-A", "192.168.110.150:11112"),
                            server(
                                12,
                                "MACH7-B",
                                "192.168.110.151:11112",
                                entry("weight", 14, "50"),
                                entry("state", 15, "drain")
                            )
                        )
                    )
                ),
                mapping(
                    entry("label", 16, "HL7"),
                    entry("listen", 17, "[::]:2575"),
                    entry("balance", 18, "leastconn"),
                    entry("connect_timeout", 19, "500ms"),
                    entry("idle_timeout", 20, "1h30m"),
                    entry("maxconn", 21, "200"),
                    entry("maxconn_per_client", 22, "4"),
                    entry("servers", 23, list(server(24, "ENGINE", "hl7-engine.example.org:2575")))
                )
            )
        ),
        entry(
            "audit",
            26,
            mapping(
                entry("path", 27, "/var/log/pacsgate/audit.jsonl"),
                entry("fsync", 28, "interval"),
                entry("max_bytes", 29, "64MiB"),
                entry("keep", 30, "5")
            )
        ),
        entry("logging", 31, mapping(entry("level", 32, "debug"))),
        entry("shutdown_grace", 33, "10s"),
        entry("state_dir", 34, "/var/lib/pacsgate"),
        entry("admin", 35, mapping(entry("listen", 36, "127.0.0.1:8080")))
    )

    @Test func mach7Configuration() throws {
        let (configuration, warnings) = try decoded(Self.mach7, Self.withDICOM)
        #expect(warnings.isEmpty)
        try #require(configuration.services.count == 2)

        let dicom = configuration.services[0]
        #expect(dicom.label == "DICOM")
        #expect(dicom.line == 2)
        #expect(dicom.listen == Endpoint(host: "0.0.0.0", port: 11112))
        #expect(dicom.protocolName == "dicom")
        #expect(dicom.balance == .roundrobin)
        #expect(
            dicom.persistence
                == PersistenceConfiguration(type: "source-ip", timeout: .seconds(1800), maxEntries: 100_000)
        )
        #expect(dicom.healthCheck.type == "connect")
        #expect(dicom.healthCheck.interval == .seconds(2))
        #expect(dicom.healthCheck.timeout == .seconds(1))
        #expect(dicom.healthCheck.rise == 2)
        #expect(dicom.healthCheck.fall == 3)
        #expect(dicom.healthCheck.check is ConnectHealthCheck)
        #expect(
            dicom.servers == [
                ServerConfiguration(
                    label: "MACH7-A",
                    endpoint: Endpoint(host: "192.168.110.150", port: 11112),
                    weight: 100,
                    state: .online
                ),
                ServerConfiguration(
                    label: "MACH7-B",
                    endpoint: Endpoint(host: "192.168.110.151", port: 11112),
                    weight: 50,
                    state: .drain
                ),
            ]
        )
        #expect(dicom.servers[0].endpoint.socketAddress?.ipAddress == "192.168.110.150")
        #expect(dicom.maxConnections == 10_000)
        #expect(dicom.maxConnectionsPerClient == 0)
        // The idle timeout defaults to the module's (2 h for the fake module), the rest to the core's.
        #expect(
            dicom.timeouts
                == ServiceTimeouts(
                    connect: .seconds(5),
                    idle: .seconds(7200),
                    peek: .seconds(10),
                    closeLinger: .seconds(5)
                )
        )
        let handler = try #require(dicom.protocolHandler as? FakeServiceProtocol)
        #expect(handler.service == "DICOM")
        #expect(handler.callingAllow == ["MODALITY1", "CT_SCANNER"])

        let hl7 = configuration.services[1]
        #expect(hl7.label == "HL7")
        #expect(hl7.line == 16)
        #expect(hl7.listen == Endpoint(host: "::", port: 2575))
        #expect(hl7.listen.description == "[::]:2575")
        #expect(hl7.protocolName == "tcp")
        #expect(hl7.balance == .leastconn)
        #expect(hl7.persistence == PersistenceConfiguration(type: "none", timeout: .seconds(1800), maxEntries: 100_000))
        #expect(!hl7.persistence.isEnabled)
        #expect(hl7.healthCheck.type == "none")
        #expect(hl7.healthCheck.check == nil)
        #expect(
            hl7.servers == [
                ServerConfiguration(label: "ENGINE", endpoint: Endpoint(host: "hl7-engine.example.org", port: 2575))
            ]
        )
        #expect(hl7.maxConnections == 200)
        #expect(hl7.maxConnectionsPerClient == 4)
        #expect(
            hl7.timeouts
                == ServiceTimeouts(
                    connect: .milliseconds(500),
                    idle: .seconds(5400),
                    peek: .seconds(10),
                    closeLinger: .seconds(5)
                )
        )
        #expect(hl7.protocolHandler == nil)

        #expect(
            configuration.audit
                == AuditConfiguration(
                    path: "/var/log/pacsgate/audit.jsonl",
                    fsync: .interval,
                    fsyncInterval: .seconds(1),
                    maxBytes: 64 << 20,
                    keep: 5,
                    bufferRecords: 10_000,
                    onFailure: .continue
                )
        )
        #expect(configuration.logLevel == .debug)
        #expect(configuration.shutdownGracePeriod == .seconds(10))
        #expect(configuration.stateDirectory == "/var/lib/pacsgate")
        #expect(Array(configuration.sections.keys) == ["admin"])
        #expect(configuration.sections["admin"]?.line == 36)
    }

    @Test func topLevelDefaults() throws {
        let (configuration, warnings) = try decoded(document(service(2, "PACS")))
        #expect(warnings.isEmpty)
        #expect(configuration.audit == AuditConfiguration())
        #expect(configuration.audit.path == nil)
        #expect(configuration.logLevel == .info)
        #expect(configuration.shutdownGracePeriod == .seconds(30))
        #expect(configuration.stateDirectory == nil)
        #expect(configuration.sections.isEmpty)
        let pacs = try #require(configuration.services.first)
        #expect(pacs.protocolName == "tcp")
        #expect(pacs.balance == .roundrobin)
        #expect(pacs.persistence.type == "none")
        #expect(
            pacs.timeouts
                == ServiceTimeouts(
                    connect: .seconds(5),
                    idle: .seconds(3600),
                    peek: .seconds(10),
                    closeLinger: .seconds(5)
                )
        )
        #expect(
            pacs.servers == [
                ServerConfiguration(
                    label: "A",
                    endpoint: Endpoint(host: "10.0.0.1", port: 104),
                    weight: 100,
                    state: .online
                )
            ]
        )
    }

    @Test func persistenceForms() throws {
        // persistence: source-ip
        let scalar = try decoded(document(service(2, "PACS", entry("persistence", 4, "source-ip")))).0
        #expect(scalar.services[0].persistence == PersistenceConfiguration(type: "source-ip", timeout: .seconds(1800)))
        // persistence: {timeout: 5m, max_entries: 500}  — a mapping without a type means source-ip
        let noType = try decoded(
            document(
                service(
                    2,
                    "PACS",
                    entry("persistence", 4, mapping(entry("timeout", 4, "5m"), entry("max_entries", 4, "500")))
                )
            )
        )
        .0
        #expect(
            noType.services[0].persistence
                == PersistenceConfiguration(type: "source-ip", timeout: .seconds(300), maxEntries: 500)
        )
        // persistence: none
        let none = try decoded(document(service(2, "PACS", entry("persistence", 4, "none")))).0
        #expect(none.services[0].persistence == PersistenceConfiguration())
    }

    @Test func healthCheckSettings() throws {
        // health_check: {interval: 5s, timeout: 1500ms, rise: 1, fall: 5} — no type means connect
        let configuration = try decoded(
            document(
                service(
                    2,
                    "PACS",
                    entry(
                        "health_check",
                        4,
                        mapping(
                            entry("interval", 4, "5s"),
                            entry("timeout", 4, "1500ms"),
                            entry("rise", 4, "1"),
                            entry("fall", 4, "5")
                        )
                    )
                )
            )
        )
        .0
        let check = configuration.services[0].healthCheck
        #expect(check.type == "connect")
        #expect(check.interval == .seconds(5))
        #expect(check.timeout == .milliseconds(1500))
        #expect(check.rise == 1)
        #expect(check.fall == 5)
        #expect(check.check is ConnectHealthCheck)

        let off = try decoded(document(service(2, "PACS", entry("health_check", 4, mapping(entry("type", 4, "none"))))))
            .0
        #expect(off.services[0].healthCheck.type == "none")
        #expect(off.services[0].healthCheck.check == nil)
    }

    // MARK: one problem of each kind, with its line

    @Test func unknownServiceKey() {
        #expect(
            problems(document(service(2, "PACS", entry("colour", 4, "blue")))) == [
                ConfigProblem(line: 4, "service 'PACS': unknown key 'colour' (known keys: \(Self.serviceKeys))")
            ]
        )
    }

    @Test func unknownServerKey() {
        // 2 - label: PACS / 3 listen / 4 servers: / 5 - label: A / 6 address / 7 wieght: 50
        let root = document(
            mapping(
                entry("label", 2, "PACS"),
                entry("listen", 3, "0.0.0.0:11112"),
                entry("servers", 4, list(server(5, "A", "10.0.0.1:104", entry("wieght", 7, "50"))))
            )
        )
        #expect(
            problems(root) == [
                ConfigProblem(
                    line: 7,
                    "service 'PACS' server 'A': unknown key 'wieght' (known keys: address, backup, label, send_proxy, source, state, weight)"
                )
            ]
        )
    }

    @Test func unlabelledServerIsNamedByItsService() {
        // 2 - label: PACS / 3 listen / 4 servers: / 5 - address: 10.0.0.1:104 / 6 wieght: 50
        let unlabelled = ConfigNode(
            .mapping([entry("address", 5, "10.0.0.1:104"), entry("wieght", 6, "50")]),
            line: 5
        )
        let root = document(
            mapping(
                entry("label", 2, "PACS"),
                entry("listen", 3, "0.0.0.0:11112"),
                entry("servers", 4, list(unlabelled))
            )
        )
        #expect(
            problems(root) == [
                ConfigProblem(line: 5, "service 'PACS' server: missing required key 'label'"),
                ConfigProblem(
                    line: 6,
                    "service 'PACS' server: unknown key 'wieght' (known keys: address, backup, label, send_proxy, source, state, weight)"
                ),
            ]
        )
    }

    @Test func unknownHealthCheckKey() {
        let root = document(
            service(
                2,
                "PACS",
                entry("health_check", 4, mapping(entry("type", 5, "connect"), entry("intervall", 6, "5s")))
            )
        )
        #expect(
            problems(root) == [
                ConfigProblem(
                    line: 6,
                    "service 'PACS' health_check: unknown key 'intervall' (known keys: fall, interval, rise, timeout, type)"
                )
            ]
        )
    }

    @Test func unknownPersistenceKey() {
        let root = document(
            service(
                2,
                "PACS",
                entry("persistence", 4, mapping(entry("type", 5, "source-ip"), entry("expiry", 6, "5m")))
            )
        )
        #expect(
            problems(root) == [
                ConfigProblem(
                    line: 6,
                    "service 'PACS' persistence: unknown key 'expiry' (known keys: max_entries, return_to_primary, timeout, type)"
                )
            ]
        )
    }

    @Test func unknownTopLevelKey() {
        let root = document(service(2, "PACS"), extra: [entry("frontend", 7, "legacy")])
        #expect(
            problems(root) == [
                ConfigProblem(
                    line: 7,
                    "configuration: unknown key 'frontend' (known keys: admin, audit, engine, ha, logging, services, shutdown_grace, state_dir)"
                )
            ]
        )
    }

    @Test("engine: the top-level choice is every service's default, a service's own overrides it, auto by default")
    func engineChoice() throws {
        let plain = try decoded(document(service(2, "A")))
        #expect(plain.0.services[0].engine == .auto)
        let root = document(
            service(2, "A"), service(7, "B", listen: "0.0.0.0:104", entry("engine", 9, "native")),
            extra: [entry("engine", 14, "nio")])
        let (configuration, _) = try decoded(root)
        #expect(configuration.services.map(\.engine) == [.nio, .native])
        #expect(
            problems(document(service(2, "A", entry("engine", 4, "epoll")))) == [
                ConfigProblem(line: 4, "service 'A': 'engine' must be one of auto | native | nio, found 'epoll'")
            ])
    }

    @Test("auto resolves to native where the native engine exists and the service adds no channel handlers")
    func engineResolution() {
        #expect(EngineChoice.auto.resolve(nativeAvailable: true, addsChannelHandlers: false) == .native)
        #expect(EngineChoice.auto.resolve(nativeAvailable: true, addsChannelHandlers: true) == .nio)
        #expect(EngineChoice.auto.resolve(nativeAvailable: false, addsChannelHandlers: false) == .nio)
        #expect(EngineChoice.native.resolve(nativeAvailable: true, addsChannelHandlers: true) == nil)
        #expect(EngineChoice.native.resolve(nativeAvailable: false, addsChannelHandlers: false) == nil)
        #expect(EngineChoice.nio.resolve(nativeAvailable: true, addsChannelHandlers: false) == .nio)
    }

    @Test func missingServices() {
        let root = mapping(entry("logging", 1, mapping(entry("level", 2, "info"))))
        #expect(problems(root) == [ConfigProblem(line: 1, "configuration: missing required key 'services'")])
        let empty = mapping(entry("services", 1, ConfigNode(.sequence([]), line: 1)))
        #expect(problems(empty) == [ConfigProblem(line: 1, "configuration: 'services' is empty")])
        let scalar = mapping(entry("services", 1, "PACS"))
        #expect(problems(scalar) == [ConfigProblem(line: 1, "configuration: 'services' must be a list of services")])
        #expect(
            problems(list(ConfigNode(.scalar("x"), line: 1))) == [
                ConfigProblem(line: 1, "configuration must be a mapping, found a list"),
                ConfigProblem(line: 1, "configuration: missing required key 'services'"),
            ]
        )
    }

    @Test func badServerAddress() {
        let root = document(
            mapping(
                entry("label", 2, "PACS"),
                entry("listen", 3, "0.0.0.0:11112"),
                entry("servers", 4, list(server(5, "A", "not_a_host:104")))
            )
        )
        #expect(
            problems(root) == [
                ConfigProblem(
                    line: 6,
                    "service 'PACS' server 'A': bad address 'not_a_host:104': 'not_a_host' is not an IP address or host name"
                )
            ]
        )
    }

    @Test func serverPortOutOfRange() {
        let root = document(
            mapping(
                entry("label", 2, "PACS"),
                entry("listen", 3, "0.0.0.0:11112"),
                entry("servers", 4, list(server(5, "A", "10.0.0.1:70000")))
            )
        )
        #expect(
            problems(root) == [
                ConfigProblem(
                    line: 6,
                    "service 'PACS' server 'A': bad address '10.0.0.1:70000': port 70000 out of range (1-65535)"
                )
            ]
        )
    }

    @Test func badListenAddress() {
        #expect(
            problems(document(service(2, "PACS", listen: "::11112"))) == [
                ConfigProblem(
                    line: 3,
                    "service 'PACS': bad listen address '::11112': IPv6 addresses must be written in brackets, e.g. [::1]:11112"
                )
            ]
        )
        #expect(
            problems(document(service(2, "PACS", listen: "0.0.0.0:0"))) == [
                ConfigProblem(line: 3, "service 'PACS': bad listen address '0.0.0.0:0': port 0 out of range (1-65535)")
            ]
        )
    }

    @Test func missingLabelAndListen() {
        let root = document(mapping(entry("servers", 2, list(server(3, "A", "10.0.0.1:104")))))
        #expect(
            problems(root) == [
                ConfigProblem(line: 2, "service '?': missing required key 'label'"),
                ConfigProblem(line: 2, "service '?': missing required key 'listen'"),
            ]
        )
    }

    @Test func duplicateServiceLabel() {
        let root = document(service(2, "PACS"), service(7, "PACS", listen: "0.0.0.0:11113"))
        #expect(problems(root) == [ConfigProblem(line: 7, "duplicate service label 'PACS' (first at line 2)")])
    }

    @Test func duplicateServerLabel() {
        let root = document(
            mapping(
                entry("label", 2, "PACS"),
                entry("listen", 3, "0.0.0.0:11112"),
                entry("servers", 4, list(server(5, "A", "10.0.0.1:104"), server(7, "A", "10.0.0.2:104")))
            )
        )
        #expect(
            problems(root) == [ConfigProblem(line: 7, "service 'PACS': duplicate server label 'A' (first at line 5)")]
        )
    }

    @Test func serviceWithoutServers() {
        let missing = document(mapping(entry("label", 2, "PACS"), entry("listen", 3, "0.0.0.0:11112")))
        #expect(problems(missing) == [ConfigProblem(line: 2, "service 'PACS': has no servers (add a 'servers' list)")])
        let empty = document(
            mapping(
                entry("label", 2, "PACS"),
                entry("listen", 3, "0.0.0.0:11112"),
                entry("servers", 4, ConfigNode(.sequence([]), line: 4))
            )
        )
        #expect(
            problems(empty) == [
                ConfigProblem(line: 4, "service 'PACS': has no servers ('servers' must be a non-empty list)")
            ]
        )
    }

    @Test func badDuration() {
        #expect(
            problems(document(service(2, "PACS", entry("connect_timeout", 4, "10x")))) == [
                ConfigProblem(
                    line: 4,
                    "service 'PACS': bad duration '10x' for 'connect_timeout' (use e.g. 500ms, 2s, 30m, 1h)"
                )
            ]
        )
        #expect(
            problems(document(service(2, "PACS", entry("idle_timeout", 4, "0s")))) == [
                ConfigProblem(line: 4, "service 'PACS': 'idle_timeout' must be longer than zero")
            ]
        )
        #expect(
            problems(document(service(2, "PACS", entry("persistence", 4, mapping(entry("timeout", 4, "-1s")))))) == [
                ConfigProblem(
                    line: 4,
                    "service 'PACS' persistence: bad duration '-1s' for 'timeout' (use e.g. 500ms, 2s, 30m, 1h)"
                )
            ]
        )
    }

    @Test func unknownProtocol() {
        #expect(
            problems(document(service(2, "PACS", entry("protocol", 4, "http")))) == [
                ConfigProblem(
                    line: 4,
                    "service 'PACS': 'protocol' must be one of dicom | hl7 | tcp | tls, found 'http'"
                )
            ]
        )
    }

    @Test func unknownBalance() {
        #expect(
            problems(document(service(2, "PACS", entry("balance", 4, "random")))) == [
                ConfigProblem(
                    line: 4,
                    "service 'PACS': 'balance' must be one of roundrobin | leastconn | source, found 'random'"
                )
            ]
        )
    }

    @Test func unknownHealthCheckType() {
        let root = document(service(2, "PACS", entry("health_check", 4, mapping(entry("type", 5, "http")))))
        #expect(
            problems(root) == [
                ConfigProblem(line: 5, "service 'PACS': health_check type must be one of none | connect, found 'http'")
            ]
        )
        // A module's check types are offered too.
        #expect(
            problems(root, Self.withDICOM) == [
                ConfigProblem(
                    line: 5,
                    "service 'PACS': health_check type must be one of none | connect | fake-echo, found 'http'"
                )
            ]
        )
    }

    @Test func unknownPersistenceType() {
        #expect(
            problems(document(service(2, "PACS", entry("persistence", 4, "sticky")))) == [
                ConfigProblem(
                    line: 4,
                    "service 'PACS': persistence type must be one of none | source-ip, found 'sticky'"
                )
            ]
        )
    }

    @Test func persistenceTypeProblemIsReportedOnTheTypeLine() {
        // 4 persistence:
        // 5   timeout: 30m
        // 6   type: sticky
        let root = document(
            service(2, "PACS", entry("persistence", 4, mapping(entry("timeout", 5, "30m"), entry("type", 6, "sticky"))))
        )
        #expect(
            problems(root) == [
                ConfigProblem(
                    line: 6,
                    "service 'PACS': persistence type must be one of none | source-ip, found 'sticky'"
                )
            ]
        )
    }

    @Test func duplicateListenAddress() {
        // The second service starts on line 7; its `listen:` is on line 8.
        let root = document(service(2, "PACS"), service(7, "PACS2"))
        #expect(
            problems(root) == [
                ConfigProblem(line: 8, "service 'PACS2': listen address 0.0.0.0:11112 is also used by service 'PACS'")
            ]
        )
    }

    @Test func duplicateListenAddressOnPortOne() {
        // Port 1 is the placeholder the decoder uses for an unparsable listen address, so real duplicates on it slip by.
        let root = document(service(2, "PACS", listen: "0.0.0.0:1"), service(7, "PACS2", listen: "0.0.0.0:1"))
        #expect(
            problems(root) == [
                ConfigProblem(line: 8, "service 'PACS2': listen address 0.0.0.0:1 is also used by service 'PACS'")
            ]
        )
    }

    @Test func unparsableListenAddressIsNotADuplicate() {
        // A listen address that does not parse, or is missing, must not collide with a real one (the decoder
        // fills in 0.0.0.0:1 for it), whichever comes first.
        let real = service(2, "PACS", listen: "0.0.0.0:1")
        let bad = service(7, "PACS2", listen: "0.0.0.0:0")
        let badProblem = ConfigProblem(
            line: 8,
            "service 'PACS2': bad listen address '0.0.0.0:0': port 0 out of range (1-65535)"
        )
        #expect(problems(document(real, bad)) == [badProblem])
        let badFirst = service(2, "PACS2", listen: "0.0.0.0:0")
        let realSecond = service(7, "PACS", listen: "0.0.0.0:1")
        #expect(
            problems(document(badFirst, realSecond)) == [
                ConfigProblem(
                    line: 3,
                    "service 'PACS2': bad listen address '0.0.0.0:0': port 0 out of range (1-65535)"
                )
            ]
        )
        // 7 - label: PACS2 / 8 servers: / 9 - label: A / 10 address
        let missing = mapping(entry("label", 7, "PACS2"), entry("servers", 8, list(server(9, "A", "10.0.0.1:104"))))
        #expect(
            problems(document(real, missing)) == [
                ConfigProblem(line: 7, "service 'PACS2': missing required key 'listen'")
            ]
        )
    }

    @Test func unlabelledServicesAreNotDuplicates() {
        let root = document(
            mapping(entry("listen", 2, "0.0.0.0:104"), entry("servers", 3, list(server(4, "A", "10.0.0.1:104")))),
            mapping(entry("listen", 6, "0.0.0.0:105"), entry("servers", 7, list(server(8, "A", "10.0.0.1:104"))))
        )
        #expect(
            problems(root) == [
                ConfigProblem(line: 2, "service '?': missing required key 'label'"),
                ConfigProblem(line: 6, "service '?': missing required key 'label'"),
            ]
        )
    }

    @Test func labelledServiceIsNotADuplicateOfAQuestionMark() {
        // A service really labelled '?' is not confused with the placeholder of an unlabelled one.
        let root = document(
            mapping(entry("listen", 2, "0.0.0.0:104"), entry("servers", 3, list(server(4, "A", "10.0.0.1:104")))),
            service(6, "?", listen: "0.0.0.0:105")
        )
        #expect(problems(root) == [ConfigProblem(line: 2, "service '?': missing required key 'label'")])
    }

    @Test func keyGivenTwice() {
        let root = document(service(2, "PACS", entry("listen", 4, "0.0.0.0:11113")))
        #expect(problems(root) == [ConfigProblem(line: 4, "service 'PACS': key 'listen' appears twice")])
        let top = document(service(2, "PACS"), extra: [entry("services", 7, ConfigNode(.null, line: 7))])
        #expect(problems(top) == [ConfigProblem(line: 7, "configuration: key 'services' appears twice")])
    }

    @Test func badLogLevel() {
        let root = document(service(2, "PACS"), extra: [entry("logging", 7, mapping(entry("level", 8, "verbose")))])
        #expect(
            problems(root) == [
                ConfigProblem(
                    line: 8,
                    "logging: 'level' must be one of trace | debug | info | notice | warning | error | critical"
                )
            ]
        )
    }

    @Test func severalProblemsAreReportedTogetherSortedByLine() {
        //  1 frontend: legacy
        //  2 services:
        //  3   - label: PACS
        //  4     listen: 0.0.0.0:11112
        //  5     servers:
        //  6       - label: A
        //  7         address: 10.0.0.1:0
        //  8   - label: PACS
        //  9     listen: 0.0.0.0:11113
        // 10     balance: random
        // 11     servers:
        // 12       - label: B
        // 13         address: 10.0.0.2:104
        let root = mapping(
            entry("frontend", 1, "legacy"),
            entry(
                "services",
                2,
                list(
                    mapping(
                        entry("label", 3, "PACS"),
                        entry("listen", 4, "0.0.0.0:11112"),
                        entry("servers", 5, list(server(6, "A", "10.0.0.1:0")))
                    ),
                    mapping(
                        entry("label", 8, "PACS"),
                        entry("listen", 9, "0.0.0.0:11113"),
                        entry("balance", 10, "random"),
                        entry("servers", 11, list(server(12, "B", "10.0.0.2:104")))
                    )
                )
            )
        )
        guard case .failure(let errors) = Self.bare.decode(root) else {
            Issue.record("the configuration was accepted")
            return
        }
        #expect(
            errors.problems == [
                ConfigProblem(
                    line: 1,
                    "configuration: unknown key 'frontend' (known keys: admin, audit, engine, ha, logging, services, shutdown_grace, state_dir)"
                ),
                ConfigProblem(
                    line: 7,
                    "service 'PACS' server 'A': bad address '10.0.0.1:0': port 0 out of range (1-65535)"
                ),
                ConfigProblem(line: 8, "duplicate service label 'PACS' (first at line 3)"),
                ConfigProblem(
                    line: 10,
                    "service 'PACS': 'balance' must be one of roundrobin | leastconn | source, found 'random'"
                ),
            ]
        )
        #expect(
            errors.formatted(file: "/etc/pacsgate/pacsgate.yaml")
                == """
                /etc/pacsgate/pacsgate.yaml:1: configuration: unknown key 'frontend' (known keys: admin, audit, engine, ha, logging, services, shutdown_grace, state_dir)
                /etc/pacsgate/pacsgate.yaml:7: service 'PACS' server 'A': bad address '10.0.0.1:0': port 0 out of range (1-65535)
                /etc/pacsgate/pacsgate.yaml:8: duplicate service label 'PACS' (first at line 3)
                /etc/pacsgate/pacsgate.yaml:10: service 'PACS': 'balance' must be one of roundrobin | leastconn | source, found 'random'
                """
        )
    }

    // MARK: protocols

    @Test func dicomWithoutTheModuleIsForwardedAsTCPWithAWarning() throws {
        let root = document(service(2, "PACS", entry("protocol", 4, "dicom")))
        let (configuration, warnings) = try decoded(root, Self.bare)
        #expect(
            warnings == [
                ConfigProblem(
                    line: 4,
                    "service 'PACS': protocol 'dicom' is not built into this gateway; forwarding as plain TCP"
                )
            ]
        )
        let pacs = try #require(configuration.services.first)
        #expect(pacs.protocolName == "dicom")
        #expect(pacs.protocolHandler == nil)
        #expect(pacs.timeouts.idle == .seconds(3600))
    }

    @Test func moduleKeysAreAcceptedForTheirProtocolOnly() throws {
        let dicomKey = entry("calling_ae_allow", 5, flowList(5, "MODALITY1"))

        let dicom = document(service(2, "PACS", entry("protocol", 4, "dicom"), dicomKey))
        let (configuration, warnings) = try decoded(dicom, Self.withDICOM)
        #expect(warnings.isEmpty)
        let handler = try #require(configuration.services.first?.protocolHandler as? FakeServiceProtocol)
        #expect(handler.callingAllow == ["MODALITY1"])

        let tcp = document(service(2, "PACS", entry("protocol", 4, "tcp"), dicomKey))
        #expect(
            problems(tcp, Self.withDICOM) == [
                ConfigProblem(
                    line: 5,
                    "service 'PACS': unknown key 'calling_ae_allow' (known keys: \(Self.serviceKeys))"
                )
            ]
        )

        // A dicom service built without the module does not know the key either.
        #expect(
            problems(dicom, Self.bare) == [
                ConfigProblem(
                    line: 5,
                    "service 'PACS': unknown key 'calling_ae_allow' (known keys: \(Self.serviceKeys))"
                )
            ]
        )

        // A misspelt module key lists the module's keys among the known ones.
        let typo = document(service(2, "PACS", entry("protocol", 4, "dicom"), entry("calling_ae_alow", 5, "X")))
        #expect(
            problems(typo, Self.withDICOM) == [
                ConfigProblem(
                    line: 5,
                    "service 'PACS': unknown key 'calling_ae_alow' (known keys: \(Self.dicomServiceKeys))"
                )
            ]
        )
    }

    @Test func modulePersistenceTypeIsAcceptedForItsProtocolOnly() throws {
        let dicom = document(service(2, "PACS", entry("protocol", 4, "dicom"), entry("persistence", 5, "calling-ae")))
        let configuration = try decoded(dicom, Self.withDICOM).0
        #expect(configuration.services[0].persistence == PersistenceConfiguration(type: "calling-ae"))

        let tcp = document(service(2, "PACS", entry("persistence", 4, "calling-ae")))
        #expect(
            problems(tcp, Self.withDICOM) == [
                ConfigProblem(
                    line: 4,
                    "service 'PACS': persistence type must be one of none | source-ip, found 'calling-ae'"
                )
            ]
        )
    }

    @Test func moduleHealthCheckReadsItsOwnKeys() throws {
        let echo = document(
            service(
                2,
                "PACS",
                entry("protocol", 4, "dicom"),
                entry("health_check", 5, mapping(entry("type", 6, "fake-echo"), entry("called_ae", 7, "MACH7")))
            )
        )
        let check = try decoded(echo, Self.withDICOM).0.services[0].healthCheck
        #expect(check.type == "fake-echo")
        #expect((check.check as? FakeEchoCheck)?.calledAE == "MACH7")

        // With the core's connect check the module's key is unknown.
        let connect = document(
            service(
                2,
                "PACS",
                entry("protocol", 4, "dicom"),
                entry("health_check", 5, mapping(entry("type", 6, "connect"), entry("called_ae", 7, "MACH7")))
            )
        )
        #expect(
            problems(connect, Self.withDICOM) == [
                ConfigProblem(
                    line: 7,
                    "service 'PACS' health_check: unknown key 'called_ae' (known keys: fall, interval, rise, timeout, type)"
                )
            ]
        )
    }
}

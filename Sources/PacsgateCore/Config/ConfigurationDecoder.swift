import Logging
import NIOCore

/// Turns a configuration tree into a validated ``GatewayConfiguration``, collecting every problem with its line.
///
/// Core keys are read here; each service's protocol-specific keys are read by its ``ProtocolModule``, and each
/// health check's extra keys by its ``HealthCheckFactory``. The protocol names and the sections of other modules are
/// the registry's (``ProtocolRegistry``): the sections are kept as raw nodes for their modules.
public struct ConfigurationDecoder: Sendable {
    /// Service keys that are defined but that no forwarding engine acts on yet (none at present). They are refused,
    /// not ignored: an operator who sets such a key must not believe it takes effect when it does not.
    public static let pendingServiceKeys: [String: String] = [:]
    /// Server keys in the same state as ``pendingServiceKeys``.
    public static let pendingServerKeys: [String: String] = [:]

    public let registry: ProtocolRegistry

    public init(registry: ProtocolRegistry) {
        self.registry = registry
    }

    /// The decoded configuration and non-fatal warnings, or every problem found.
    public func decode(_ root: ConfigNode) -> Result<(GatewayConfiguration, warnings: [ConfigProblem]), ConfigErrors> {
        var reader = MappingReader(root, context: "configuration")
        var warnings: [ConfigProblem] = []
        var decoded: [DecodedService] = []
        let engine = reader.choice("engine", EngineChoice.self) ?? .auto
        if engine == .native, !Self.nativeEngineBuilt {
            reader.problem(reader.entryLine("engine") ?? root.line, Self.nativeUnavailable("configuration"))
        }
        if let servicesNode = reader.node("services") {
            if case .sequence(let items) = servicesNode.kind {
                let sources = SourcePolicy(self.registry, root: root)
                for item in items {
                    decoded.append(
                        self.decodeService(
                            item, engine: engine, sources: sources, problems: &reader, warnings: &warnings))
                }
                if items.isEmpty { reader.problem(servicesNode.line, "configuration: 'services' is empty") }
            } else {
                reader.problem(servicesNode.line, "configuration: 'services' must be a list of services")
            }
        } else {
            reader.problem(root.line, "configuration: missing required key 'services'")
        }
        Self.checkUnique(decoded, &reader)
        let services = decoded.map(\.service)

        var sections: [ConfigSectionKey: ConfigNode] = [:]
        self.claimSections(under: nil, &reader, into: &sections)
        let audit = self.decodeAudit(&reader, sections: &sections)
        var logLevel = Logger.Level.info
        var recentLogLines = GatewayConfiguration.defaultRecentLogLines
        if let loggingNode = reader.node("logging") {
            var logging = MappingReader(loggingNode, context: "logging")
            if let level = logging.string("level") {
                if let parsed = Logger.Level(rawValue: level) {
                    logLevel = parsed
                } else {
                    logging.problem(
                        logging.entryLine("level") ?? loggingNode.line,
                        "logging: 'level' must be one of trace | debug | info | notice | warning | error | critical")
                }
            }
            if let lines = logging.int("recent_lines", in: 0...1_000_000) { recentLogLines = lines }
            self.claimSections(under: "logging", &logging, into: &sections)
            logging.finish()
            reader.absorb(logging)
        }
        let stateDirectory = reader.string("state_dir")
        let grace = reader.duration("shutdown_grace") ?? .seconds(30)
        reader.finish()
        if !reader.problems.isEmpty { return .failure(ConfigErrors(reader.problems)) }
        let configuration = GatewayConfiguration(
            services: services, audit: audit, logLevel: logLevel, stateDirectory: stateDirectory,
            shutdownGracePeriod: grace, sections: sections, recentLogLines: recentLogLines)
        return .success((configuration, warnings))
    }

    /// A decoded service and which of its identifying keys were valid (only those take part in uniqueness checks).
    private struct DecodedService {
        var service: ServiceConfiguration
        var labelValid: Bool
        var listenLine: Int?
    }

    /// Whether this build has the native engine (pacsgate's own epoll reactors): Linux only.
    public static var nativeEngineBuilt: Bool {
        #if os(Linux)
        return true
        #else
        return false
        #endif
    }

    private static func nativeUnavailable(_ context: String) -> String {
        "\(context): 'engine: native' needs Linux (epoll); use 'auto' or 'nio' on this system"
    }

    private func decodeService(
        _ node: ConfigNode, engine defaultEngine: EngineChoice, sources: SourcePolicy, problems parent: inout MappingReader,
        warnings: inout [ConfigProblem]
    ) -> DecodedService {
        let givenLabel = MappingReader(node, context: "service").peekString("label")
        let label = givenLabel ?? "?"
        var reader = MappingReader(node, context: "service '\(label)'")
        _ = reader.string("label", required: true)

        var listen: Endpoint?
        if let text = reader.string("listen", required: true) {
            switch Endpoint.parse(text) {
            case .success(let endpoint): listen = endpoint
            case .failure(let error):
                reader.problem(reader.entryLine("listen") ?? node.line, "service '\(label)': bad listen address '\(text)': \(error)")
            }
        }
        var protocolName = reader.string("protocol").map(ProtocolName.init(rawValue:)) ?? .tcp
        let defined = self.registry.definedProtocols
        if !defined.contains(protocolName) {
            reader.problem(
                reader.entryLine("protocol") ?? node.line,
                "service '\(label)': 'protocol' must be one of \(Self.list(defined)), found '\(protocolName)'")
            protocolName = .tcp
        }
        let module = protocolName == .tcp ? nil : self.registry[protocolName]
        if protocolName != .tcp, module == nil {
            warnings.append(ConfigProblem(
                line: reader.entryLine("protocol") ?? node.line,
                "service '\(label)': protocol '\(protocolName)' is not built into this gateway; forwarding as plain TCP"))
        }

        let balance = reader.choice("balance", BalanceMethod.self) ?? .roundrobin
        let persistence = self.decodePersistence(&reader, label: label, module: module, warnings: &warnings)
        let source = Self.decodeSource(&reader, context: "service '\(label)'", policy: sources)
        let servers = self.decodeServers(
            &reader, label: label, serviceLine: node.line, moduleKeys: module?.serverKeys ?? [], source: source,
            sources: sources)
        Self.refusePending(Self.pendingServiceKeys, in: &reader, context: "service '\(label)'")
        let maxConnections = reader.int("maxconn", in: 1...1_000_000) ?? 10_000
        let perClient = reader.int("maxconn_per_client", in: 0...1_000_000) ?? 0
        var timeouts = ServiceTimeouts(idle: module?.defaultIdleTimeout ?? .seconds(3600))
        if let value = reader.duration("connect_timeout") { timeouts.connect = value }
        if let value = reader.duration("idle_timeout") { timeouts.idle = value }
        if let value = reader.duration("peek_timeout") { timeouts.peek = value }
        if let value = reader.duration("close_linger") { timeouts.closeLinger = value }
        for (key, value) in [("connect_timeout", timeouts.connect), ("idle_timeout", timeouts.idle), ("peek_timeout", timeouts.peek)]
        where value <= .zero {
            reader.problem(reader.entryLine(key) ?? node.line, "service '\(label)': '\(key)' must be longer than zero")
        }

        var service = ServiceConfiguration(
            label: label, listen: listen ?? Endpoint(host: "0.0.0.0", port: 1), protocolName: protocolName,
            balance: balance, persistence: persistence, servers: servers, maxConnections: maxConnections,
            maxConnectionsPerClient: perClient, timeouts: timeouts, line: node.line)
        if let module {
            service.protocolHandler = module.makeServiceProtocol(&reader, service: service)
        }
        service.acceptProxy = Self.decodeAcceptProxy(&reader, label: label)
        service.transparent = Self.decodeTransparent(&reader, label: label, service: service)
        service.engine = reader.choice("engine", EngineChoice.self) ?? defaultEngine
        if service.engine == .native {
            let line = reader.entryLine("engine") ?? node.line
            if !Self.nativeEngineBuilt {
                reader.problem(line, Self.nativeUnavailable("service '\(label)'"))
            } else if service.addsChannelHandlers {
                reader.problem(
                    line,
                    "service '\(label)': 'engine: native' cannot terminate TLS (NIOSSL runs on the NIO engine); "
                        + "use 'auto' or 'nio'")
            }
        }
        // After the protocol: a check may run over the transport the protocol uses to a server (TLS to a node that
        // only speaks TLS, ``ProbeTransports``).
        service.healthCheck = self.decodeHealthCheck(&reader, service: service)
        let listenLine = listen == nil ? nil : reader.entryLine("listen")
        reader.finish()
        parent.absorb(reader)
        return DecodedService(service: service, labelValid: givenLabel != nil, listenLine: listenLine)
    }

    /// Which `source:` addresses a file may name: those of this host, and any when the file has a section whose module
    /// binds its addresses before it holds them (``ConfigSection/allowsUnheldSource``: an HA unit binds the VIP with
    /// IP_FREEBIND before keepalived gives it the address).
    private struct SourcePolicy {
        /// The registered section that allows unheld addresses, named in the refusal.
        var section: ConfigSectionKey?
        /// Whether the file has it.
        var allowsUnheld: Bool

        init(_ registry: ProtocolRegistry, root: ConfigNode) {
            self.section = registry.sections.first(where: \.allowsUnheldSource)?.key
            self.allowsUnheld = self.section.map { root.section($0) != nil } ?? false
        }

        /// The refusal of `host`, which this host does not have.
        func refusal(_ host: String, context: String) -> String {
            let reason = self.section.map {
                " (only an HA unit, with an '\($0)' section, may name the VIP before it holds it)"
            }
            return "\(context): 'source' \(host) is not an address of this host\(reason ?? "")"
        }
    }

    /// `source:` an IP address of this host the server leg binds before it connects. One the host does not have is
    /// refused unless the `policy` allows it.
    private static func decodeSource(_ reader: inout MappingReader, context: String, policy: SourcePolicy) -> SocketAddress? {
        guard let text = reader.string("source"), let line = reader.entryLine("source") else { return nil }
        let host = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        guard let address = try? SocketAddress(ipAddress: host, port: 0) else {
            reader.problem(line, "\(context): 'source' must be an IP address of this host (e.g. the VIP), found '\(text)'")
            return nil
        }
        if !policy.allowsUnheld, !LocalAddresses.contains(address) {
            reader.problem(line, policy.refusal(host, context: context))
        }
        return address
    }

    /// `accept_proxy: [CIDR, …]`: the networks of the upstream proxies a PROXY header is taken from.
    private static func decodeAcceptProxy(_ reader: inout MappingReader, label: String) -> [ClientNetwork] {
        guard let texts = reader.stringList("accept_proxy") else { return [] }
        let line = reader.entryLine("accept_proxy") ?? 0
        if texts.isEmpty {
            reader.problem(line, "service '\(label)': 'accept_proxy' lists no network (remove the key to read no PROXY header)")
        }
        var networks: [ClientNetwork] = []
        for text in texts {
            if let network = ClientNetwork(text) {
                networks.append(network)
            } else {
                reader.problem(
                    line, "service '\(label)': accept_proxy: '\(text)' is not a network (use e.g. 10.1.2.0/24, 10.1.2.7 or fd00::/8)")
            }
        }
        return networks
    }

    /// Claims each of `keys` present in `reader` and records that it is not supported yet.
    /// `transparent:`; refused together with a `source:` (the server leg binds one address) and with `accept_proxy`
    /// (the client behind an upstream proxy is not on a route through this host).
    private static func decodeTransparent(_ reader: inout MappingReader, label: String, service: ServiceConfiguration) -> Bool {
        guard reader.bool("transparent") == true else { return false }
        let line = reader.entryLine("transparent") ?? reader.line
        if service.servers.contains(where: { $0.source != nil }) {
            reader.problem(
                line, "service '\(label)': 'transparent: true' binds the client's own address; remove 'source' from the service and its servers")
        }
        if !service.acceptProxy.isEmpty {
            reader.problem(
                line, "service '\(label)': 'transparent: true' cannot be used with 'accept_proxy' (the clients behind the upstream proxy are not routed through this host)")
        }
        return true
    }

    private static func refusePending(_ keys: [String: String], in reader: inout MappingReader, context: String) {
        for (key, what) in keys.sorted(by: { $0.key < $1.key }) where reader.has(key) {
            let line = reader.entryLine(key) ?? reader.line
            _ = reader.node(key)
            reader.problem(
                line,
                "\(context): '\(key)' (\(what)) is not supported yet by this gateway; remove the key (see docs/configuration.md)")
        }
    }

    private func decodePersistence(
        _ reader: inout MappingReader, label: String, module: (any ProtocolModule)?, warnings: inout [ConfigProblem]
    ) -> PersistenceConfiguration {
        guard let node = reader.node("persistence") else { return PersistenceConfiguration() }
        var persistence = PersistenceConfiguration(type: .sourceIP)
        var typeLine = node.line
        if let type = node.scalar {
            persistence.type = PersistenceKind(rawValue: type)
        } else {
            var nested = MappingReader(node, context: "service '\(label)' persistence")
            persistence.type = nested.string("type").map(PersistenceKind.init(rawValue:)) ?? .sourceIP
            typeLine = nested.entryLine("type") ?? node.line
            if let timeout = nested.duration("timeout") { persistence.timeout = timeout }
            if let max = nested.int("max_entries", in: 1...10_000_000) { persistence.maxEntries = max }
            if let back = nested.bool("return_to_primary") {
                persistence.returnToPrimary = back
                if persistence.type == .none {
                    warnings.append(ConfigProblem(
                        line: nested.entryLine("return_to_primary") ?? node.line,
                        "service '\(label)': persistence 'return_to_primary' has no effect with persistence type 'none'"))
                }
            }
            nested.finish()
            reader.absorb(nested)
        }
        let allowed: [PersistenceKind] = [.none, .sourceIP] + (module?.persistenceTypes ?? [])
        if !allowed.contains(persistence.type) {
            reader.problem(
                typeLine,
                "service '\(label)': persistence type must be one of \(Self.list(allowed, sorted: false)), found '\(persistence.type)'")
            persistence.type = .none
        }
        if persistence.timeout <= .zero {
            reader.problem(node.line, "service '\(label)': persistence timeout must be longer than zero")
        }
        return persistence
    }

    private func decodeServers(
        _ reader: inout MappingReader, label: String, serviceLine: Int, moduleKeys: Set<String>,
        source serviceSource: SocketAddress?, sources: SourcePolicy
    ) -> [ServerConfiguration] {
        guard let node = reader.node("servers") else {
            reader.problem(serviceLine, "service '\(label)': has no servers (add a 'servers' list)")
            return []
        }
        guard case .sequence(let items) = node.kind, !items.isEmpty else {
            reader.problem(node.line, "service '\(label)': has no servers ('servers' must be a non-empty list)")
            return []
        }
        var servers: [ServerConfiguration] = []
        var seenLabels: [String: Int] = [:]
        for item in items {
            let name = MappingReader(item, context: "").peekString("label").map { " '\($0)'" } ?? ""
            var server = MappingReader(item, context: "service '\(label)' server\(name)")
            let serverLabel = server.string("label", required: true)
            let address = server.string("address", required: true)
            let weight = server.int("weight", in: 0...1_000_000) ?? 100
            let state = server.choice("state", ServerAdminState.self) ?? .online
            let backup = server.bool("backup") ?? false
            let sendProxy = server.choice("send_proxy", ProxyProtocolVersion.self)
            let source = Self.decodeSource(&server, context: server.context, policy: sources) ?? serviceSource
            let addressLine = server.entryLine("address") ?? item.line
            for key in moduleKeys { _ = server.node(key) }  // read by the protocol module
            Self.refusePending(Self.pendingServerKeys, in: &server, context: server.context)
            server.finish()
            reader.absorb(server)
            guard let serverLabel, let address else { continue }
            if let first = seenLabels[serverLabel] {
                reader.problem(item.line, "service '\(label)': duplicate server label '\(serverLabel)' (first at line \(first))")
                continue
            }
            seenLabels[serverLabel] = item.line
            switch Endpoint.parse(address) {
            case .success(let endpoint):
                servers.append(
                    ServerConfiguration(
                        label: serverLabel, endpoint: endpoint, weight: weight, state: state, backup: backup,
                        sendProxy: sendProxy, source: source))
            case .failure(let error):
                reader.problem(
                    addressLine,
                    "service '\(label)' server '\(serverLabel)': bad address '\(address)': \(error)")
            }
        }
        if !servers.isEmpty, servers.allSatisfy(\.backup) {
            reader.problem(
                node.line,
                "service '\(label)': every server is a backup; a backup only takes connections while no primary can, so mark at least one server without 'backup: true'")
        }
        return servers
    }

    private func decodeHealthCheck(_ reader: inout MappingReader, service: ServiceConfiguration) -> HealthCheckConfiguration {
        guard let node = reader.node("health_check") else { return HealthCheckConfiguration() }
        var nested = MappingReader(node, context: "service '\(service.label)' health_check")
        var config = HealthCheckConfiguration(type: nested.string("type").map(HealthCheckKind.init(rawValue:)) ?? .connect)
        if let interval = nested.duration("interval") { config.interval = interval }
        if let timeout = nested.duration("timeout") { config.timeout = timeout }
        if let rise = nested.int("rise", in: 1...100) { config.rise = rise }
        if let fall = nested.int("fall", in: 1...100) { config.fall = fall }
        if config.interval <= .zero { nested.problem(node.line, "service '\(service.label)': health_check interval must be longer than zero") }
        if config.timeout <= .zero { nested.problem(node.line, "service '\(service.label)': health_check timeout must be longer than zero") }
        if config.isEnabled {
            let factories = self.registry.healthChecks
            if let factory = factories[config.type] {
                config.check = factory.makeCheck(&nested, service: service)
            } else {
                let allowed = Self.list([HealthCheckKind.none] + factories.keys.sorted(), sorted: false)
                nested.problem(
                    nested.entryLine("type") ?? node.line,
                    "service '\(service.label)': health_check type must be one of \(allowed), found '\(config.type)'")
            }
        }
        nested.finish()
        reader.absorb(nested)
        return config
    }

    /// The audit log's configuration; the sections registered under `audit` (the ATNA module's `audit.syslog`) go into
    /// `sections` as raw nodes.
    private func decodeAudit(
        _ reader: inout MappingReader, sections: inout [ConfigSectionKey: ConfigNode]
    ) -> AuditConfiguration {
        guard let node = reader.node("audit") else { return AuditConfiguration() }
        var nested = MappingReader(node, context: "audit")
        var audit = AuditConfiguration()
        audit.path = nested.string("path")
        if let fsync = nested.choice("fsync", AuditConfiguration.FsyncPolicy.self) { audit.fsync = fsync }
        if let interval = nested.duration("fsync_interval") { audit.fsyncInterval = interval }
        if let maxBytes = nested.byteSize("max_bytes", in: 4096...(1 << 40)) { audit.maxBytes = maxBytes }
        if let keep = nested.int("keep", in: 0...1000) { audit.keep = keep }
        if let buffer = nested.int("buffer_records", in: 1...10_000_000) { audit.bufferRecords = buffer }
        if let policy = nested.choice("on_failure", AuditConfiguration.AuditFailurePolicy.self) { audit.onFailure = policy }
        if let required = nested.bool("required") { audit.required = required }
        if audit.required, audit.path == nil {
            nested.problem(
                nested.entryLine("required") ?? node.line,
                "audit: 'required: true' but no 'path': records would be kept in memory only; set audit.path")
        }
        if let count = nested.int("refused_records", in: 1...1_000_000) { audit.refusedRecords = count }
        if let interval = nested.duration("refused_interval") {
            if interval < .seconds(1) {
                nested.problem(nested.entryLine("refused_interval") ?? node.line, "audit: 'refused_interval' must be at least 1s")
            } else {
                audit.refusedInterval = interval
            }
        }
        self.claimSections(under: "audit", &nested, into: &sections)
        nested.finish()
        reader.absorb(nested)
        return audit
    }

    /// Claims the registered sections whose key sits in the core's mapping `parent` (`nil`: the top level) and keeps
    /// the nodes of those the file has.
    private func claimSections(
        under parent: String?, _ reader: inout MappingReader, into sections: inout [ConfigSectionKey: ConfigNode]
    ) {
        for section in self.registry.sections where section.key.parent == parent {
            if let node = reader.node(section.key.name) { sections[section.key] = node }
        }
    }

    /// `a | b | c`, sorted by default, for "must be one of" messages.
    private static func list<Name: ConfigName>(_ names: some Collection<Name>, sorted: Bool = true) -> String {
        (sorted ? names.sorted() : Array(names)).map(\.rawValue).joined(separator: " | ")
    }

    private static func checkUnique(_ services: [DecodedService], _ reader: inout MappingReader) {
        var labels: [String: Int] = [:]
        var listens: [Endpoint: String] = [:]
        for decoded in services {
            let service = decoded.service
            if decoded.labelValid {
                if let first = labels[service.label] {
                    reader.problem(service.line, "duplicate service label '\(service.label)' (first at line \(first))")
                } else {
                    labels[service.label] = service.line
                }
            }
            if let line = decoded.listenLine {
                if let other = listens[service.listen] {
                    reader.problem(line, "service '\(service.label)': listen address \(service.listen) is also used by service '\(other)'")
                } else {
                    listens[service.listen] = service.label
                }
            }
        }
    }
}

package import Logging
import NIOConcurrencyHelpers
package import NIOCore

/// The running state of one virtual service, shared by its listener, its connections and its health checks.
public final class ServiceRuntime: Sendable {
    /// The service label (stable across reloads; it identifies the service).
    public let label: String
    /// The real servers and their runtime state.
    public let pool: ServerPool
    /// The persistence table.
    public let stickTable: StickTable
    /// Live counters.
    public let stats: ServiceStats
    /// Open client connections.
    public let connections: ConnectionRegistry
    package let audit: AuditLog
    package let logger: Logger
    let connector: any BackendConnector
    private let current: NIOLockedValueBox<ServiceSnapshot>
    private let engineBox = NIOLockedValueBox(Engine.nio)

    init(configuration: ServiceConfiguration, audit: AuditLog, logger: Logger, connector: any BackendConnector) {
        self.label = configuration.label
        self.pool = ServerPool(
            servers: configuration.servers, rise: configuration.healthCheck.rise, fall: configuration.healthCheck.fall)
        self.stickTable = StickTable(
            timeout: .milliseconds(configuration.persistence.timeout.milliseconds),
            capacity: configuration.persistence.maxEntries)
        self.stats = ServiceStats(service: configuration.label)
        self.connections = ConnectionRegistry()
        self.audit = audit
        var logger = logger
        logger[metadataKey: "service"] = "\(configuration.label)"
        self.logger = logger
        self.connector = connector
        self.current = NIOLockedValueBox(ServiceSnapshot(configuration))
    }

    /// The configuration new connections use.
    public var configuration: ServiceConfiguration { self.current.withLockedValue { $0.configuration } }

    /// The snapshot a new connection keeps for its whole life.
    package var snapshot: ServiceSnapshot { self.current.withLockedValue { $0 } }

    /// The engine the service's listener runs on (connections accepted before a reload that moved the service keep
    /// theirs).
    public internal(set) var engine: Engine {
        get { self.engineBox.withLockedValue { $0 } }
        set { self.engineBox.withLockedValue { $0 = newValue } }
    }

    /// Applies a reloaded configuration of this service to new connections; open connections keep theirs.
    func update(_ configuration: ServiceConfiguration) {
        let previous = self.configuration
        self.pool.update(
            servers: configuration.servers, previous: previous.servers, rise: configuration.healthCheck.rise,
            fall: configuration.healthCheck.fall)
        self.stickTable.reconfigure(
            timeout: .milliseconds(configuration.persistence.timeout.milliseconds),
            capacity: configuration.persistence.maxEntries)
        self.current.withLockedValue { $0 = ServiceSnapshot(configuration) }
    }
}

/// One service configuration as seen by the connections accepted while it was current.
package final class ServiceSnapshot: Sendable {
    package let configuration: ServiceConfiguration
    package let usesSourceIP: Bool
    package let idleTimeout: TimeAmount
    package let peekTimeout: TimeAmount
    package let connectTimeout: TimeAmount
    package let closeLinger: TimeAmount
    /// `send_proxy:` of each server that has it (usually none, so connections skip the lookup).
    private let sendProxy: [String: ProxyProtocolVersion]
    /// `source:` of each server that has one.
    private let sources: [String: SocketAddress]

    init(_ configuration: ServiceConfiguration) {
        self.configuration = configuration
        self.usesSourceIP = configuration.persistence.type == .sourceIP
        self.idleTimeout = .milliseconds(configuration.timeouts.idle.milliseconds)
        self.peekTimeout = .milliseconds(configuration.timeouts.peek.milliseconds)
        self.connectTimeout = .milliseconds(configuration.timeouts.connect.milliseconds)
        self.closeLinger = .milliseconds(configuration.timeouts.closeLinger.milliseconds)
        var sendProxy: [String: ProxyProtocolVersion] = [:]
        var sources: [String: SocketAddress] = [:]
        for server in configuration.servers {
            sendProxy[server.label] = server.sendProxy
            sources[server.label] = server.source
        }
        self.sendProxy = sendProxy
        self.sources = sources
    }

    /// The local address a connection to `server` binds before connecting, if any: the client's own address and port
    /// (its TCP peer) with `transparent:`, else `source:`. `client` is read only for a transparent service (the native
    /// engine builds the address from its raw form, which no other connection needs).
    package func source(of server: ServerIdentity, client: @autoclosure () -> SocketAddress?) -> ServerLegSource? {
        if self.configuration.transparent {
            return client().map { ServerLegSource(address: $0, transparent: true) }
        }
        guard !self.sources.isEmpty, let address = self.sources[server.label] else { return nil }
        return ServerLegSource(address: address, transparent: false)
    }

    /// The PROXY header to write first on a new connection to `server` (nil when the server has no `send_proxy`).
    package func proxyHeader(
        to server: ServerIdentity, client: SocketAddress?, destination: @autoclosure () -> SocketAddress?,
        inspector: (any ConnectionInspector)?
    ) -> ByteBuffer? {
        guard !self.sendProxy.isEmpty, let version = self.sendProxy[server.label] else { return nil }
        return ServerLegProxyHeader.relayed(version, client: client, destination: destination(), inspector: inspector)
    }
}

public import Logging
public import NIOCore

/// A protocol module (DICOM, HL7, TLS) as the core and the configuration loader see it.
///
/// The loader reads the core's keys of each service and hands the same mapping to the module named by the service's
/// `protocol:` key, which reads its own keys and returns the service's ``ServiceProtocol``. Keys nobody reads are
/// reported as unknown.
public protocol ProtocolModule: Sendable {
    /// The `protocol:` value this module serves (`dicom`, `hl7`, `tls`), declared by the module.
    var name: ProtocolName { get }

    /// Persistence types the protocol can supply a key for, beyond `none` and `source-ip` (e.g. `calling-ae`).
    var persistenceTypes: [PersistenceKind] { get }

    /// Health check types the module adds (e.g. `dicom-echo`), by their `type:` value.
    var healthChecks: [HealthCheckKind: any HealthCheckFactory] { get }

    /// The idle timeout used when a service of this protocol sets none.
    var defaultIdleTimeout: Duration { get }

    /// Keys a server mapping of this protocol's services may carry beyond the core's (`label`, `address`, `weight`,
    /// `state`), e.g. `reencrypt`. The core accepts them; the module reads them in ``makeServiceProtocol(_:service:)``
    /// from the service's `servers` list (`reader.node("servers")`).
    var serverKeys: Set<String> { get }

    /// Reads the module's keys of one service mapping and builds the service's protocol logic.
    /// Problems go into `reader`; return `nil` only when the service cannot be built at all.
    func makeServiceProtocol(_ reader: inout MappingReader, service: ServiceConfiguration) -> (any ServiceProtocol)?
}

extension ProtocolModule {
    public var persistenceTypes: [PersistenceKind] { [] }
    public var healthChecks: [HealthCheckKind: any HealthCheckFactory] { [:] }
    public var defaultIdleTimeout: Duration { .seconds(3600) }
    public var serverKeys: Set<String> { [] }
}

/// The protocol logic of one configured service. Immutable and shared by all its connections.
public protocol ServiceProtocol: Sendable {
    /// A fresh inspector for a newly accepted connection.
    func makeInspector(_ context: ConnectionContext) -> any ConnectionInspector

    /// Whether this service's inspectors add NIO channel handlers to the connection's channels
    /// (``ConnectionInspector/configureClientPipeline(_:position:)``,
    /// ``ConnectionInspector/prepareServerChannel(_:server:position:)``), as TLS termination does. Such a service runs
    /// on the NIO engine: `engine: auto` picks NIO for it and `engine: native` is refused.
    var addsChannelHandlers: Bool { get }

    /// What health checks of the server labelled `server` run their probe over: TLS where the service re-encrypts to
    /// it, `nil` (the default) for plain TCP.
    func probeTransport(forServer server: String) -> (any ProbeTransport)?

    /// The certificates the service presents to clients, for the overview and metrics; `nil` (the default) when it
    /// terminates no TLS.
    var transportSecurity: TransportSecurityStatus? { get }
}

extension ServiceProtocol {
    public var addsChannelHandlers: Bool { false }
    public func probeTransport(forServer server: String) -> (any ProbeTransport)? { nil }
    public var transportSecurity: TransportSecurityStatus? { nil }
}

/// What an inspector knows about its connection when it is made.
public struct ConnectionContext: Sendable {
    /// The service label.
    public var service: String
    /// The client's address.
    public var client: SocketAddress
    /// The event loop the connection lives on; the inspector is only ever called here. On the native engine this is
    /// the connection's reactor, which is an `EventLoop` too: futures and scheduled tasks complete on its thread.
    public var eventLoop: any EventLoop
    /// The audit log records are written to.
    public var audit: AuditLog
    /// Whether new work must be refused because the audit log cannot record it (`audit.on_failure`): inspectors ask
    /// this, not the log's status.
    public var auditRefusal: AuditRefusalPolicy
    /// The service's logger (metadata `service` set).
    public var logger: Logger
    /// Wall-clock time the connection was accepted.
    public var acceptedAt: WallClock.Instant
    /// The persistence type configured for the service (`none`, `source-ip`, or a protocol type like `calling-ae`).
    public var persistenceType: PersistenceKind

    public init(
        service: String, client: SocketAddress, eventLoop: any EventLoop, audit: AuditLog, logger: Logger,
        acceptedAt: WallClock.Instant, persistenceType: PersistenceKind
    ) {
        self.service = service
        self.client = client
        self.eventLoop = eventLoop
        self.audit = audit
        self.auditRefusal = AuditRefusalPolicy(audit)
        self.logger = logger
        self.acceptedAt = acceptedAt
        self.persistenceType = persistenceType
    }
}

/// What a gateway is built with, as its configuration sees it: the protocol modules by name, and the sections that
/// modules outside the core (admin, HA, audit export) register. The executable assembles it
/// (`PacsgateApp/Launch/Registry.swift`); the core names none of its members.
public struct ProtocolRegistry: Sendable {
    public let modules: [ProtocolName: any ProtocolModule]
    /// The sections other modules decode, in registration order.
    public let sections: [ConfigSection]
    /// Protocol names the product defines whose module this build leaves out: a service of one is forwarded as plain
    /// TCP with a warning instead of being refused.
    public let notBuilt: Set<ProtocolName>

    /// A registry of `modules`, the `sections` other modules decode, and the product's protocols built without their
    /// module (`notBuilt`).
    public init(_ modules: [any ProtocolModule] = [], sections: [ConfigSection], notBuilt: Set<ProtocolName> = []) {
        var byName: [ProtocolName: any ProtocolModule] = [:]
        for module in modules { byName[module.name] = module }
        self.modules = byName
        self.sections = sections
        self.notBuilt = notBuilt.subtracting(byName.keys)
    }

    /// The protocol names a configuration may use: `tcp`, every module's, and those not built in.
    public var definedProtocols: Set<ProtocolName> { self.notBuilt.union(self.modules.keys).union([.tcp]) }

    public subscript(name: ProtocolName) -> (any ProtocolModule)? { self.modules[name] }

    /// Every health check type: the core's `connect` plus what the modules add.
    public var healthChecks: [HealthCheckKind: any HealthCheckFactory] {
        var result: [HealthCheckKind: any HealthCheckFactory] = [.connect: ConnectHealthCheck.Factory()]
        for module in self.modules.values {
            result.merge(module.healthChecks) { first, _ in first }
        }
        return result
    }
}

public import Logging
public import NIOCore

/// The whole gateway configuration, validated.
public struct GatewayConfiguration: Sendable {
    public var services: [ServiceConfiguration]
    public var audit: AuditConfiguration
    public var logLevel: Logger.Level
    /// Log lines kept in memory for the admin's logs page (`logging.recent_lines`; 0 keeps none). Read at start.
    public var recentLogLines: Int
    /// Default of ``recentLogLines``.
    public static let defaultRecentLogLines = 2000
    /// Where generated state lives (self-signed certificates, backups); `nil` = none.
    public var stateDirectory: String?
    /// How long open connections may take to finish after SIGTERM before they are closed.
    public var shutdownGracePeriod: Duration
    /// The sections other modules registered (``ProtocolRegistry/sections``) and the file has, by key, for those
    /// modules to decode.
    public var sections: [ConfigSectionKey: ConfigNode]

    public init(
        services: [ServiceConfiguration], audit: AuditConfiguration = AuditConfiguration(),
        logLevel: Logger.Level = .info, stateDirectory: String? = nil, shutdownGracePeriod: Duration = .seconds(30),
        sections: [ConfigSectionKey: ConfigNode] = [:], recentLogLines: Int = GatewayConfiguration.defaultRecentLogLines
    ) {
        self.services = services
        self.audit = audit
        self.logLevel = logLevel
        self.recentLogLines = recentLogLines
        self.stateDirectory = stateDirectory
        self.shutdownGracePeriod = shutdownGracePeriod
        self.sections = sections
    }
}

/// One virtual service: a listener in front of a pool of real servers.
public struct ServiceConfiguration: Sendable {
    public var label: String
    public var listen: Endpoint
    /// `tcp` or a protocol module's name.
    public var protocolName: ProtocolName
    public var balance: BalanceMethod
    public var persistence: PersistenceConfiguration
    public var healthCheck: HealthCheckConfiguration
    public var servers: [ServerConfiguration]
    /// Most concurrent client connections; beyond it new ones are refused (counted).
    public var maxConnections: Int
    /// Most concurrent connections from one client IP (0 = no limit).
    public var maxConnectionsPerClient: Int
    public var timeouts: ServiceTimeouts
    /// The protocol logic; `nil` forwards plain TCP.
    public var protocolHandler: (any ServiceProtocol)?
    /// The data plane: the service's `engine:`, else the top-level `engine:`, else `auto`.
    public var engine: EngineChoice
    /// `accept_proxy:` the upstream proxies whose PROXY protocol header (v1 or v2) is required and believed: its
    /// source address becomes the client address (``ProxyHeaderGate``). Empty (the default): no header is read.
    public var acceptProxy: [ClientNetwork] = []
    /// `transparent:` the server leg binds the client's own address and port (IP_TRANSPARENT), so the node sees the
    /// modality's address. Needs CAP_NET_ADMIN and routing that brings the nodes' answers back through this host
    /// (docs/operations.md, "Transparent mode"). Default false.
    public var transparent = false
    /// Line of the service in the configuration file (0 when built in code).
    public var line: Int

    /// Whether the service's inspectors add NIO channel handlers (TLS termination): only the NIO engine runs those.
    public var addsChannelHandlers: Bool { self.protocolHandler?.addsChannelHandlers ?? false }

    public init(
        label: String, listen: Endpoint, protocolName: ProtocolName = .tcp, balance: BalanceMethod = .roundrobin,
        persistence: PersistenceConfiguration = PersistenceConfiguration(),
        healthCheck: HealthCheckConfiguration = HealthCheckConfiguration(), servers: [ServerConfiguration],
        maxConnections: Int = 10_000, maxConnectionsPerClient: Int = 0, timeouts: ServiceTimeouts = ServiceTimeouts(),
        protocolHandler: (any ServiceProtocol)? = nil, engine: EngineChoice = .auto, line: Int = 0
    ) {
        self.label = label
        self.listen = listen
        self.protocolName = protocolName
        self.balance = balance
        self.persistence = persistence
        self.healthCheck = healthCheck
        self.servers = servers
        self.maxConnections = maxConnections
        self.maxConnectionsPerClient = maxConnectionsPerClient
        self.timeouts = timeouts
        self.protocolHandler = protocolHandler
        self.engine = engine
        self.line = line
    }
}

/// A real server behind a service.
public struct ServerConfiguration: Sendable, Equatable {
    public var label: String
    public var endpoint: Endpoint
    /// Relative share of new connections; 0 takes the server out of new selections.
    public var weight: Int
    /// Administrative state at start (`online` unless set); runtime changes survive reloads.
    public var state: ServerAdminState
    /// A backup (fallback) server: it takes new connections only while no primary server of the service can
    /// (``ServerPool/select(method:clientKey:stickKey:stickTable:allowed:excluding:returnToPrimary:now:)``).
    public var backup: Bool
    /// `send_proxy:` the PROXY protocol header written first on every connection to the server (and a `LOCAL` one
    /// on its health checks); `nil` (the default) sends none.
    public var sendProxy: ProxyProtocolVersion?
    /// `source:` (the server's, else its service's): the local address the server leg binds before it connects, with
    /// a port the kernel picks at connect time; `nil` (the default) leaves both to the kernel.
    public var source: SocketAddress?

    public init(
        label: String, endpoint: Endpoint, weight: Int = 100, state: ServerAdminState = .online, backup: Bool = false,
        sendProxy: ProxyProtocolVersion? = nil, source: SocketAddress? = nil
    ) {
        self.label = label
        self.endpoint = endpoint
        self.weight = weight
        self.state = state
        self.backup = backup
        self.sendProxy = sendProxy
        self.source = source
    }
}

/// Balancing method for new connections.
public enum BalanceMethod: String, Sendable, CaseIterable {
    /// Smooth weighted round-robin.
    case roundrobin
    /// Fewest active connections relative to weight.
    case leastconn
    /// Weighted rendezvous hash of the client IP (stable when servers come and go).
    case source
}

/// Administrative state of a real server.
public enum ServerAdminState: String, Sendable, CaseIterable {
    /// Takes new connections.
    case online
    /// Takes no new connections except from clients stuck to it; existing ones continue.
    case drain
    /// Takes no new connections at all; existing ones continue.
    case halt
}

/// Source-IP (or protocol-key) persistence.
public struct PersistenceConfiguration: Sendable, Equatable {
    /// `none`, `source-ip`, or a protocol-supplied type such as `calling-ae`.
    public var type: PersistenceKind
    public var timeout: Duration
    /// Most entries kept.
    public var maxEntries: Int
    /// A client stuck to a backup server goes back to a primary as soon as one takes new connections again
    /// (`true`); `false` keeps it on the backup until its entry expires or the backup goes down.
    public var returnToPrimary: Bool

    public init(
        type: PersistenceKind = .none, timeout: Duration = .seconds(1800), maxEntries: Int = 100_000, returnToPrimary: Bool = true
    ) {
        self.type = type
        self.timeout = timeout
        self.maxEntries = maxEntries
        self.returnToPrimary = returnToPrimary
    }

    public var isEnabled: Bool { self.type != .none }
}

/// Health checking of a service's servers.
public struct HealthCheckConfiguration: Sendable {
    /// `none`, `connect`, or a module's check (`dicom-echo`, `mllp`, `tls`).
    public var type: HealthCheckKind
    public var interval: Duration
    public var timeout: Duration
    public var rise: Int
    public var fall: Int
    public var check: (any HealthCheck)?

    public init(
        type: HealthCheckKind = .none, interval: Duration = .seconds(2), timeout: Duration = .seconds(1), rise: Int = 2,
        fall: Int = 3, check: (any HealthCheck)? = nil
    ) {
        self.type = type
        self.interval = interval
        self.timeout = timeout
        self.rise = rise
        self.fall = fall
        self.check = check
    }

    /// Whether the servers are checked at all (a type other than `none`).
    public var isEnabled: Bool { self.type != .none }
}

/// Timeouts of a service.
public struct ServiceTimeouts: Sendable, Equatable {
    /// Connecting to one server; then the next healthy server is tried.
    public var connect: Duration
    /// No byte in either direction for this long ends a forwarded connection. Long by default: DICOM studies and
    /// HL7 feeds sit idle for minutes.
    public var idle: Duration
    /// How long an inspector may wait for the client's first message (DICOM's ARTIM on the client leg).
    public var peek: Duration
    /// How long to wait for the client to close after the gateway answered and half-closed.
    public var closeLinger: Duration

    public init(
        connect: Duration = .seconds(5), idle: Duration = .seconds(3600), peek: Duration = .seconds(10),
        closeLinger: Duration = .seconds(5)
    ) {
        self.connect = connect
        self.idle = idle
        self.peek = peek
        self.closeLinger = closeLinger
    }
}

/// The audit log (JSON lines).
public struct AuditConfiguration: Sendable, Equatable {
    /// File path; `nil` keeps records in memory only (the recent-records ring).
    public var path: String?
    /// `every`: fsync before a record is acknowledged; `interval`: fsync at most every ``fsyncInterval``.
    public var fsync: FsyncPolicy
    public var fsyncInterval: Duration
    /// Rotate when the file exceeds this size.
    public var maxBytes: Int
    /// Rotated files kept (`audit.jsonl.1` … `.N`).
    public var keep: Int
    /// Records waiting to be written, at most. At this many the gateway stops reading its clients and accepting new
    /// ones until the writer catches up (a slow, stalled or full disk); records are never dropped.
    public var bufferRecords: Int
    /// Records of refused connections written in full per client address and ``refusedInterval``; beyond it one
    /// aggregate record per client and interval counts the rest.
    public var refusedRecords: Int
    public var refusedInterval: Duration
    /// What to do while the log cannot be written: keep forwarding (`continue`) or refuse new audited
    /// connections (`refuse`).
    public var onFailure: AuditFailurePolicy
    /// Refuse a configuration without ``path`` (records would live in memory only).
    public var required: Bool

    public enum FsyncPolicy: String, Sendable, CaseIterable {
        case every
        case interval
    }

    public enum AuditFailurePolicy: String, Sendable, CaseIterable {
        case `continue`
        case refuse
    }

    public init(
        path: String? = nil, fsync: FsyncPolicy = .every, fsyncInterval: Duration = .seconds(1),
        maxBytes: Int = 100 << 20, keep: Int = 10, bufferRecords: Int = 10_000, onFailure: AuditFailurePolicy = .continue,
        required: Bool = false, refusedRecords: Int = 10, refusedInterval: Duration = .seconds(60)
    ) {
        self.path = path
        self.fsync = fsync
        self.fsyncInterval = fsyncInterval
        self.maxBytes = maxBytes
        self.keep = keep
        self.bufferRecords = bufferRecords
        self.onFailure = onFailure
        self.required = required
        self.refusedRecords = refusedRecords
        self.refusedInterval = refusedInterval
    }
}

public import NIOCore

/// A health check kind (`connect`, `dicom-echo`, `mllp`, `tls`): how to ask one server whether it is well.
public protocol HealthCheck: Sendable {
    /// Runs one check against `server`, giving up after `timeout`. Never throws: failures are results.
    func check(_ server: Endpoint, timeout: Duration, group: any EventLoopGroup) async -> HealthCheckResult
}

/// Builds a ``HealthCheck`` from a service's `health_check:` mapping (after the core read `type`, `interval`,
/// `timeout`, `rise` and `fall`).
public protocol HealthCheckFactory: Sendable {
    func makeCheck(_ reader: inout MappingReader, service: ServiceConfiguration) -> (any HealthCheck)?
}

/// The outcome of one check.
public struct HealthCheckResult: Sendable, Equatable, CustomStringConvertible {
    public var succeeded: Bool
    /// What happened, in an operator's words ("C-ECHO status 0x0000", "connection refused").
    public var detail: String
    /// How long the check took.
    public var latency: Duration
    /// When the certificate the server presented expires, for checks that speak TLS (`nil` otherwise).
    public var certificateExpiry: WallClock.Instant?

    public init(
        succeeded: Bool, detail: String, latency: Duration = .zero, certificateExpiry: WallClock.Instant? = nil
    ) {
        self.succeeded = succeeded
        self.detail = detail
        self.latency = latency
        self.certificateExpiry = certificateExpiry
    }

    public static func success(_ detail: String, latency: Duration = .zero) -> Self {
        Self(succeeded: true, detail: detail, latency: latency)
    }

    public static func failure(_ detail: String, latency: Duration = .zero) -> Self {
        Self(succeeded: false, detail: detail, latency: latency)
    }

    public var description: String { "\(succeeded ? "ok" : "failed"): \(detail)" }
}

/// The appliance's "connect to port" check: a TCP connect within the timeout, then close.
public struct ConnectHealthCheck: HealthCheck {
    public init() {}

    public func check(_ server: Endpoint, timeout: Duration, group: any EventLoopGroup) async -> HealthCheckResult {
        await ProbeConnection.run(server: server, timeout: timeout, group: group, probe: ConnectOnlyProbe())
    }

    /// The factory registered under `type: connect`.
    public struct Factory: HealthCheckFactory {
        public init() {}
        public func makeCheck(_ reader: inout MappingReader, service: ServiceConfiguration) -> (any HealthCheck)? {
            ConnectHealthCheck()
        }
    }
}

/// A connect-only probe: succeeds as soon as the connection is up.
struct ConnectOnlyProbe: HealthProbe {
    mutating func start() -> ProbeStep { .done(.success("connected")) }
    mutating func receive(_ data: inout ByteBuffer) -> ProbeStep { .done(.success("connected")) }
}

/// The ``ProbeTransport`` of each server of a service, by address: TLS to the servers the service re-encrypts to
/// (a node that only speaks TLS is checked over TLS, with the settings the service's connections use), plain TCP to
/// the others. Read from the service's protocol when the health check is built.
public struct ProbeTransports: Sendable {
    private let byEndpoint: [Endpoint: any ProbeTransport]

    /// The transports of `service`'s servers (its protocol handler must already be set).
    public init(_ service: ServiceConfiguration) {
        var transports: [Endpoint: any ProbeTransport] = [:]
        if let handler = service.protocolHandler {
            for server in service.servers where transports[server.endpoint] == nil {
                transports[server.endpoint] = handler.probeTransport(forServer: server.label)
            }
        }
        self.byEndpoint = transports
    }

    /// The transport for the server at `server`; `nil` for plain TCP.
    public func transport(for server: Endpoint) -> (any ProbeTransport)? {
        self.byEndpoint[server]
    }
}

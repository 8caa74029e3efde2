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

    public init(succeeded: Bool, detail: String, latency: Duration = .zero) {
        self.succeeded = succeeded
        self.detail = detail
        self.latency = latency
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

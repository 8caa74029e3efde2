public import PacsgateCore

/// The HL7 v2 over MLLP protocol module (`protocol: hl7`).
///
/// Service keys (see ``HL7ServiceSettings``): `max_message_bytes` (default 4 MiB), `on_invalid: nak | close`
/// (default `nak`), `ack_timeout` (default 60 s). Health check type `mllp` (``MLLPHealthCheck``). Idle timeout
/// 24 h unless the service sets one: HL7 feeds stay open for days and may be quiet for hours.
public struct HL7Module: ProtocolModule {
    /// `hl7`.
    public let name = "hl7"

    private let clock: @Sendable () -> WallClock.Instant
    private let connectionTag: @Sendable () -> String

    /// Creates the module.
    public init() {
        self.init(clock: WallClock.now, connectionTag: HL7NegativeAcknowledger.randomTag)
    }

    /// A module with an injected wall clock and NAK control-ID tag, so generated NAKs are byte-for-byte
    /// predictable in tests.
    init(clock: @escaping @Sendable () -> WallClock.Instant, connectionTag: @escaping @Sendable () -> String) {
        self.clock = clock
        self.connectionTag = connectionTag
    }

    /// `mllp`: an HL7 test message that must be acknowledged (``MLLPHealthCheck``).
    public var healthChecks: [String: any HealthCheckFactory] {
        ["mllp": MLLPHealthCheck.Factory(clock: self.clock)]
    }

    /// 24 h: HL7 feeds stay open for days and may be quiet for hours.
    public var defaultIdleTimeout: Duration { .seconds(24 * 3600) }

    /// Reads `max_message_bytes`, `on_invalid` and `ack_timeout` (``HL7ServiceSettings``).
    public func makeServiceProtocol(
        _ reader: inout MappingReader,
        service: ServiceConfiguration
    ) -> (any ServiceProtocol)? {
        HL7ServiceProtocol(settings: HL7ServiceSettings(&reader), clock: self.clock, connectionTag: self.connectionTag)
    }

    /// A ``SimulatedHL7Node`` answering every message with `AA`.
    public func makeSimulatedNode(name: String, service: String, stateDirectory: String) throws -> (any SimulatedNode)?
    {
        SimulatedHL7Node(name: name, clock: self.clock)
    }
}

public import PacsgateCore

/// The HL7 v2 over MLLP protocol module (`protocol: hl7`).
///
/// Service keys (see ``HL7ServiceSettings``): `max_message_bytes` (default 4 MiB), `on_invalid: nak | close`
/// (default `nak`), `ack_timeout` (default 60 s), `sender_allow`, and `tls` when built with a
/// ``SecureTransportProvider``. Health check type `mllp` (``MLLPHealthCheck``). Idle timeout
/// 24 h unless the service sets one: HL7 feeds stay open for days and may be quiet for hours.
public struct HL7Module: ProtocolModule {
    /// `hl7`.
    public let name: ProtocolName = .hl7

    private let clock: @Sendable () -> WallClock.Instant
    private let connectionTag: @Sendable () -> String
    /// TLS termination for `tls:` (the TLS module's, handed over by the executable); `nil` refuses `tls:`.
    private let secureTransport: (any SecureTransportProvider)?

    /// Creates the module; with `secureTransport`, services may terminate TLS (`tls:`).
    public init(secureTransport: (any SecureTransportProvider)? = nil) {
        self.init(
            clock: WallClock.now,
            connectionTag: HL7NegativeAcknowledger.randomTag,
            secureTransport: secureTransport
        )
    }

    /// A module with an injected wall clock and NAK control-ID tag, so generated NAKs are byte-for-byte
    /// predictable in tests.
    init(
        clock: @escaping @Sendable () -> WallClock.Instant,
        connectionTag: @escaping @Sendable () -> String,
        secureTransport: (any SecureTransportProvider)? = nil
    ) {
        self.clock = clock
        self.connectionTag = connectionTag
        self.secureTransport = secureTransport
    }

    /// `reencrypt`, `verify`, `ca_file`, `server_name`, `certificate`, `key` when TLS is built in.
    public var serverKeys: Set<String> { self.secureTransport?.serverKeys ?? [] }

    /// `mllp`: an HL7 test message that must be acknowledged (``MLLPHealthCheck``).
    public var healthChecks: [HealthCheckKind: any HealthCheckFactory] {
        [.mllp: MLLPHealthCheck.Factory(clock: self.clock)]
    }

    /// 24 h: HL7 feeds stay open for days and may be quiet for hours.
    public var defaultIdleTimeout: Duration { .seconds(24 * 3600) }

    /// Reads `max_message_bytes`, `on_invalid`, `ack_timeout`, `sender_allow` (``HL7ServiceSettings``) and `tls`.
    public func makeServiceProtocol(
        _ reader: inout MappingReader,
        service: ServiceConfiguration
    ) -> (any ServiceProtocol)? {
        let tls = SecureTransportSetting.read(&reader, service: service, provider: self.secureTransport)
        return HL7ServiceProtocol(
            settings: HL7ServiceSettings(&reader, clientCertificates: tls.clientCertificates),
            termination: tls.termination,
            clock: self.clock,
            connectionTag: self.connectionTag
        )
    }
}

extension ProtocolName {
    /// HL7 v2 over MLLP (``HL7Module``).
    public static let hl7: ProtocolName = "hl7"
}

extension HealthCheckKind {
    /// An HL7 test message that must be acknowledged (``MLLPHealthCheck``).
    public static let mllp: HealthCheckKind = "mllp"
}

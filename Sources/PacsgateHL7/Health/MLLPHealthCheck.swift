public import NIOCore
public import PacsgateCore

/// The `mllp` health check: one HL7 test message over a fresh connection, healthy only if the server answers
/// with a framed ACK whose MSA-2 echoes the message's MSH-10 and whose MSA-1 is AA or CA (see ``MLLPProbe``).
///
/// ```yaml
/// health_check:
///   type: mllp
///   interval: 10s
///   timeout: 2s
///   sending_app: PACSGATE      # MSH-3 of the test message (default PACSGATE)
///   sending_facility: ""       # MSH-4
///   receiving_app: ""          # MSH-5
///   receiving_facility: ""     # MSH-6
///   processing_id: P           # MSH-11
///   version: "2.5.1"           # MSH-12
/// ```
///
/// Each check uses a fresh control ID (`PGW` + 16 random hex digits), so a late answer to an earlier check
/// can never pass a later one.
public struct MLLPHealthCheck: HealthCheck {
    /// The test message's MSH values.
    public let configuration: MLLPProbe.Configuration
    /// TLS to the servers the service re-encrypts to (a node that only speaks TLS), plain TCP to the others.
    public let transports: ProbeTransports?
    private let clock: @Sendable () -> WallClock.Instant

    /// Creates the check; `configuration` must be valid for ``MLLPProbe`` (the factory checks it).
    public init(configuration: MLLPProbe.Configuration = MLLPProbe.Configuration(), transports: ProbeTransports? = nil) {
        self.init(configuration: configuration, transports: transports, clock: WallClock.now)
    }

    init(
        configuration: MLLPProbe.Configuration,
        transports: ProbeTransports? = nil,
        clock: @escaping @Sendable () -> WallClock.Instant
    ) {
        self.configuration = configuration
        self.transports = transports
        self.clock = clock
    }

    /// Sends one test message over a fresh connection; succeeds only on a matching AA/CA acknowledgment.
    public func check(_ server: Endpoint, timeout: Duration, group: any EventLoopGroup) async -> HealthCheckResult {
        let controlID = "PGW" + String(UInt64.random(in: .min ... .max), radix: 16, uppercase: true)
        let probe: MLLPProbe
        do {
            probe = try MLLPProbe(
                configuration: self.configuration,
                controlID: controlID,
                timestamp: HL7NegativeAcknowledger.timestamp(self.clock())
            )
        } catch {
            return .failure("test message cannot be built: \(error)")
        }
        return await ProbeConnection.run(
            server: server,
            timeout: timeout,
            group: group,
            probe: MLLPHealthProbe(probe: probe),
            transport: self.transports?.transport(for: server)
        )
    }

    /// The factory registered under `type: mllp`.
    public struct Factory: HealthCheckFactory {
        let clock: @Sendable () -> WallClock.Instant

        /// Creates the factory.
        public init() {
            self.clock = WallClock.now
        }

        init(clock: @escaping @Sendable () -> WallClock.Instant) {
            self.clock = clock
        }

        /// Reads the test message's MSH keys and checks that they can be written into it.
        public func makeCheck(_ reader: inout MappingReader, service: ServiceConfiguration) -> (any HealthCheck)? {
            var configuration = MLLPProbe.Configuration()
            if let value = reader.string("sending_app") { configuration.sendingApplication = value }
            if let value = reader.string("sending_facility") { configuration.sendingFacility = value }
            if let value = reader.string("receiving_app") { configuration.receivingApplication = value }
            if let value = reader.string("receiving_facility") { configuration.receivingFacility = value }
            if let value = reader.string("processing_id") { configuration.processingID = value }
            if let value = reader.string("version") { configuration.versionID = value }
            do {
                _ = try MLLPProbe(
                    configuration: configuration,
                    controlID: "PGW0",
                    timestamp: HL7Timestamp(unixSeconds: 0, utcOffsetMinutes: 0)
                )
            } catch {
                let keys = [
                    "MSH-3": "sending_app", "MSH-4": "sending_facility", "MSH-5": "receiving_app",
                    "MSH-6": "receiving_facility", "MSH-11": "processing_id", "MSH-12": "version",
                ]
                var line = reader.line
                if case .invalidCharacter(let field, _) = error, let key = keys[field] {
                    line = reader.entryLine(key) ?? line
                }
                reader.problem(line, "\(reader.context): mllp test message: \(error)")
                return nil
            }
            return MLLPHealthCheck(configuration: configuration, transports: ProbeTransports(service), clock: self.clock)
        }
    }
}

/// Adapts the pure ``MLLPProbe`` to the core's ``HealthProbe`` conversation.
struct MLLPHealthProbe: HealthProbe {
    private var probe: MLLPProbe

    init(probe: MLLPProbe) {
        self.probe = probe
    }

    mutating func start() -> ProbeStep {
        var request = ByteBuffer()
        self.probe.writeRequest(into: &request)
        return .send(request)
    }

    mutating func receive(_ data: inout ByteBuffer) -> ProbeStep {
        guard let verdict = self.probe.receive(&data) else { return .needMore }
        return .done(Self.result(verdict))
    }

    mutating func serverClosed() -> HealthCheckResult {
        Self.result(self.probe.connectionClosed())
    }

    private static func result(_ verdict: MLLPProbe.Verdict) -> HealthCheckResult {
        switch verdict {
        case .healthy(let code): .success("HL7 ACK \(code.rawValue)")
        case .unhealthy(let reason): .failure("\(reason)")
        }
    }
}

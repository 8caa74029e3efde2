import PacsgateCore

/// The protocol logic of one `protocol: hl7` service: its settings, shared by all its connections.
struct HL7ServiceProtocol: ServiceProtocol {
    let settings: HL7ServiceSettings
    /// TLS terminated in front of the inspector (`tls:`), `nil` on a plain service.
    let termination: (any SecureTransportTermination)?
    let clock: @Sendable () -> WallClock.Instant
    let connectionTag: @Sendable () -> String
    /// The stream machine's settings, derived once for every connection of the service.
    let configuration: HL7StreamStateMachine.Configuration

    init(
        settings: HL7ServiceSettings, termination: (any SecureTransportTermination)?,
        clock: @escaping @Sendable () -> WallClock.Instant, connectionTag: @escaping @Sendable () -> String
    ) {
        self.settings = settings
        self.termination = termination
        self.clock = clock
        self.connectionTag = connectionTag
        self.configuration = HL7StreamStateMachine.Configuration(settings: settings)
    }

    func makeInspector(_ context: ConnectionContext) -> any ConnectionInspector {
        let inspector = HL7Inspector(
            context: context,
            configuration: self.configuration,
            clock: self.clock,
            connectionTag: self.connectionTag
        )
        return self.termination?.wrap(inspector, context: context) ?? inspector
    }

    func probeTransport(forServer server: String) -> (any ProbeTransport)? {
        self.termination?.probeTransport(forServer: server)
    }

    var transportSecurity: TransportSecurityStatus? { self.termination?.status }

    /// TLS termination (`tls:`) puts NIOSSL on the client's channel, so a terminating service runs on the NIO engine.
    var addsChannelHandlers: Bool { self.termination != nil }
}

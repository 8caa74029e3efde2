import PacsgateCore

/// The protocol logic of one `protocol: hl7` service: its settings, shared by all its connections.
struct HL7ServiceProtocol: ServiceProtocol {
    let settings: HL7ServiceSettings
    /// TLS terminated in front of the inspector (`tls:`), `nil` on a plain service.
    let termination: (any SecureTransportTermination)?
    let clock: @Sendable () -> WallClock.Instant
    let connectionTag: @Sendable () -> String

    func makeInspector(_ context: ConnectionContext) -> any ConnectionInspector {
        let inspector = HL7Inspector(
            context: context,
            settings: self.settings,
            clock: self.clock,
            connectionTag: self.connectionTag()
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

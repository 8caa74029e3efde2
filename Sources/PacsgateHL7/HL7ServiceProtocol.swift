import PacsgateCore

/// The protocol logic of one `protocol: hl7` service: its settings, shared by all its connections.
struct HL7ServiceProtocol: ServiceProtocol {
    let settings: HL7ServiceSettings
    let clock: @Sendable () -> WallClock.Instant
    let connectionTag: @Sendable () -> String

    func makeInspector(_ context: ConnectionContext) -> any ConnectionInspector {
        HL7Inspector(context: context, settings: self.settings, clock: self.clock, connectionTag: self.connectionTag())
    }
}

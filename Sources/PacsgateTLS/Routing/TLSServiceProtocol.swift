import NIOCore
import NIOSSL
public import PacsgateCore

/// The protocol logic of one `protocol: tls` service, built from its configuration and shared by its connections.
///
/// Immutable: a reload builds a new one (re-reading certificate files), which new connections use while open ones
/// keep theirs.
public struct TLSServiceProtocol: ServiceProtocol {
    /// The service label.
    public let label: String
    public let mode: TLSMode
    let machine: TLSConnectionStateMachine.Configuration
    /// Set when `mode: terminate`.
    let termination: Termination?
    /// Re-encrypted servers by label.
    let legs: [String: ReencryptionLeg]
    /// Bound on the TLS handshake with a server (the service's `connect_timeout`).
    let serverHandshakeTimeout: TimeAmount
    /// Refusal counts of this service.
    public let counters: TLSServiceCounters
    /// Terminate mode: set `X-Forwarded-For`, `X-Forwarded-Proto` and `Forwarded` on every request
    /// (``ForwardedHeaderRewriter``).
    let forwardedHeaders: Bool

    /// What a terminating service presents to clients.
    struct Termination: Sendable {
        let context: NIOSSLContext
        let certificates: TLSCertificateSet
        let applicationProtocols: [String]
        let fallbackPage: FallbackPage
    }

    init(
        label: String,
        machine: TLSConnectionStateMachine.Configuration,
        termination: Termination?,
        legs: [String: ReencryptionLeg],
        serverHandshakeTimeout: TimeAmount,
        forwardedHeaders: Bool = false
    ) {
        self.label = label
        self.mode = machine.mode
        self.machine = machine
        self.termination = termination
        self.legs = legs
        self.serverHandshakeTimeout = serverHandshakeTimeout
        self.forwardedHeaders = forwardedHeaders
        self.counters = TLSServiceCounters.forService(label)
    }

    /// The certificates presented to clients (`nil` in passthrough).
    public var certificates: TLSCertificateSet? { self.termination?.certificates }

    /// The per-server options of re-encrypted servers, by label.
    public var serverOptions: [String: TLSServerOptions] { self.legs.mapValues(\.options) }

    public func makeInspector(_ context: ConnectionContext) -> any ConnectionInspector {
        TLSConnectionInspector(service: self, context: context)
    }

    /// Termination puts NIOSSL on both legs, so a terminating service runs on the NIO engine; passthrough reads the
    /// ClientHello from the raw bytes and runs on either.
    public var addsChannelHandlers: Bool { self.mode == .terminate }

    /// Terminating services: the certificates presented to clients (no client authentication).
    public var transportSecurity: TransportSecurityStatus? {
        self.termination.map { TransportSecurityStatus(certificates: $0.certificates.entries.map(\.status), clientAuthentication: .none) }
    }
}

import NIOCore
import NIOSSL
public import PacsgateCore

/// TLS terminated in front of a `dicom` or `hl7` service's inspector (`tls:` on the service): the gateway's
/// certificate, client authentication, and the re-encrypted server legs. Built by ``TLSTransportProvider`` when the
/// configuration is read; immutable, so a reload builds a new one and open connections keep theirs.
public struct TLSTermination: SecureTransportTermination {
    /// The service label.
    let service: String
    /// The service's protocol (`dicom`, `hl7`), for the audit record of a failed handshake.
    let protocolName: String
    let context: NIOSSLContext
    let certificate: TLSCertificateSet.Entry
    public let clientAuthentication: ClientAuthentication
    /// Verifies client certificates (`nil` with `client_auth: none`).
    let verifier: ClientCertificateVerifier?
    /// Re-encrypted servers by label.
    let legs: [String: ReencryptionLeg]
    /// Bound on the TLS handshake with a server (the service's `connect_timeout`).
    let serverHandshakeTimeout: TimeAmount
    let revocationListNextUpdate: WallClock.Instant?
    /// Refusal counts of the service (shared with `protocol: tls` services' counters by label).
    public let counters: TLSServiceCounters

    public func wrap(_ inspector: any ConnectionInspector, context: ConnectionContext) -> any ConnectionInspector {
        TLSTerminatingInspector(inner: inspector, termination: self, context: context)
    }

    public func probeTransport(forServer server: String) -> (any ProbeTransport)? {
        self.legs[server].map { TLSProbeTransport(leg: $0) }
    }

    public var status: TransportSecurityStatus {
        TransportSecurityStatus(
            certificates: [self.certificate.status],
            clientAuthentication: self.clientAuthentication,
            revocationListNextUpdate: self.revocationListNextUpdate
        )
    }

    /// The TLS server handler of a new connection: with a verification callback that runs ``verifier`` off the
    /// event loop and reports back to `inspector` on it.
    func makeServerHandler(for inspector: TLSTerminatingInspector, eventLoop: any EventLoop) -> NIOSSLServerHandler {
        guard let verifier = self.verifier else { return NIOSSLServerHandler(context: self.context) }
        let bound = NIOLoopBound(inspector, eventLoop: eventLoop)
        return NIOSSLServerHandler(context: self.context) { certificates, promise in
            Task {
                let outcome = await verifier.verify(certificates)
                eventLoop.execute {
                    bound.value.certificateVerified(outcome)
                    if case .trusted = outcome {
                        promise.succeed(.certificateVerified)
                    } else {
                        promise.succeed(.failed)
                    }
                }
            }
        }
    }
}

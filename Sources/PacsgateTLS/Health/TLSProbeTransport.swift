import NIOCore
import NIOSSL
import NIOTLS
import PacsgateCore

/// TLS for a `dicom-echo` or `mllp` health check of a server the service re-encrypts to: the same contexts as the
/// service's connections (CA, expected name, the gateway's client certificate). The check's result then names the
/// TLS version and when the server's certificate expires (`C-ECHO status 0x0000; TLS1.3, server certificate expires
/// 2027-03-01 (in 96 days)`), and carries that date for the overview and metrics.
struct TLSProbeTransport: ProbeTransport {
    let leg: ReencryptionLeg

    func addHandlers(to pipeline: ChannelPipeline.SynchronousOperations) throws {
        guard let context = self.leg.context(alpn: nil) else { throw ProbeTransportError("no TLS context") }
        let handler = try NIOSSLClientHandler(
            context: context,
            serverHostname: self.leg.serverHostname(clientServerName: nil)
        )
        try pipeline.addHandlers([handler, TLSProbeObserver()])
    }
}

/// Reports the probe's handshake to the core's probe handler behind it, in operator words.
private final class TLSProbeObserver: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var secured = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        self.secured = true
        let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
        let version = handler?.tlsVersion.map(TLSSessionObserver.describe) ?? "TLS"
        let expiry = handler?.peerCertificate.map { Int($0.notValidAfter) }
        let words = expiry.map { "server " + CertificateExpiry.describe(notValidAfter: $0) } ?? "no server certificate"
        context.fireUserInboundEventTriggered(
            ProbeTransportSecured(
                detail: "\(version), \(words)",
                certificateExpiry: expiry.map { WallClock.Instant(millisecondsSinceEpoch: Int64($0) * 1000) }
            )
        )
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let tlsError = error as? NIOSSLError, case .uncleanShutdown = tlsError, self.secured {
            return  // the probe decides on the close that follows
        }
        context.fireErrorCaught(ProbeTransportError(TLSErrorText.describe(error)))
    }
}

@available(*, unavailable)
extension TLSProbeObserver: Sendable {}

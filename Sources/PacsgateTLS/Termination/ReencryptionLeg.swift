import Logging
import NIOCore
import NIOSSL
import PacsgateCore

/// TLS towards one server of a terminating service (`reencrypt: true`): the client contexts, built when the
/// configuration is read.
struct ReencryptionLeg: Sendable {
    let options: TLSServerOptions
    /// One context per ALPN protocol the service offers clients (the server is offered what the client chose), and
    /// one without ALPN under the empty key.
    private let contexts: [String: NIOSSLContext]

    /// - Parameter clientCertificate: presented when the server asks for a certificate (`certificate`/`key` of the
    ///   server entry, or the service's own on `dicom` and `hl7` services); `nil` presents none.
    init(
        options: TLSServerOptions,
        applicationProtocols: [String],
        clientCertificate: TLSCertificateSet.Entry? = nil
    ) throws(TLSCertificateError) {
        self.options = options
        var base = TLSConfiguration.makeClientConfiguration()
        base.minimumTLSVersion = .tlsv12
        base.cipherSuites = TLSDefaults.cipherSuites
        switch options.verify {
        case .full: base.certificateVerification = .fullVerification
        case .none: base.certificateVerification = .none
        }
        if let caFile = options.caFile {
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMFile(caFile)
            } catch {
                throw TLSCertificateError(file: caFile, problem: "cannot read PEM CA certificates (\(error))")
            }
            guard !roots.isEmpty else { throw TLSCertificateError(file: caFile, problem: "holds no certificate") }
            base.trustRoots = .certificates(roots)
        }
        if let clientCertificate {
            base.certificateChain = clientCertificate.chain.map { .certificate($0) }
            base.privateKey = .privateKey(clientCertificate.key)
        }
        var contexts: [String: NIOSSLContext] = [:]
        for alpn in [""] + applicationProtocols {
            var configuration = base
            configuration.applicationProtocols = alpn.isEmpty ? [] : [alpn]
            do {
                contexts[alpn] = try NIOSSLContext(configuration: configuration)
            } catch {
                throw TLSCertificateError(
                    file: options.caFile ?? "(system trust roots)",
                    problem: "cannot set up TLS to the server (\(error))"
                )
            }
        }
        self.contexts = contexts
    }

    /// The context offering `alpn` (the protocol negotiated with the client), or none.
    func context(alpn: String?) -> NIOSSLContext? {
        self.contexts[alpn ?? ""] ?? self.contexts[""]
    }

    /// The SNI to send and the name to verify: `server_name`, else the client's SNI (`nil`: the server's IP address
    /// is checked).
    func serverHostname(clientServerName: ServerName?) -> String? {
        (self.options.serverName ?? clientServerName)?.hostName
    }

    /// Adds the TLS client handler and its handshake watcher to a freshly connected server leg (the core's
    /// ``ConnectionInspector/prepareServerChannel(_:server:position:)``). The future succeeds once the handshake is
    /// done; a failure is logged (`TLS handshake with the server failed`), counted by `onFailure`, and fails the
    /// connect so the core tries the next server.
    func attach(
        to channel: any Channel,
        server: ServerIdentity,
        position: ChannelPipeline.SynchronousOperations.Position,
        alpn: String?,
        hostname: String?,
        timeout: TimeAmount,
        logger: Logger,
        client: String,
        onFailure: @escaping @Sendable () -> Void
    ) -> EventLoopFuture<Void> {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        do {
            guard let sslContext = self.context(alpn: alpn) else { throw ServerTLSError(detail: "no TLS context") }
            let handler = try NIOSSLClientHandler(context: sslContext, serverHostname: hostname)
            let watcher = ServerHandshakeWatcher(promise: promise, timeout: timeout)
            try channel.pipeline.syncOperations.addHandlers([handler, watcher], position: position)
        } catch {
            promise.fail(ServerTLSError(detail: TLSErrorText.describe(error)))
        }
        let verify = self.options.verify
        return promise.futureResult.flatMapErrorThrowing { error in
            onFailure()
            logger.warning(
                "TLS handshake with the server failed",
                metadata: [
                    "conn.client": "\(client)", "conn.server": "\(server)", "tls.verify": "\(verify.rawValue)",
                    "error": "\(TLSErrorText.describe(error))",
                ]
            )
            throw error
        }
    }
}

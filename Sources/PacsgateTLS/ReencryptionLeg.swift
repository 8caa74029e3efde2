import NIOSSL

/// TLS towards one server of a terminating service (`reencrypt: true`): the client contexts, built when the
/// configuration is read.
struct ReencryptionLeg: Sendable {
    let options: TLSServerOptions
    /// One context per ALPN protocol the service offers clients (the server is offered what the client chose), and
    /// one without ALPN under the empty key.
    private let contexts: [String: NIOSSLContext]

    init(options: TLSServerOptions, applicationProtocols: [String]) throws(TLSCertificateError) {
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

    /// The SNI to send and the name to verify: `server_name`, else the client's SNI.
    func serverHostname(clientServerName: ServerName?) -> String? {
        (self.options.serverName ?? clientServerName)?.hostName
    }
}

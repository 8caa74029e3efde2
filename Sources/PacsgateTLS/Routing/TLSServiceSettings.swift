/// How a `protocol: tls` service treats the client's TLS (`mode:`).
public enum TLSMode: String, Sendable, CaseIterable {
    /// Peek at the ClientHello, choose a server by SNI, forward every byte untouched (the default). The gateway
    /// holds no key and cannot see inside the session.
    case passthrough
    /// End the client's TLS at the gateway with the service's certificates, then speak plain bytes to the server, or
    /// a new TLS session for servers with `reencrypt: true`.
    case terminate
}

/// What to do with a ClientHello whose server name matches no `sni_routes` pattern, or that carries none
/// (`unknown_sni:`).
public enum UnknownServerNamePolicy: String, Sendable, CaseIterable {
    /// Send it to the default pool (`default_servers`, else every server).
    case `default`
    /// Refuse it with a fatal `unrecognized_name` alert.
    case refuse
}

/// Certificate verification of a server on a re-encrypted leg (`verify:`).
public enum ServerCertificateVerification: String, Sendable, CaseIterable {
    /// The chain must lead to a trusted root (`ca_file`, else the system's) and name the server: `server_name` if
    /// set, else the client's SNI, else the server's IP address.
    case full
    /// Encrypt without checking who answers.
    case none
}

/// One `sni_routes` entry: the pattern as written and the servers it may use.
public struct SNIRoute: Sendable, Equatable {
    /// `pacs.example.org` or `*.example.org`, as written in the configuration.
    public var pattern: String
    /// Labels of the servers this route may use.
    public var servers: Set<String>

    public init(pattern: String, servers: Set<String>) {
        self.pattern = pattern
        self.servers = servers
    }
}

/// The per-server keys of a `protocol: tls` service with `mode: terminate`.
public struct TLSServerOptions: Sendable, Equatable {
    /// Open a new TLS session to the server (the appliance's "Re-Encrypt to Backend"); `false` sends plain bytes.
    public var reencrypt: Bool
    /// How the server's certificate is checked.
    public var verify: ServerCertificateVerification
    /// PEM file of the roots the server's chain must lead to (`nil`: the system's roots).
    public var caFile: String?
    /// The name sent as SNI and verified in the server's certificate; `nil` uses the client's SNI (`protocol: tls`)
    /// or checks the server's IP address (`dicom`, `hl7`).
    public var serverName: ServerName?
    /// PEM files of the certificate (and its key) the gateway presents when the server asks for one (`certificate`,
    /// `key`); on `dicom` and `hl7` services the `tls:` block's certificate when not set.
    public var clientCertificate: String?
    public var clientKey: String?

    public init(
        reencrypt: Bool = false,
        verify: ServerCertificateVerification = .full,
        caFile: String? = nil,
        serverName: ServerName? = nil,
        clientCertificate: String? = nil,
        clientKey: String? = nil
    ) {
        self.reencrypt = reencrypt
        self.verify = verify
        self.caFile = caFile
        self.serverName = serverName
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
    }
}

public import PacsgateCore

/// The TLS protocol module (`protocol: tls`): ClientHello inspection and SNI routing in passthrough, TLS termination
/// with optional re-encryption to the servers, the fallback page and the `tls` health check.
///
/// Register it with the gateway: `ProtocolRegistry([TLSModule(), …], sections: …)`. See `docs/tls.md` for the configuration.
public struct TLSModule: ProtocolModule {
    public init() {}

    public var name: ProtocolName { .tls }

    public var healthChecks: [HealthCheckKind: any HealthCheckFactory] { [.tls: TLSHealthCheck.Factory()] }

    /// `reencrypt`, `verify`, `ca_file`, `server_name`, `certificate`, `key`.
    public var serverKeys: Set<String> { TLSServiceConfiguration.serverKeys }

    public func makeServiceProtocol(
        _ reader: inout MappingReader,
        service: ServiceConfiguration
    ) -> (any ServiceProtocol)? {
        TLSServiceConfiguration.read(&reader, service: service)
    }

    /// TLS termination for `tls:` on `dicom` and `hl7` services: hand it to those modules
    /// (`DICOMModule(secureTransport: TLSModule.secureTransport)`).
    public static var secureTransport: any SecureTransportProvider { TLSTransportProvider() }
}

extension ProtocolName {
    /// TLS: ClientHello inspection, SNI routing, optional termination (``TLSModule``).
    public static let tls: ProtocolName = "tls"
}

extension HealthCheckKind {
    /// A TLS handshake with the server (``TLSHealthCheck``).
    public static let tls: HealthCheckKind = "tls"
}

public import PacsgateCore

/// The DICOM protocol module (`protocol: dicom`), for the DICOM (11112) and DMWL (5104) services.
///
/// Service keys: `max_pdu_peek`, `calling_ae_allow`, `called_ae_allow`, `routes` (see ``DICOMServiceSettings``),
/// and `tls` when built with a ``SecureTransportProvider``; the core's `peek_timeout` is the ARTIM timer of the
/// client leg. Persistence type `calling-ae`. Health check type `dicom-echo` (see ``DICOMEchoHealthCheck``). Register
/// it with `ProtocolRegistry([DICOMModule(), …], sections: …)`.
public struct DICOMModule: ProtocolModule {
    /// The idle timeout of DICOM services that set none: long enough for the gaps of a large C-MOVE or a slow
    /// modality, finite so a vanished peer cannot hold a PACS association slot forever (TCP keepalive catches dead
    /// peers sooner).
    public static let idleTimeout = Duration.seconds(30 * 60)

    /// TLS termination for `tls:` on the module's services (the TLS module's, handed over by the executable);
    /// `nil` refuses `tls:`.
    let secureTransport: (any SecureTransportProvider)?

    /// Creates the module; with `secureTransport`, services may terminate TLS (`tls:`).
    public init(secureTransport: (any SecureTransportProvider)? = nil) {
        self.secureTransport = secureTransport
    }

    public var name: ProtocolName { .dicom }

    public var persistenceTypes: [PersistenceKind] { [.callingAE] }

    public var healthChecks: [HealthCheckKind: any HealthCheckFactory] { [.dicomEcho: DICOMEchoHealthCheck.Factory()] }

    public var defaultIdleTimeout: Duration { Self.idleTimeout }

    /// `reencrypt`, `verify`, `ca_file`, `server_name`, `certificate`, `key` when TLS is built in.
    public var serverKeys: Set<String> { self.secureTransport?.serverKeys ?? [] }

    public func makeServiceProtocol(
        _ reader: inout MappingReader,
        service: ServiceConfiguration
    ) -> (any ServiceProtocol)? {
        let tls = SecureTransportSetting.read(&reader, service: service, provider: self.secureTransport)
        let settings = DICOMServiceSettings.read(&reader, service: service, clientCertificates: tls.clientCertificates)
        return DICOMServiceProtocol(settings: settings, termination: tls.termination)
    }
}

extension ProtocolName {
    /// DICOM upper layer (``DICOMModule``).
    public static let dicom: ProtocolName = "dicom"
}

extension PersistenceKind {
    /// Keyed by the calling AE title of the A-ASSOCIATE-RQ.
    public static let callingAE: PersistenceKind = "calling-ae"
}

extension HealthCheckKind {
    /// A C-ECHO association (``DICOMEchoHealthCheck``).
    public static let dicomEcho: HealthCheckKind = "dicom-echo"
}

public import PacsgateCore

/// The DICOM protocol module (`protocol: dicom`), for the DICOM (11112) and DMWL (5104) services.
///
/// Service keys: `max_pdu_peek`, `calling_ae_allow`, `called_ae_allow`, `routes` (see ``DICOMServiceSettings``);
/// the core's `peek_timeout` is the ARTIM timer of the client leg. Persistence type `calling-ae`. Health check type
/// `dicom-echo` (see ``DICOMEchoHealthCheck``). Register it with `ProtocolRegistry([DICOMModule(), …])`.
public struct DICOMModule: ProtocolModule {
    /// The persistence type keyed by the calling AE title.
    public static let callingAEPersistence = "calling-ae"
    /// The idle timeout of DICOM services that set none: long enough for the gaps of a large C-MOVE or a slow
    /// modality, finite so a vanished peer cannot hold a PACS association slot forever (TCP keepalive catches dead
    /// peers sooner).
    public static let idleTimeout = Duration.seconds(30 * 60)

    /// Creates the module.
    public init() {}

    public var name: String { "dicom" }

    public var persistenceTypes: [String] { [Self.callingAEPersistence] }

    public var healthChecks: [String: any HealthCheckFactory] { ["dicom-echo": DICOMEchoHealthCheck.Factory()] }

    public var defaultIdleTimeout: Duration { Self.idleTimeout }

    public func makeServiceProtocol(
        _ reader: inout MappingReader,
        service: ServiceConfiguration
    ) -> (any ServiceProtocol)? {
        DICOMServiceProtocol(settings: DICOMServiceSettings.read(&reader, service: service))
    }

    public func makeSimulatedNode(name: String, service: String, stateDirectory: String) throws -> (any SimulatedNode)?
    {
        DICOMSimulatedNode(name: name, service: service)
    }
}

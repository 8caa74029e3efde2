import PacsgateCore
import PacsgateDICOM
import PacsgateHL7
import PacsgateTLS

/// The protocol modules built into this gateway. The DICOM and HL7 modules get the TLS module's termination, so
/// their services may carry a `tls:` block.
enum BuiltInModules {
    static var registry: ProtocolRegistry {
        ProtocolRegistry([
            DICOMModule(secureTransport: TLSModule.secureTransport),
            HL7Module(secureTransport: TLSModule.secureTransport),
            TLSModule(),
        ])
    }
}

import PacsgateCore
import PacsgateDICOM
import PacsgateHL7
import PacsgateTLS

/// The protocol modules built into this gateway.
enum BuiltInModules {
    static var registry: ProtocolRegistry {
        ProtocolRegistry([DICOMModule(), HL7Module(), TLSModule()])
    }
}

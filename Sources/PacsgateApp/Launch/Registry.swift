import PacsgateAdmin
import PacsgateATNA
import PacsgateCore
import PacsgateDICOM
import PacsgateHA
import PacsgateHL7
import PacsgateTLS

/// The protocol modules built into this gateway, and the configuration sections of the modules outside the core
/// (`admin`, `ha`, `audit.syslog`): the decoder accepts the protocols and the sections these modules register and
/// names none itself. The DICOM and HL7 modules get the TLS module's termination, so their services may carry a
/// `tls:` block.
enum BuiltInModules {
    static var registry: ProtocolRegistry {
        ProtocolRegistry(
            [
                DICOMModule(secureTransport: TLSModule.secureTransport),
                HL7Module(secureTransport: TLSModule.secureTransport),
                TLSModule(),
            ],
            sections: [AdminConfiguration.section, HAConfiguration.section, SyslogExportConfiguration.section])
    }
}

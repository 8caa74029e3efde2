// libFuzzer target: the YAML configuration loader (Yams → ConfigNode → validation by the core and the DICOM,
// HL7 and TLS modules). Invalid input must come back as problems with line numbers, never a crash.
import FuzzConfigLoader
import PacsgateCore
import PacsgateDICOM
import PacsgateHL7
import PacsgateTLS

// The sections the executable registers for its admin, HA and audit-export modules (not linked here), kept as raw nodes.
private let loader = ConfigurationLoader(
    registry: ProtocolRegistry(
        [DICOMModule(), HL7Module(), TLSModule()],
        sections: [ConfigSection("admin"), ConfigSection("ha", allowsUnheldSource: true), ConfigSection("audit.syslog")]))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: count)
    // The gateway reads the file as UTF-8 text; bytes that are not UTF-8 never reach the loader.
    guard let text = String(validating: input, as: UTF8.self) else { return 0 }
    switch loader.load(yaml: text) {
    case .success(let (configuration, warnings)):
        _ = configuration.services.count
        _ = warnings.map(\.description)
    case .failure(let errors):
        _ = errors.description
    }
    return 0
}

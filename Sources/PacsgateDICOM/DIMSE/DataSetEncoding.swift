/// The two little-endian transfer syntaxes the simulated SCP accepts for data sets.
public enum DataSetEncoding: Sendable, Hashable {
    /// Implicit VR Little Endian (1.2.840.10008.1.2).
    case implicitVRLittleEndian
    /// Explicit VR Little Endian (1.2.840.10008.1.2.1).
    case explicitVRLittleEndian

    /// The encoding for a transfer syntax UID, `nil` for any other.
    public init?(transferSyntax: String) {
        switch transferSyntax {
        case DICOMUID.implicitVRLittleEndian: self = .implicitVRLittleEndian
        case DICOMUID.explicitVRLittleEndian: self = .explicitVRLittleEndian
        default: return nil
        }
    }
}

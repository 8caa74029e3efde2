public import NIOCore

/// An A-ABORT (PS3.8 §9.3.8, Table 9-26): 10 bytes, source at 8, reason at 9.
///
/// The gateway's answer to a malformed request is
/// `AssociationAbort(source: .serviceProvider, reason: .invalidPDUParameterValue)`
/// = `07 00 00000004 00 00 02 06`; ``DICOMParseError/abort`` picks the reason for an error.
public struct AssociationAbort: Sendable, Hashable, CustomStringConvertible {
    /// Source byte.
    public struct Source: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The wire value.
        public var rawValue: UInt8
        /// Creates a source from its wire value.
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// 0: DICOM UL service-user (initiated abort).
        public static let serviceUser = Source(rawValue: 0)
        /// 2: DICOM UL service-provider (initiated abort).
        public static let serviceProvider = Source(rawValue: 2)

        /// The PS3.8 name.
        public var description: String {
            switch self {
            case .serviceUser: "service-user"
            case .serviceProvider: "service-provider"
            default: "reserved source \(self.rawValue)"
            }
        }
    }

    /// Reason/diagnostic byte (meaningful for source 2 only; 0 otherwise).
    public struct Reason: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The wire value.
        public var rawValue: UInt8
        /// Creates a reason from its wire value.
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// 0: reason not specified.
        public static let notSpecified = Reason(rawValue: 0)
        /// 1: unrecognized PDU.
        public static let unrecognizedPDU = Reason(rawValue: 1)
        /// 2: unexpected PDU.
        public static let unexpectedPDU = Reason(rawValue: 2)
        /// 4: unrecognized PDU parameter.
        public static let unrecognizedPDUParameter = Reason(rawValue: 4)
        /// 5: unexpected PDU parameter.
        public static let unexpectedPDUParameter = Reason(rawValue: 5)
        /// 6: invalid PDU parameter value.
        public static let invalidPDUParameterValue = Reason(rawValue: 6)

        /// The PS3.8 wording.
        public var description: String {
            switch self {
            case .notSpecified: "reason not specified"
            case .unrecognizedPDU: "unrecognized PDU"
            case .unexpectedPDU: "unexpected PDU"
            case .unrecognizedPDUParameter: "unrecognized PDU parameter"
            case .unexpectedPDUParameter: "unexpected PDU parameter"
            case .invalidPDUParameterValue: "invalid PDU parameter value"
            default: "reserved reason \(self.rawValue)"
            }
        }
    }

    /// Who aborted.
    public var source: Source
    /// Why.
    public var reason: Reason

    /// Creates an abort.
    public init(source: Source, reason: Reason) {
        self.source = source
        self.reason = reason
    }

    /// E.g. `source 2 (service-provider) reason 6 (invalid PDU parameter value)`.
    public var description: String {
        "source \(self.source.rawValue) (\(self.source)) reason \(self.reason.rawValue) (\(self.reason))"
    }

    /// Parses the body of a complete, header-validated A-ABORT in `pdu` (readerIndex 0).
    init(pdu: ByteBuffer) {
        let (source, reason) = pdu.getMultipleIntegers(at: 8, as: (UInt8, UInt8).self) ?? (0, 0)
        self.init(source: Source(rawValue: source), reason: Reason(rawValue: reason))
    }

    /// Writes the 10-byte PDU.
    public func encode(into buffer: inout ByteBuffer) {
        PDUHeader(type: .abort, length: PDUHeader.fixedBodyLength).encode(into: &buffer)
        buffer.writeMultipleIntegers(UInt16(0), self.source.rawValue, self.reason.rawValue)
    }
}

public import NIOCore

/// An A-ASSOCIATE-RJ (PS3.8 §9.3.4, Table 9-21): 10 bytes, result at 7, source at 8, reason at 9.
///
/// Unknown values are kept as they are. The reason's meaning depends on the source, see
/// ``reasonDescription``. Ready-made rejections for the gateway are the static members, e.g.
/// ``callingAETitleNotRecognized`` = `03 00 00000004 00 01 01 03`.
public struct AssociateReject: Sendable, Hashable, CustomStringConvertible {
    /// Result byte.
    public struct Result: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The wire value.
        public var rawValue: UInt8
        /// Creates a result from its wire value.
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// 1: rejected-permanent.
        public static let permanent = Result(rawValue: 1)
        /// 2: rejected-transient.
        public static let transient = Result(rawValue: 2)

        /// The PS3.8 name.
        public var description: String {
            switch self {
            case .permanent: "rejected-permanent"
            case .transient: "rejected-transient"
            default: "unknown result \(self.rawValue)"
            }
        }
    }

    /// Source byte.
    public struct Source: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The wire value.
        public var rawValue: UInt8
        /// Creates a source from its wire value.
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// 1: DICOM UL service-user.
        public static let serviceUser = Source(rawValue: 1)
        /// 2: DICOM UL service-provider (ACSE related function).
        public static let serviceProviderACSE = Source(rawValue: 2)
        /// 3: DICOM UL service-provider (presentation related function).
        public static let serviceProviderPresentation = Source(rawValue: 3)

        /// The PS3.8 name.
        public var description: String {
            switch self {
            case .serviceUser: "service-user"
            case .serviceProviderACSE: "service-provider (ACSE)"
            case .serviceProviderPresentation: "service-provider (presentation)"
            default: "unknown source \(self.rawValue)"
            }
        }
    }

    /// Result (permanent or transient).
    public var result: Result
    /// Who rejected.
    public var source: Source
    /// Reason/diagnostic; its meaning depends on ``source``.
    public var reason: UInt8

    /// Creates a rejection.
    public init(result: Result, source: Source, reason: UInt8) {
        self.result = result
        self.source = source
        self.reason = reason
    }

    /// Service-user, permanent: calling AE title not recognized (1 1 3).
    public static let callingAETitleNotRecognized = AssociateReject(result: .permanent, source: .serviceUser, reason: 3)
    /// Service-user, permanent: called AE title not recognized (1 1 7).
    public static let calledAETitleNotRecognized = AssociateReject(result: .permanent, source: .serviceUser, reason: 7)
    /// Service-user, permanent: application context name not supported (1 1 2).
    public static let applicationContextNotSupported = AssociateReject(
        result: .permanent,
        source: .serviceUser,
        reason: 2
    )
    /// ACSE provider, permanent: protocol version not supported (1 2 2).
    public static let protocolVersionNotSupported = AssociateReject(
        result: .permanent,
        source: .serviceProviderACSE,
        reason: 2
    )
    /// Presentation provider, transient: temporary congestion (2 3 1), e.g. no healthy backend.
    public static let temporaryCongestion = AssociateReject(
        result: .transient,
        source: .serviceProviderPresentation,
        reason: 1
    )
    /// Presentation provider, transient: local limit exceeded (2 3 2), e.g. over capacity.
    public static let localLimitExceeded = AssociateReject(
        result: .transient,
        source: .serviceProviderPresentation,
        reason: 2
    )

    /// The PS3.8 meaning of ``reason`` for ``source``.
    public var reasonDescription: String {
        switch (self.source, self.reason) {
        case (.serviceUser, 1), (.serviceProviderACSE, 1): "no reason given"
        case (.serviceUser, 2): "application context name not supported"
        case (.serviceUser, 3): "calling AE title not recognized"
        case (.serviceUser, 7): "called AE title not recognized"
        case (.serviceProviderACSE, 2): "protocol version not supported"
        case (.serviceProviderPresentation, 1): "temporary congestion"
        case (.serviceProviderPresentation, 2): "local limit exceeded"
        default: "reserved reason"
        }
    }

    /// E.g. `result 1 source 1 reason 3 (calling AE title not recognized)`.
    public var description: String {
        let codes = "result \(self.result.rawValue) source \(self.source.rawValue) reason \(self.reason)"
        return "\(codes) (\(self.reasonDescription))"
    }

    /// Parses the body of a complete, header-validated RJ in `pdu` (readerIndex 0).
    init(pdu: ByteBuffer) {
        let (result, source, reason) =
            pdu.getMultipleIntegers(at: 7, as: (UInt8, UInt8, UInt8).self) ?? (0, 0, 0)
        self.init(result: Result(rawValue: result), source: Source(rawValue: source), reason: reason)
    }

    /// Writes the 10-byte PDU.
    public func encode(into buffer: inout ByteBuffer) {
        PDUHeader(type: .associateReject, length: PDUHeader.fixedBodyLength).encode(into: &buffer)
        buffer.writeMultipleIntegers(UInt8(0), self.result.rawValue, self.source.rawValue, self.reason)
    }
}

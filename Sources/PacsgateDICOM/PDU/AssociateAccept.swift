public import NIOCore

/// A parsed A-ASSOCIATE-AC (PS3.8 §9.3.3): the acceptor's answer per presentation context.
public typealias AssociateAccept = AssociatePDU<PresentationContextResult>

extension AssociateAccept {
    /// Creates the accept that answers `request`: AE titles and application context echoed,
    /// one result per proposed context as `decide` returns it.
    public init(
        answering request: AssociateRequest,
        userInformation: UserInformation,
        decide: (PresentationContextProposal) -> PresentationContextResult
    ) {
        self.init(
            calledAETitle: request.calledAETitle,
            callingAETitle: request.callingAETitle,
            applicationContextName: request.applicationContextName,
            presentationContexts: request.presentationContexts.map(decide),
            userInformation: userInformation
        )
    }

    /// Number of presentation contexts with result 0 (acceptance).
    public var acceptedContextCount: Int {
        self.presentationContexts.reduce(0) { $0 + ($1.result == .acceptance ? 1 : 0) }
    }

    /// Writes the PDU. User identity and extended negotiation sub-items are not encoded.
    public func encode(into buffer: inout ByteBuffer) { self.write(into: &buffer) }
}

/// The acceptor's answer for one presentation context (item 0x21).
public struct PresentationContextResult: Sendable, Hashable, AssociatePresentationContext {
    static let pduType = PDUType.associateAccept
    static let itemType = ItemType.presentationContextAccept

    /// Result/reason byte (PS3.8 Table 9-18).
    public struct Result: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The wire value.
        public var rawValue: UInt8
        /// Creates a result from its wire value.
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// 0: acceptance.
        public static let acceptance = Result(rawValue: 0)
        /// 1: user rejection.
        public static let userRejection = Result(rawValue: 1)
        /// 2: no reason (provider rejection).
        public static let providerRejection = Result(rawValue: 2)
        /// 3: abstract syntax not supported (provider rejection).
        public static let abstractSyntaxNotSupported = Result(rawValue: 3)
        /// 4: transfer syntaxes not supported (provider rejection).
        public static let transferSyntaxesNotSupported = Result(rawValue: 4)

        /// The PS3.8 wording.
        public var description: String {
            switch self {
            case .acceptance: "acceptance"
            case .userRejection: "user rejection"
            case .providerRejection: "no reason (provider rejection)"
            case .abstractSyntaxNotSupported: "abstract syntax not supported"
            case .transferSyntaxesNotSupported: "transfer syntaxes not supported"
            default: "unknown result \(self.rawValue)"
            }
        }
    }

    /// Presentation context ID, echoing the proposal's.
    public var id: UInt8
    /// The result.
    public var result: Result
    /// The transfer syntax chosen; `nil` unless accepted (PS3.8: meaningless otherwise).
    public var transferSyntax: String?

    /// Creates a result.
    public init(id: UInt8, result: Result, transferSyntax: String?) {
        self.id = id
        self.result = result
        self.transferSyntax = transferSyntax
    }

    /// Parses item 0x21: ID at body offset 0, reserved, result at 2, reserved, one 0x40.
    init(pdu: ByteBuffer, item: PDUItem) throws(DICOMParseError) {
        guard item.length >= 4,
            let (id, _, result) = pdu.getMultipleIntegers(at: item.bodyStart, as: (UInt8, UInt8, UInt8).self)
        else {
            throw .invalidItemLength(itemType: item.type, length: item.length, offset: item.offset)
        }
        var transferSyntax: String?
        var reader = PDUItemReader(pdu: pdu, start: item.bodyStart + 4, end: item.end)
        while let sub = try reader.next() {
            guard sub.type == ItemType.transferSyntax else { continue }
            guard transferSyntax == nil else { throw .duplicateItem(itemType: sub.type, offset: sub.offset) }
            transferSyntax = pdu.getTrimmedString(of: sub)
        }
        let accepted = result == Result.acceptance.rawValue
        if accepted && transferSyntax == nil {
            throw .missingItem(itemType: ItemType.transferSyntax, offset: item.offset)
        }
        self.init(id: id, result: Result(rawValue: result), transferSyntax: accepted ? transferSyntax : nil)
    }

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeItem(type: ItemType.presentationContextAccept) { body in
            body.writeMultipleIntegers(self.id, UInt8(0), self.result.rawValue, UInt8(0))
            body.writeItem(type: ItemType.transferSyntax, string: self.transferSyntax ?? "")
        }
    }
}

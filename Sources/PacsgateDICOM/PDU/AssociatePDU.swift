import NIOCore

/// An A-ASSOCIATE-RQ or -AC (PS3.8 §9.3.2, §9.3.3). The two share their fixed part (protocol version, called and
/// calling AE titles) and their variable items (one application context, one or more presentation contexts, one user
/// information) and differ only in the presentation context item they carry: proposals (0x20) in an
/// ``AssociateRequest``, results (0x21) in an ``AssociateAccept``. One implementation parses and writes both.
///
/// Parsed values copy what they keep (no view into the PDU, which may hold a passcode) and never hold a User
/// Identity secondary field.
public struct AssociatePDU<Context: Sendable & Hashable>: Sendable, Hashable {
    /// Protocol version field (bit 0 set; 0x0001 in practice).
    public var protocolVersion: UInt16
    /// Called AE title: in a request the acceptor the requestor asks for; in an accept echoed from the request
    /// (receivers must not test it).
    public var calledAETitle: AETitle
    /// Calling AE title: the requestor (in an accept echoed from the request).
    public var callingAETitle: AETitle
    /// Application context name (item 0x10), normally ``DICOMUID/applicationContext``.
    public var applicationContextName: String
    /// The presentation contexts, in wire order: proposals (items 0x20) in a request, per-context results (items
    /// 0x21) in an accept.
    public var presentationContexts: [Context]
    /// User information (item 0x50).
    public var userInformation: UserInformation

    /// Creates a request (e.g. for the C-ECHO health check) or an accept.
    public init(
        calledAETitle: AETitle,
        callingAETitle: AETitle,
        applicationContextName: String = DICOMUID.applicationContext,
        presentationContexts: [Context],
        userInformation: UserInformation,
        protocolVersion: UInt16 = 0x0001
    ) {
        self.protocolVersion = protocolVersion
        self.calledAETitle = calledAETitle
        self.callingAETitle = callingAETitle
        self.applicationContextName = applicationContextName
        self.presentationContexts = presentationContexts
        self.userInformation = userInformation
    }
}

/// A presentation-context item of an A-ASSOCIATE PDU: 0x20 in a request, 0x21 in an accept.
protocol AssociatePresentationContext {
    /// The PDU that carries this kind of context.
    static var pduType: PDUType { get }
    /// The item type this context is carried in.
    static var itemType: UInt8 { get }
    var id: UInt8 { get }
    init(pdu: ByteBuffer, item: PDUItem) throws(DICOMParseError)
    func encode(into buffer: inout ByteBuffer)
}

extension AssociatePDU where Context: AssociatePresentationContext {
    /// Parses a complete, header-validated PDU in `pdu` (readerIndex 0): the fixed part, then the items (PS3.8
    /// §9.3.1: unknown items are ignored).
    init(pdu: ByteBuffer) throws(DICOMParseError) {
        let fixed = try AssociateFixedPart(pdu: pdu, type: Context.pduType)
        var applicationContext: String?
        var contexts: [Context] = []
        var contextIDs = PresentationContextIDSet()
        var userInformation: UserInformation?

        var reader = PDUItemReader(pdu: pdu, start: AssociateFixedPart.itemsOffset, end: pdu.writerIndex)
        while let item = try reader.next() {
            switch item.type {
            case ItemType.applicationContext:
                guard applicationContext == nil else { throw .duplicateItem(itemType: item.type, offset: item.offset) }
                applicationContext = pdu.getTrimmedString(of: item)
            case Context.itemType:
                let context = try Context(pdu: pdu, item: item)
                try contextIDs.insert(context.id, offset: item.bodyStart)
                contexts.append(context)
            case ItemType.userInformation:
                guard userInformation == nil else { throw .duplicateItem(itemType: item.type, offset: item.offset) }
                userInformation = try UserInformation(pdu: pdu, item: item)
            default:
                continue  // PS3.8 §9.3.1: unknown items are ignored.
            }
        }
        guard let applicationContext else { throw .missingItem(itemType: ItemType.applicationContext, offset: 0) }
        guard !contexts.isEmpty else { throw .missingItem(itemType: Context.itemType, offset: 0) }
        guard let userInformation else { throw .missingItem(itemType: ItemType.userInformation, offset: 0) }
        self.init(
            calledAETitle: fixed.calledAETitle, callingAETitle: fixed.callingAETitle,
            applicationContextName: applicationContext, presentationContexts: contexts,
            userInformation: userInformation, protocolVersion: fixed.protocolVersion)
    }

    /// Writes the PDU. User identity and extended negotiation sub-items are not encoded.
    func write(into buffer: inout ByteBuffer) {
        buffer.writePDU(type: Context.pduType) { body in
            AssociateFixedPart.encode(
                protocolVersion: self.protocolVersion, called: self.calledAETitle, calling: self.callingAETitle,
                into: &body)
            body.writeItem(type: ItemType.applicationContext, string: self.applicationContextName)
            for context in self.presentationContexts {
                context.encode(into: &body)
            }
            self.userInformation.encode(into: &body)
        }
    }
}

/// The fixed part A-ASSOCIATE-RQ and -AC share (PS3.8 Tables 9-11, 9-17): protocol version at 6,
/// called AE at 10, calling AE at 26, 32 reserved bytes, items from 74.
struct AssociateFixedPart {
    static let versionOffset = 6
    static let calledAEOffset = 10
    static let callingAEOffset = 26
    static let itemsOffset = 74

    var protocolVersion: UInt16
    var calledAETitle: AETitle
    var callingAETitle: AETitle

    /// Reads the fixed part of a complete RQ/AC of `type` in `pdu` (readerIndex 0, length ≥ 74).
    init(pdu: ByteBuffer, type: PDUType) throws(DICOMParseError) {
        guard let version = pdu.getInteger(at: Self.versionOffset, as: UInt16.self),
            let called = pdu.getBytes(at: Self.calledAEOffset, length: AETitle.wireLength),
            let calling = pdu.getBytes(at: Self.callingAEOffset, length: AETitle.wireLength)
        else {
            throw .invalidPDULength(type, length: UInt32(truncatingIfNeeded: pdu.readableBytes), offset: 2)
        }
        guard version & 0x0001 != 0 else {
            throw .unsupportedProtocolVersion(version, offset: Self.versionOffset)
        }
        self.protocolVersion = version
        self.calledAETitle = AETitle(wireBytes: called)
        self.callingAETitle = AETitle(wireBytes: calling)
    }

    /// Writes version, reserved, called, calling and the 32 reserved bytes.
    static func encode(
        protocolVersion: UInt16,
        called: AETitle,
        calling: AETitle,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeMultipleIntegers(protocolVersion, UInt16(0))
        buffer.writeBytes(called.rawBytes)
        buffer.writeBytes(calling.rawBytes)
        buffer.writeRepeatingByte(0, count: 32)
    }
}

/// Which presentation context IDs a PDU has used so far, for the odd/unique check.
/// Odd IDs 1...255 map to bits 0...127 of two words.
struct PresentationContextIDSet {
    private var low: UInt64 = 0
    private var high: UInt64 = 0

    /// Records `id` found at `offset`; throws if it is even, zero or already present.
    mutating func insert(_ id: UInt8, offset: Int) throws(DICOMParseError) {
        guard id & 1 == 1 else { throw .invalidPresentationContextID(id, offset: offset) }
        let index = id >> 1
        let mask = UInt64(1) << UInt64(index & 63)
        let seen: Bool
        if index < 64 {
            seen = self.low & mask != 0
            self.low |= mask
        } else {
            seen = self.high & mask != 0
            self.high |= mask
        }
        guard !seen else { throw .duplicatePresentationContextID(id, offset: offset) }
    }
}

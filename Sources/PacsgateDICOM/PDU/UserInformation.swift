import NIOCore

/// The User Information item (0x50) of A-ASSOCIATE-RQ/-AC (PS3.8 Annex D, PS3.7 Annex D.3.3).
///
/// Sub-items may come in any order (pynetdicom sends 0x55 before 0x54); unknown sub-items are
/// skipped. Extended negotiation is recorded as SOP class UIDs only. Secrets are never kept:
/// see ``UserIdentity``; of a 0x59 server response only its presence is recorded.
public struct UserInformation: Sendable, Hashable {
    /// Asynchronous Operations Window (0x53).
    public struct AsynchronousOperationsWindow: Sendable, Hashable {
        /// Maximum number of operations invoked (1 = synchronous).
        public var maximumInvoked: UInt16
        /// Maximum number of operations performed (1 = synchronous).
        public var maximumPerformed: UInt16

        /// Creates a window.
        public init(maximumInvoked: UInt16, maximumPerformed: UInt16) {
            self.maximumInvoked = maximumInvoked
            self.maximumPerformed = maximumPerformed
        }
    }

    /// SCP/SCU Role Selection (0x54) for one SOP class.
    public struct RoleSelection: Sendable, Hashable {
        /// The SOP class.
        public var sopClassUID: String
        /// SCU role supported (proposed, or accepted in an AC).
        public var scuRole: Bool
        /// SCP role supported (proposed, or accepted in an AC).
        public var scpRole: Bool

        /// Creates a role selection.
        public init(sopClassUID: String, scuRole: Bool, scpRole: Bool) {
            self.sopClassUID = sopClassUID
            self.scuRole = scuRole
            self.scpRole = scpRole
        }
    }

    /// An extended negotiation sub-item, recorded minimally.
    public struct ExtendedNegotiation: Sendable, Hashable {
        /// Which of the two extended negotiation sub-items.
        public enum Kind: Sendable, Hashable {
            /// SOP Class Extended Negotiation (0x56).
            case sopClass
            /// SOP Class Common Extended Negotiation (0x57).
            case sopClassCommon
        }

        /// The sub-item kind.
        public var kind: Kind
        /// The SOP class it applies to.
        public var sopClassUID: String

        /// Creates a record.
        public init(kind: Kind, sopClassUID: String) {
            self.kind = kind
            self.sopClassUID = sopClassUID
        }
    }

    /// Maximum Length (0x51): largest P-DATA-TF length field the sender accepts; 0 = no limit.
    public var maximumLength: UInt32?
    /// Implementation Class UID (0x52).
    public var implementationClassUID: String?
    /// Implementation Version Name (0x55).
    public var implementationVersionName: String?
    /// Asynchronous Operations Window (0x53).
    public var asynchronousOperationsWindow: AsynchronousOperationsWindow?
    /// SCP/SCU Role Selection sub-items (0x54), in wire order.
    public var roleSelections: [RoleSelection]
    /// User Identity (0x58, RQ only), without the secondary field.
    public var userIdentity: UserIdentity?
    /// Whether a User Identity server response (0x59, AC only) was present; its value is not kept.
    public var hasUserIdentityResponse: Bool
    /// SOP class (common) extended negotiation sub-items (0x56, 0x57), in wire order.
    public var extendedNegotiations: [ExtendedNegotiation]

    /// Creates user information. The encoder writes 0x51, 0x52, 0x53, 0x54 and 0x55 only.
    public init(
        maximumLength: UInt32? = nil,
        implementationClassUID: String? = nil,
        implementationVersionName: String? = nil,
        asynchronousOperationsWindow: AsynchronousOperationsWindow? = nil,
        roleSelections: [RoleSelection] = [],
        userIdentity: UserIdentity? = nil,
        hasUserIdentityResponse: Bool = false,
        extendedNegotiations: [ExtendedNegotiation] = []
    ) {
        self.maximumLength = maximumLength
        self.implementationClassUID = implementationClassUID
        self.implementationVersionName = implementationVersionName
        self.asynchronousOperationsWindow = asynchronousOperationsWindow
        self.roleSelections = roleSelections
        self.userIdentity = userIdentity
        self.hasUserIdentityResponse = hasUserIdentityResponse
        self.extendedNegotiations = extendedNegotiations
    }

    /// Parses the sub-items of the 0x50 `item` of `pdu`.
    init(pdu: ByteBuffer, item: PDUItem) throws(DICOMParseError) {
        self.init()
        var reader = PDUItemReader(pdu: pdu, start: item.bodyStart, end: item.end)
        while let sub = try reader.next() {
            switch sub.type {
            case ItemType.maximumLength:
                guard self.maximumLength == nil else { throw .duplicateItem(itemType: sub.type, offset: sub.offset) }
                guard sub.length == 4, let value = pdu.getInteger(at: sub.bodyStart, as: UInt32.self) else {
                    throw .invalidItemLength(itemType: sub.type, length: sub.length, offset: sub.offset)
                }
                self.maximumLength = value
            case ItemType.implementationClassUID:
                guard self.implementationClassUID == nil else {
                    throw .duplicateItem(itemType: sub.type, offset: sub.offset)
                }
                self.implementationClassUID = pdu.getTrimmedString(of: sub)
            case ItemType.asynchronousOperationsWindow:
                guard self.asynchronousOperationsWindow == nil else {
                    throw .duplicateItem(itemType: sub.type, offset: sub.offset)
                }
                guard sub.length == 4,
                    let (invoked, performed) = pdu.getMultipleIntegers(at: sub.bodyStart, as: (UInt16, UInt16).self)
                else {
                    throw .invalidItemLength(itemType: sub.type, length: sub.length, offset: sub.offset)
                }
                self.asynchronousOperationsWindow = .init(maximumInvoked: invoked, maximumPerformed: performed)
            case ItemType.roleSelection:
                let uid = try Self.prefixedUID(pdu: pdu, sub: sub, trailingBytes: 2, exact: true)
                let scu = pdu.getInteger(at: sub.end - 2, as: UInt8.self) ?? 0
                let scp = pdu.getInteger(at: sub.end - 1, as: UInt8.self) ?? 0
                self.roleSelections.append(.init(sopClassUID: uid, scuRole: scu != 0, scpRole: scp != 0))
            case ItemType.implementationVersionName:
                guard self.implementationVersionName == nil else {
                    throw .duplicateItem(itemType: sub.type, offset: sub.offset)
                }
                self.implementationVersionName = pdu.getTrimmedString(of: sub)
            case ItemType.sopClassExtendedNegotiation:
                let uid = try Self.prefixedUID(pdu: pdu, sub: sub, trailingBytes: 0, exact: false)
                self.extendedNegotiations.append(.init(kind: .sopClass, sopClassUID: uid))
            case ItemType.sopClassCommonExtendedNegotiation:
                let uid = try Self.prefixedUID(pdu: pdu, sub: sub, trailingBytes: 0, exact: false)
                self.extendedNegotiations.append(.init(kind: .sopClassCommon, sopClassUID: uid))
            case ItemType.userIdentityRequest:
                guard self.userIdentity == nil else { throw .duplicateItem(itemType: sub.type, offset: sub.offset) }
                self.userIdentity = try Self.userIdentity(pdu: pdu, sub: sub)
            case ItemType.userIdentityResponse:
                guard !self.hasUserIdentityResponse else {
                    throw .duplicateItem(itemType: sub.type, offset: sub.offset)
                }
                guard let length = pdu.getInteger(at: sub.bodyStart, as: UInt16.self), sub.length == 2 + Int(length)
                else {
                    throw .invalidItemLength(itemType: sub.type, length: sub.length, offset: sub.offset)
                }
                self.hasUserIdentityResponse = true
            default:
                continue  // PS3.8 §9.3.1: unknown sub-items are ignored.
            }
        }
    }

    /// Reads the `uint16 length + UID` that starts 0x54, 0x56 and 0x57 bodies. The body must be
    /// exactly that plus `trailingBytes`, or at least that when `exact` is false.
    private static func prefixedUID(
        pdu: ByteBuffer,
        sub: PDUItem,
        trailingBytes: Int,
        exact: Bool
    ) throws(DICOMParseError) -> String {
        guard sub.length >= 2, let uidLength = pdu.getInteger(at: sub.bodyStart, as: UInt16.self) else {
            throw .invalidItemLength(itemType: sub.type, length: sub.length, offset: sub.offset)
        }
        let needed = 2 + Int(uidLength) + trailingBytes
        guard exact ? sub.length == needed : sub.length >= needed else {
            throw .invalidItemLength(itemType: sub.type, length: sub.length, offset: sub.offset)
        }
        return pdu.getTrimmedString(at: sub.bodyStart + 2, length: Int(uidLength))
    }

    /// Parses 0x58: type, positive-response flag, `uint16 + primary`, `uint16 + secondary`.
    /// The secondary field's bytes are skipped unread.
    private static func userIdentity(pdu: ByteBuffer, sub: PDUItem) throws(DICOMParseError) -> UserIdentity {
        guard sub.length >= 4,
            let (type, positive, primaryLength) = pdu.getMultipleIntegers(
                at: sub.bodyStart,
                as: (UInt8, UInt8, UInt16).self
            ),
            sub.length >= 4 + Int(primaryLength) + 2,
            let secondaryLength = pdu.getInteger(at: sub.bodyStart + 4 + Int(primaryLength), as: UInt16.self),
            sub.length == 4 + Int(primaryLength) + 2 + Int(secondaryLength)
        else {
            throw .invalidItemLength(itemType: sub.type, length: sub.length, offset: sub.offset)
        }
        let identityType = UserIdentity.IdentityType(rawValue: type)
        let carriesUsername = identityType == .username || identityType == .usernameAndPasscode
        return UserIdentity(
            type: identityType,
            positiveResponseRequested: positive != 0,
            username: carriesUsername ? pdu.getString(at: sub.bodyStart + 4, length: Int(primaryLength)) : nil,
            primaryFieldLength: Int(primaryLength),
            hasSecondaryField: secondaryLength > 0
        )
    }

    /// Writes the 0x50 item with 0x51, 0x52, 0x53, 0x54 and 0x55 (in that order) as present.
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeItem(type: ItemType.userInformation) { body in
            if let maximumLength = self.maximumLength {
                body.writeItem(type: ItemType.maximumLength) { $0.writeInteger(maximumLength) }
            }
            if let uid = self.implementationClassUID {
                body.writeItem(type: ItemType.implementationClassUID, string: uid)
            }
            if let window = self.asynchronousOperationsWindow {
                body.writeItem(type: ItemType.asynchronousOperationsWindow) {
                    $0.writeMultipleIntegers(window.maximumInvoked, window.maximumPerformed)
                }
            }
            for role in self.roleSelections {
                body.writeItem(type: ItemType.roleSelection) {
                    $0.writeInteger(UInt16(role.sopClassUID.utf8.count))
                    $0.writeString(role.sopClassUID)
                    $0.writeMultipleIntegers(UInt8(role.scuRole ? 1 : 0), UInt8(role.scpRole ? 1 : 0))
                }
            }
            if let name = self.implementationVersionName {
                body.writeItem(type: ItemType.implementationVersionName, string: name)
            }
        }
    }
}

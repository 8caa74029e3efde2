/// What an A-ASSOCIATE-RQ's User Identity sub-item (0x58, PS3.7 §D.3.3.7) says, minus secrets.
///
/// The secondary field (the passcode) is never read or kept, only its presence. For the token
/// types (Kerberos, SAML, JWT) the primary field is itself a credential, so only its length is
/// kept; ``username`` is set for types 1 and 2 only.
public struct UserIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The user identity type byte.
    public struct IdentityType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The wire value.
        public var rawValue: UInt8
        /// Creates a type from its wire value.
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// 1: username.
        public static let username = IdentityType(rawValue: 1)
        /// 2: username and passcode.
        public static let usernameAndPasscode = IdentityType(rawValue: 2)
        /// 3: Kerberos service ticket.
        public static let kerberos = IdentityType(rawValue: 3)
        /// 4: SAML assertion.
        public static let saml = IdentityType(rawValue: 4)
        /// 5: JSON Web Token.
        public static let jwt = IdentityType(rawValue: 5)

        /// `<value> (<name>)`.
        public var description: String {
            let name =
                switch self {
                case .username: "username"
                case .usernameAndPasscode: "username and passcode"
                case .kerberos: "Kerberos"
                case .saml: "SAML"
                case .jwt: "JWT"
                default: "unknown"
                }
            return "\(self.rawValue) (\(name))"
        }
    }

    /// The identity type.
    public var type: IdentityType
    /// Whether the requestor asked for a positive server response (0x59 in the AC).
    public var positiveResponseRequested: Bool
    /// The primary field as text for types 1 and 2; `nil` for types carrying a credential.
    public var username: String?
    /// Length of the primary field in bytes.
    public var primaryFieldLength: Int
    /// Whether a non-empty secondary field (passcode) was present. Its value is never kept.
    public var hasSecondaryField: Bool

    /// Creates a value (for tests and callers building expectations).
    public init(
        type: IdentityType,
        positiveResponseRequested: Bool,
        username: String?,
        primaryFieldLength: Int,
        hasSecondaryField: Bool
    ) {
        self.type = type
        self.positiveResponseRequested = positiveResponseRequested
        self.username = username
        self.primaryFieldLength = primaryFieldLength
        self.hasSecondaryField = hasSecondaryField
    }

    /// Type, username (if any) and whether a secondary field was present.
    public var description: String {
        var text = "type \(self.type)"
        if let username = self.username { text += ", username \(username)" }
        text += self.hasSecondaryField ? ", secondary field present" : ", no secondary field"
        return text
    }
}

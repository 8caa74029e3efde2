/// A coded value of a DICOM audit message (`CodedValueType` of PS3.15 §A.5.1): code, coding scheme and meaning.
///
/// The schema requires all three (`csd-code`, `codeSystemName`, `originalText`).
public struct CodedValue: Sendable, Hashable {
    /// `csd-code`.
    public var code: String
    /// `codeSystemName`: `DCM` for PS3.16 codes, `RFC-3881` for the legacy RFC 3881 codes, `99PACSGATE` for ours.
    public var codingScheme: String
    /// `originalText`, the code meaning.
    public var meaning: String

    public init(_ code: String, _ codingScheme: String, _ meaning: String) {
        self.code = code
        self.codingScheme = codingScheme
        self.meaning = meaning
    }
}

/// The codes pacsgate uses in its audit messages (PS3.16 "DCM" codes, CID 400–403, and one private code).
public enum AuditCode {
    // MARK: EventID (CID 400)

    /// EV (110100, DCM, "Application Activity").
    public static let applicationActivity = CodedValue("110100", "DCM", "Application Activity")
    /// EV (110108, DCM, "Network Entry").
    public static let networkEntry = CodedValue("110108", "DCM", "Network Entry")
    /// EV (110113, DCM, "Security Alert").
    public static let securityAlert = CodedValue("110113", "DCM", "Security Alert")
    /// EV (110114, DCM, "User Authentication").
    public static let userAuthentication = CodedValue("110114", "DCM", "User Authentication")

    // MARK: EventTypeCode (CID 401 Audit Event Type, CID 403 Security Alert Type)

    /// (110120, DCM, "Application Start").
    public static let applicationStart = CodedValue("110120", "DCM", "Application Start")
    /// (110121, DCM, "Application Stop").
    public static let applicationStop = CodedValue("110121", "DCM", "Application Stop")
    /// (110122, DCM, "Login").
    public static let login = CodedValue("110122", "DCM", "Login")
    /// (110123, DCM, "Logout").
    public static let logout = CodedValue("110123", "DCM", "Logout")
    /// (110124, DCM, "Attach").
    public static let attach = CodedValue("110124", "DCM", "Attach")
    /// (110126, DCM, "Node Authentication"): a TLS handshake that failed.
    public static let nodeAuthentication = CodedValue("110126", "DCM", "Node Authentication")
    /// (110128, DCM, "Network Configuration"): a server's state or weight changed.
    public static let networkConfiguration = CodedValue("110128", "DCM", "Network Configuration")
    /// (110131, DCM, "Software Configuration"): the configuration was reloaded or uploaded.
    public static let softwareConfiguration = CodedValue("110131", "DCM", "Software Configuration")
    /// (110132, DCM, "Use of Restricted Function"): an AE title or server name refused by the gateway's policy.
    public static let useOfRestrictedFunction = CodedValue("110132", "DCM", "Use of Restricted Function")
    /// (PROTOCOL-ERROR, 99PACSGATE, "Protocol Error"): malformed DICOM PDUs, MLLP framing or MSH defects, input that
    /// is not TLS. CID 403 has no code for it; the private coding scheme extends it as PS3.15 §A.5 allows.
    public static let protocolError = CodedValue("PROTOCOL-ERROR", "99PACSGATE", "Protocol Error")

    // MARK: RoleIDCode (CID 402)

    /// (110150, DCM, "Application").
    public static let application = CodedValue("110150", "DCM", "Application")
    /// (110152, DCM, "Destination Role ID").
    public static let destinationRole = CodedValue("110152", "DCM", "Destination Role ID")
    /// (110153, DCM, "Source Role ID").
    public static let sourceRole = CodedValue("110153", "DCM", "Source Role ID")

    // MARK: ParticipantObjectIDTypeCode

    /// (110182, DCM, "Node ID"): the subject of a security alert, by IP address.
    public static let nodeID = CodedValue("110182", "DCM", "Node ID")
    /// (11, RFC-3881, "User Identifier").
    public static let userIdentifier = CodedValue("11", "RFC-3881", "User Identifier")
    /// (12, RFC-3881, "URI").
    public static let uri = CodedValue("12", "RFC-3881", "URI")
}

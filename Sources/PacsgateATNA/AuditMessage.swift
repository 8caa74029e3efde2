public import PacsgateCore

/// One DICOM audit message (PS3.15 §A.5.1 `AuditMessage`): what happened, who took part, who reports it and what it
/// was about. Rendered by ``AuditMessageEncoder``.
public struct AuditMessage: Sendable, Hashable {
    public var event: EventIdentification
    /// At least one (the schema requires `ActiveParticipant+`).
    public var participants: [ActiveParticipant]
    public var source: AuditSource
    public var objects: [ParticipantObject]

    public init(
        event: EventIdentification, participants: [ActiveParticipant], source: AuditSource,
        objects: [ParticipantObject] = []
    ) {
        self.event = event
        self.participants = participants
        self.source = source
        self.objects = objects
    }
}

/// `EventIdentification`.
public struct EventIdentification: Sendable, Hashable {
    /// `EventActionCode`.
    public enum Action: String, Sendable, Hashable {
        case create = "C"
        case read = "R"
        case update = "U"
        case delete = "D"
        case execute = "E"
    }

    /// `EventOutcomeIndicator`.
    public enum Outcome: Int, Sendable, Hashable {
        /// Nominal success.
        case success = 0
        /// Minor failure: the action was refused or failed, mitigation worked (a wrong password, a refused AE).
        case minorFailure = 4
        /// Serious failure: the action was terminated (a login throttled after too many attempts).
        case seriousFailure = 8
        /// Major failure: the reporting application is unavailable.
        case majorFailure = 12
    }

    public var id: CodedValue
    public var types: [CodedValue]
    public var action: Action
    /// When the event happened; always rendered with its time zone (UTC), as §A.5.2.5 requires.
    public var time: WallClock.Instant
    public var outcome: Outcome
    /// `EventOutcomeDescription`: free text, escaped on output.
    public var outcomeDescription: String?

    public init(
        id: CodedValue, types: [CodedValue], action: Action = .execute, time: WallClock.Instant, outcome: Outcome,
        outcomeDescription: String? = nil
    ) {
        self.id = id
        self.types = types
        self.action = action
        self.time = time
        self.outcome = outcome
        self.outcomeDescription = outcomeDescription
    }
}

/// `ActiveParticipant`: a person, process or node that took part.
public struct ActiveParticipant: Sendable, Hashable {
    /// `NetworkAccessPointTypeCode` with its `NetworkAccessPointID`.
    public enum NetworkAccessPoint: Sendable, Hashable {
        /// 1: a machine name, including a DNS name.
        case machineName(String)
        /// 2: an IP address (no port).
        case ipAddress(String)
    }

    public var userID: String
    /// `AETITLES=…` for DICOM applications (§A.5.2.2), the process ID for the gateway.
    public var alternativeUserID: String?
    public var userName: String?
    public var isRequestor: Bool
    public var roles: [CodedValue]
    public var networkAccessPoint: NetworkAccessPoint?

    public init(
        userID: String, alternativeUserID: String? = nil, userName: String? = nil, isRequestor: Bool,
        roles: [CodedValue] = [], networkAccessPoint: NetworkAccessPoint? = nil
    ) {
        self.userID = userID
        self.alternativeUserID = alternativeUserID
        self.userName = userName
        self.isRequestor = isRequestor
        self.roles = roles
        self.networkAccessPoint = networkAccessPoint
    }

    /// `AETITLES=a;b` (§A.5.2.2).
    public static func aeTitles(_ titles: [String]) -> String {
        "AETITLES=" + titles.joined(separator: ";")
    }
}

/// `AuditSourceIdentification`: who reports the event.
public struct AuditSource: Sendable, Hashable {
    /// `AuditSourceID`: the gateway's device name.
    public var id: String
    /// `AuditEnterpriseSiteID`: the configured site.
    public var siteID: String?
    /// `AuditSourceTypeCode` values (single digits of §A.5.1.2.1).
    public var typeCodes: [String]

    public init(id: String, siteID: String?, typeCodes: [String]) {
        self.id = id
        self.siteID = siteID
        self.typeCodes = typeCodes
    }
}

/// `ParticipantObjectIdentification`: what the event was about (for pacsgate: the subject of a security alert).
public struct ParticipantObject: Sendable, Hashable {
    /// `ParticipantObjectTypeCode`.
    public enum TypeCode: Int, Sendable, Hashable {
        case person = 1
        case systemObject = 2
        case organization = 3
        case other = 4
    }

    /// One `ParticipantObjectDetail`: the value is base64-encoded on output, whatever bytes it holds.
    public struct Detail: Sendable, Hashable {
        public var type: String
        public var value: [UInt8]

        public init(type: String, value: [UInt8]) {
            self.type = type
            self.value = value
        }

        /// A detail with a UTF-8 text value.
        public init(type: String, text: String) {
            self.init(type: type, value: Array(text.utf8))
        }
    }

    public var idType: CodedValue
    public var id: String
    /// `ParticipantObjectName` (the schema wants a name or a query; pacsgate always gives a name).
    public var name: String
    public var typeCode: TypeCode?
    /// `ParticipantObjectTypeCodeRole` (1…26).
    public var role: Int?
    public var details: [Detail]

    public init(
        idType: CodedValue, id: String, name: String, typeCode: TypeCode? = nil, role: Int? = nil,
        details: [Detail] = []
    ) {
        self.idType = idType
        self.id = id
        self.name = name
        self.typeCode = typeCode
        self.role = role
        self.details = details
    }
}

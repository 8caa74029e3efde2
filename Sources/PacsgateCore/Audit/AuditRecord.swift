/// The name of an audit event (`dicom.association`, `hl7.message`, `admin.change`…): the `event` field of its record.
///
/// A typed value so the log, its observers and the search index know a record's event from the record itself, never
/// by scanning its JSON. Each module names its own events (`extension AuditEvent { static let … }`); the core names
/// only its own (``connectionRefusedAggregate``, ``proxyRefused``).
public struct AuditEvent: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The name as the `event` field writes it.
    public let name: String

    public init(_ name: String) {
        self.name = name
    }

    public init(stringLiteral name: String) {
        self.name = name
    }

    public var description: String { self.name }

    /// The count of one client's refusals beyond `audit.refused_records` in one interval (``AuditLog``).
    public static let connectionRefusedAggregate: AuditEvent = "connection.refused.aggregate"
    /// A connection refused for its PROXY protocol header (`accept_proxy`).
    public static let proxyRefused: AuditEvent = "proxy.refused"
}

/// One audit record: its event and time, its JSON object as the log writes it, the fields the search index keeps,
/// and — for the records that have a type of their own — that typed value for observers that map records rather than
/// read them (``payload``).
///
/// Built with ``AuditLog/record(event:time:capacity:)`` and the `field` methods, which write the JSON object (keys in
/// the order written, as ``JSONLine`` does) and note, as they go, the top-level values the search index keeps
/// (``AuditRecordFields``): the index is handed those instead of parsing the line again. The line is the record of
/// truth on disk; nothing here changes a byte of it.
public struct AuditRecord: Sendable {
    /// The record's event.
    public let event: AuditEvent
    /// The record's `time`.
    public let time: WallClock.Instant
    /// The fields the search index keeps, noted as the record was written (equal to what parsing its line gives).
    public private(set) var searchFields: AuditRecordFields
    /// The typed value the record was rendered from, when it has one (an observer casts it to the type it maps): the
    /// record types of PacsgateAuditRecords (`DICOMAssociationAudit`, `HL7MessageAudit`, …) and the core's own
    /// ``ProxyRefusedAudit``, each of which writes its line and sets itself here.
    public var payload: (any Sendable)?
    private var json: JSONLine
    /// Whether ``json`` holds the closed object and its newline (``finish()``).
    private var finished = false

    /// A record that starts with the fields every audit line has: `time` and `event`.
    public init(event: AuditEvent, time: WallClock.Instant = WallClock.now(), capacity: Int = 256) {
        self.event = event
        self.time = time
        self.searchFields = AuditRecordFields()
        self.searchFields.time = time.millisecondsSinceEpoch
        self.searchFields.event = event.name
        self.json = JSONLine(capacity: capacity)
        self.json.field("time", time)
        self.json.field("event", event.name)
    }

    // MARK: fields

    /// A string field.
    public mutating func field(_ key: String, _ value: String) {
        self.json.field(key, value)
        self.searchFields.note(key, value)
    }

    /// A string field, or `null` when `value` is nil.
    public mutating func field(_ key: String, _ value: String?) {
        if let value { self.field(key, value) } else { self.json.nullField(key) }
    }

    /// A time field in ISO 8601 UTC with milliseconds.
    public mutating func field(_ key: String, _ time: WallClock.Instant) { self.json.field(key, time) }

    /// An integer field.
    public mutating func field(_ key: String, _ value: Int) { self.json.field(key, value) }

    /// An integer field, or `null`.
    public mutating func field(_ key: String, _ value: Int?) { self.json.field(key, value) }

    /// A boolean field.
    public mutating func field(_ key: String, _ value: Bool) { self.json.field(key, value) }

    /// A list of strings.
    public mutating func field(_ key: String, _ values: [String]) { self.json.field(key, values) }

    /// A nested object.
    public mutating func field(_ key: String, _ object: JSONLine) { self.json.field(key, object) }

    /// A list of nested objects.
    public mutating func field(_ key: String, _ objects: [JSONLine]) { self.json.field(key, objects) }

    /// The real server a connection went to (`{"label":…,"address":…}`, or `null` when none was chosen).
    public mutating func field(_ key: String, _ server: ServerIdentity?) {
        guard let server else {
            self.json.nullField(key)
            return
        }
        self.field(key, AuditServer(server))
    }

    /// The real server a connection went to, described once by a writer that adds it to many records.
    public mutating func field(_ key: String, _ server: AuditServer) {
        self.json.field(key, server.object)
        if key == "server" {
            self.searchFields.server = server.label
            self.searchFields.serverAddress = server.address
        }
    }

    /// A `null` field.
    public mutating func nullField(_ key: String) { self.json.nullField(key) }

    // MARK: the line

    /// The finished object as text (no newline).
    public var text: String {
        self.finished ? String(decoding: self.json.bytes.dropLast(), as: UTF8.self) : self.json.text
    }

    /// The finished object followed by a newline.
    public var line: [UInt8] { self.finished ? self.json.bytes : self.json.line }

    /// The finished object followed by a newline, taking the record's bytes instead of copying them.
    public consuming func finishedLine() -> [UInt8] {
        self.finish()
    }

    /// Closes the object and adds the newline in place (once); the bytes the log writes, shared with the record.
    mutating func finish() -> [UInt8] {
        if !self.finished {
            self.json.close()
            self.finished = true
        }
        return self.json.bytes
    }
}

/// A real server as audit records write it (`{"label":…,"address":…}`), its address described once: a writer that
/// adds it to many records (HL7, one per message) keeps one instead of describing the endpoint for every record.
public struct AuditServer: Sendable, Equatable {
    public let label: String
    /// The endpoint as text (`ip:port`).
    public let address: String
    let object: JSONLine

    public init(_ server: ServerIdentity) {
        self.label = server.label
        self.address = server.endpoint.description
        self.object = JSONLine.object(label: self.label, address: self.address)
    }
}

extension AuditRecordFields {
    /// Notes a top-level string value the index keeps, as parsing the line would read it: `outcome` wins over
    /// `result`, `ack_code` and `reason`, of which the first written counts.
    mutating func note(_ key: String, _ value: String) {
        switch key.utf8.count {
        case 3 where key == "sni": self.sni = value
        case 6 where key == "client": self.client = value
        case 6 where key == "server": self.server = value
        case 6 where key == "result", 6 where key == "reason": if self.outcome == nil { self.outcome = value }
        case 7 where key == "service": self.service = value
        case 7 where key == "outcome": self.outcome = value
        case 8 where key == "ack_code": if self.outcome == nil { self.outcome = value }
        case 9 where key == "called_ae": self.calledAE = value
        case 10 where key == "calling_ae": self.callingAE = value
        case 10 where key == "control_id": self.controlID = value
        case 11 where key == "sending_app": self.sendingApp = value
        case 12 where key == "message_type": self.messageType = value
        default: break
        }
    }
}

/// Where the audit writer put records in the log file: handed to ``AuditLog/PlacementObserver``s (the audit search
/// index) once they are written, so a follower of the file knows each record's fields without reading its line.
public struct AuditPlacement: Sendable {
    /// One record: its line is `length` bytes at `offset` (its newline follows).
    public struct Record: Sendable {
        public var offset: Int64
        public var length: Int
        public var fields: AuditRecordFields

        public init(offset: Int64, length: Int, fields: AuditRecordFields) {
            self.offset = offset
            self.length = length
            self.fields = fields
        }
    }

    /// The file's device and inode (a rotated file keeps them under its new name).
    public var device: Int64
    public var inode: Int64
    /// In file order, contiguous.
    public var records: [Record]

    public init(device: Int64, inode: Int64, records: [Record]) {
        self.device = device
        self.inode = inode
        self.records = records
    }
}

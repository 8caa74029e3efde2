/// The fields of one audit record that the search index keeps (module `PacsgateAuditIndex`).
///
/// Noted by ``AuditRecord`` as the writer adds its fields, and handed to the index with the record's place in the
/// file, so the index does not parse the line it was just given; read from the JSON line (`AuditRecordFields.parse`,
/// in the index's module) for everything else: records of earlier runs, a catch-up that finds lines it was not
/// handed. Both give the same values for the same record.
public struct AuditRecordFields: Sendable, Equatable {
    /// Milliseconds since the Unix epoch of `time`; `nil` when it is missing or not ISO 8601 UTC.
    public var time: Int64?
    public var event: String?
    public var service: String?
    public var callingAE: String?
    public var calledAE: String?
    /// `client` as written (`ip:port`, `[v6]:port`, or an address alone in admin records).
    public var client: String?
    /// The server's label: `server.label` (protocol records) or `server` (admin records, where it is a label).
    public var server: String?
    /// `server.address` (`ip:port`).
    public var serverAddress: String?
    /// What happened: `outcome` (DICOM, TLS), else `result` (admin), else `ack_code` (HL7 messages), else `reason`
    /// (HL7 rejections, HA records) — the first of these the record has as a string.
    public var outcome: String?
    public var sni: String?
    public var messageType: String?
    public var controlID: String?
    /// HL7 MSH-3: the reports count HL7 messages per sending application as they count associations per calling AE.
    public var sendingApp: String?

    public init() {}

    /// What the reports count a record as.
    public enum Unit: Int, Sendable {
        case other = 0
        case association = 1
        case message = 2
        case connection = 3
    }

    /// How a counted record ended, for the reports.
    public enum Result: Int, Sendable {
        case ok = 0
        case failed = 1
        case rejected = 2
    }

    /// The record's unit in the reports: a `dicom.association` is an association, an `hl7.message` or `hl7.rejected` a
    /// message, a `tls.connection` a connection; everything else is not counted.
    public var unit: Unit {
        switch self.event {
        case "dicom.association": return .association
        case "hl7.message", "hl7.rejected": return .message
        case "tls.connection": return .connection
        default: return .other
        }
    }

    /// How a counted record ended: rejected (by the gateway's policy or the server), failed (aborted, timed out, a
    /// protocol error, a negative or missing HL7 acknowledgment, a failed TLS handshake) or ok.
    public var result: Result {
        switch self.event {
        case "dicom.association":
            switch self.outcome {
            case "released": return .ok
            case "rejected-by-gateway", "rejected-by-server": return .rejected
            default: return .failed
            }
        case "hl7.message":
            return self.outcome == "AA" || self.outcome == "CA" ? .ok : .failed
        case "hl7.rejected":
            return .rejected
        case "tls.connection":
            switch self.outcome {
            case "forwarded": return .ok
            case "rejected": return .rejected
            default: return .failed
            }
        default:
            return .ok
        }
    }
}

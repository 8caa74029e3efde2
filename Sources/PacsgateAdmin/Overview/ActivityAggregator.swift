import Foundation
import NIOConcurrencyHelpers
public import PacsgateCore

/// Protocol activity for the overview and `/metrics`, built from the audit records the protocol modules write:
/// the last DICOM associations, HL7 messages by type and acknowledgment code, TLS connections by SNI.
///
/// The audit log hands every record to ``accept(event:line:)`` (one short critical section on the writer's thread);
/// records are parsed later, in batches, when the page, the API or a scrape asks — never on the data path.
/// Label values that come from the wire (message types, SNI) are capped per service so a hostile client cannot grow
/// the tables or the metrics without bound.
public final class ActivityAggregator: Sendable {
    /// Audit events this aggregator reads.
    public static let events: Set<String> = ["dicom.association", "hl7.message", "hl7.rejected", "tls.connection"]
    /// Records waiting to be parsed before the oldest are dropped (counted).
    static let pendingCapacity = 100_000

    private struct Pending {
        var records: [(event: String, line: String)] = []
        var dropped = 0
    }

    private let pending = NIOLockedValueBox(Pending())
    private let state = NIOLockedValueBox(ActivityState())

    public init() {}

    /// Registers with `audit` so every record from now on is seen.
    public func attach(to audit: AuditLog) {
        audit.addObserver { [weak self] record in
            guard Self.events.contains(record.event.name) else { return }
            self?.accept(event: record.event.name, line: record.text)
        }
    }

    /// Takes one audit record (cheap: queued for parsing).
    public func accept(event: String, line: String) {
        guard Self.events.contains(event) else { return }
        self.pending.withLockedValue { pending in
            if pending.records.count >= Self.pendingCapacity {
                pending.dropped += 1
                return
            }
            pending.records.append((event, line))
        }
    }

    /// The current activity (parses what has arrived since the last call).
    public func snapshot() -> ActivityState {
        let (batch, dropped) = self.pending.withLockedValue { pending -> ([(event: String, line: String)], Int) in
            defer {
                pending.records.removeAll(keepingCapacity: true)
                pending.dropped = 0
            }
            return (pending.records, pending.dropped)
        }
        return self.state.withLockedValue { state in
            for record in batch { state.ingest(event: record.event, line: record.line) }
            state.droppedRecords += dropped
            return state
        }
    }
}

/// Counts and recent rows derived from audit records; a pure value, fed one record at a time.
public struct ActivityState: Sendable {
    /// One DICOM association as the overview lists it.
    public struct Association: Sendable, Equatable {
        public var time: String
        public var service: String
        public var callingAE: String
        public var calledAE: String
        public var client: String
        public var server: String
        public var outcome: String
    }

    /// HL7 messages of one type on one service.
    public struct HL7Count: Sendable, Equatable {
        public var messages = 0
        /// By acknowledgment code (`AA`, `AE`, `AR`, `CA`, `CE`, `CR`, `none`).
        public var byAck: [String: Int] = [:]
        /// Refused by the gateway (framing or header defects).
        public var rejected = 0

        /// Negative acknowledgments: application error/reject, commit error/reject, and the gateway's own refusals.
        public var naks: Int {
            ["AE", "AR", "CE", "CR"].reduce(self.rejected) { $0 + (self.byAck[$1] ?? 0) }
        }
    }

    /// Rows kept for "last associations".
    public static let associationRows = 50
    /// Distinct label values kept per service before the rest count as ``otherLabel``.
    public static let labelCap = 32
    /// Where values beyond the cap are counted.
    public static let otherLabel = "(other)"
    /// Ack codes that are counted as themselves; anything else counts as ``otherLabel``.
    static let ackCodes: Set<String> = ["AA", "AE", "AR", "CA", "CE", "CR", "none"]
    /// Association outcomes counted as themselves.
    static let outcomes: Set<String> = [
        "released", "aborted-by-client", "aborted-by-server", "rejected-by-server", "rejected-by-gateway",
        "protocol-error", "timeout",
    ]

    /// Newest last.
    public private(set) var associations: [Association] = []
    /// Associations by service and outcome.
    public private(set) var associationOutcomes: [String: [String: Int]] = [:]
    /// HL7 by service and message type.
    public private(set) var hl7: [String: [String: HL7Count]] = [:]
    /// TLS connections by service and SNI (`(none)` when the client sent none), of `protocol: tls` services.
    public private(set) var tls: [String: [String: Int]] = [:]
    /// Client TLS handshakes that failed, by service (every terminating service: `tls`, and `tls:` on DICOM and HL7).
    public private(set) var handshakeFailures: [String: Int] = [:]
    /// Records that could not be read as JSON objects.
    public private(set) var unreadableRecords = 0
    /// Records dropped because they arrived faster than they were read.
    public internal(set) var droppedRecords = 0

    public init() {}

    /// Reads one audit record.
    public mutating func ingest(event: String, line: String) {
        guard let data = line.data(using: .utf8),
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else {
            self.unreadableRecords += 1
            return
        }
        let service = Self.text(object["service"]) ?? "?"
        switch event {
        case "dicom.association":
            let outcome = Self.text(object["outcome"]) ?? "?"
            let row = Association(
                time: Self.text(object["time"]) ?? "", service: service, callingAE: Self.text(object["calling_ae"]) ?? "",
                calledAE: Self.text(object["called_ae"]) ?? "", client: Self.text(object["client"]) ?? "",
                server: Self.serverLabel(object["server"]) ?? "", outcome: outcome)
            self.associations.append(row)
            if self.associations.count > Self.associationRows {
                self.associations.removeFirst(self.associations.count - Self.associationRows)
            }
            let bucket = Self.outcomes.contains(outcome) ? outcome : Self.otherLabel
            self.associationOutcomes[service, default: [:]][bucket, default: 0] += 1
        case "hl7.message":
            let type = Self.capped(Self.text(object["message_type"]) ?? "(none)", in: self.hl7[service])
            let ack = Self.text(object["ack_code"]) ?? "none"
            var count = self.hl7[service, default: [:]][type, default: HL7Count()]
            count.messages += 1
            count.byAck[Self.ackCodes.contains(ack) ? ack : Self.otherLabel, default: 0] += 1
            self.hl7[service, default: [:]][type] = count
        case "hl7.rejected":
            let type = Self.capped(Self.text(object["message_type"]) ?? "(none)", in: self.hl7[service])
            self.hl7[service, default: [:]][type, default: HL7Count()].rejected += 1
        case "tls.connection":
            if Self.text(object["outcome"]) == "handshake_failed" { self.handshakeFailures[service, default: 0] += 1 }
            // DICOM and HL7 services write this event only for a failed handshake (their connections have their own
            // records) and read no SNI: they are not TLS server-name traffic.
            guard object["protocol"] == nil else { break }
            let sni = Self.capped(Self.text(object["sni"]) ?? "(none)", in: self.tls[service])
            self.tls[service, default: [:]][sni, default: 0] += 1
        default:
            break
        }
    }

    /// `value` itself if it is already counted or the table has room, else ``otherLabel``.
    private static func capped<V>(_ value: String, in table: [String: V]?) -> String {
        guard let table else { return value }
        if table[value] != nil || table.count < Self.labelCap - 1 { return value }
        return Self.otherLabel
    }

    private static func text(_ value: Any?) -> String? {
        switch value {
        case let string as String: return string
        case let number as NSNumber: return number.stringValue
        default: return nil
        }
    }

    /// The server's label: DICOM writes `{label, address}`, HL7 `LABEL@address`.
    private static func serverLabel(_ value: Any?) -> String? {
        if let object = value as? [String: Any] { return Self.text(object["label"]) }
        if let text = value as? String { return String(text.split(separator: "@", maxSplits: 1).first ?? Substring(text)) }
        return nil
    }
}

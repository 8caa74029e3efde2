import NIOConcurrencyHelpers
public import PacsgateAuditRecords
public import PacsgateCore

/// Protocol activity for the overview and `/metrics`, built from the audit records the protocol modules write:
/// the last DICOM associations, HL7 messages by type and acknowledgment code, TLS connections by SNI.
///
/// The audit log hands every record to the observer; the aggregator keeps the typed payloads it reads
/// (``DICOMAssociationAudit``, ``HL7MessageAudit``, ``HL7RejectedAudit``, ``TLSConnectionAudit``) in a queue — one
/// reference each, in one short critical section on the writer's thread — and counts them later, in batches, when
/// the page, the API or a scrape asks: never on the data path. Label values that come from the wire (message types,
/// SNI) are capped per service so a hostile client cannot grow the tables or the metrics without bound.
public final class ActivityAggregator: Sendable {
    /// Records waiting to be counted before the newest are dropped (counted).
    static let pendingCapacity = 100_000

    private struct Pending {
        var payloads: [any Sendable] = []
        var dropped = 0
    }

    private let pending = NIOLockedValueBox(Pending())
    private let state = NIOLockedValueBox(ActivityState())

    public init() {}

    /// Registers with `audit` so every record from now on is seen.
    public func attach(to audit: AuditLog) {
        audit.addObserver { [weak self] record in
            guard let payload = record.payload else { return }
            self?.accept(payload)
        }
    }

    /// Takes one record's typed payload (cheap: queued for counting); payloads of types the overview does not count
    /// are ignored.
    public func accept(_ payload: any Sendable) {
        guard ActivityState.counts(payload) else { return }
        self.pending.withLockedValue { pending in
            if pending.payloads.count >= Self.pendingCapacity {
                pending.dropped += 1
                return
            }
            pending.payloads.append(payload)
        }
    }

    /// The current activity (counts what has arrived since the last call).
    public func snapshot() -> ActivityState {
        let (batch, dropped) = self.pending.withLockedValue { pending -> ([any Sendable], Int) in
            defer {
                pending.payloads.removeAll(keepingCapacity: true)
                pending.dropped = 0
            }
            return (pending.payloads, pending.dropped)
        }
        return self.state.withLockedValue { state in
            for payload in batch { state.ingest(payload: payload) }
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
    /// Records dropped because they arrived faster than they were counted.
    public internal(set) var droppedRecords = 0

    public init() {}

    /// Whether `payload` is of a type the overview counts.
    static func counts(_ payload: any Sendable) -> Bool {
        payload is DICOMAssociationAudit || payload is HL7MessageAudit || payload is HL7RejectedAudit
            || payload is TLSConnectionAudit
    }

    /// Counts one record's typed payload; other types are ignored.
    public mutating func ingest(payload: any Sendable) {
        switch payload {
        case let association as DICOMAssociationAudit: self.ingest(association)
        case let message as HL7MessageAudit: self.ingest(message)
        case let rejected as HL7RejectedAudit: self.ingest(rejected)
        case let connection as TLSConnectionAudit: self.ingest(connection)
        default: break
        }
    }

    /// One DICOM association: a row of the last associations, and its outcome counted.
    public mutating func ingest(_ association: DICOMAssociationAudit) {
        let row = Association(
            time: association.time.iso8601, service: association.service,
            callingAE: association.request?.callingAE ?? "", calledAE: association.request?.calledAE ?? "",
            client: association.client, server: association.server?.label ?? "", outcome: association.outcome)
        self.associations.append(row)
        if self.associations.count > Self.associationRows {
            self.associations.removeFirst(self.associations.count - Self.associationRows)
        }
        let bucket = Self.outcomes.contains(association.outcome) ? association.outcome : Self.otherLabel
        self.associationOutcomes[association.service, default: [:]][bucket, default: 0] += 1
    }

    /// One forwarded HL7 message, by type and acknowledgment code.
    public mutating func ingest(_ message: HL7MessageAudit) {
        let service = message.connection.service
        let type = Self.capped(message.summary.messageType, in: self.hl7[service])
        let ack = message.acknowledgment.code
        var count = self.hl7[service, default: [:]][type, default: HL7Count()]
        count.messages += 1
        count.byAck[Self.ackCodes.contains(ack) ? ack : Self.otherLabel, default: 0] += 1
        self.hl7[service, default: [:]][type] = count
    }

    /// HL7 input the gateway refused, by message type (`(none)` when the header could not be read).
    public mutating func ingest(_ rejected: HL7RejectedAudit) {
        let service = rejected.connection.service
        let type = Self.capped(rejected.summary?.messageType ?? "(none)", in: self.hl7[service])
        self.hl7[service, default: [:]][type, default: HL7Count()].rejected += 1
    }

    /// One TLS connection: a failed handshake counted per service; a `protocol: tls` service's connection by SNI.
    public mutating func ingest(_ connection: TLSConnectionAudit) {
        let service = connection.service
        if connection.outcome == "handshake_failed" { self.handshakeFailures[service, default: 0] += 1 }
        // DICOM and HL7 services write this event only for a failed handshake (their connections have their own
        // records) and read no SNI: they are not TLS server-name traffic.
        guard case .inspected(let inspected) = connection.detail else { return }
        let sni = Self.capped(inspected.sni ?? "(none)", in: self.tls[service])
        self.tls[service, default: [:]][sni, default: 0] += 1
    }

    /// `value` itself if it is already counted or the table has room, else ``otherLabel``.
    private static func capped<V>(_ value: String, in table: [String: V]?) -> String {
        guard let table else { return value }
        if table[value] != nil || table.count < Self.labelCap - 1 { return value }
        return Self.otherLabel
    }
}

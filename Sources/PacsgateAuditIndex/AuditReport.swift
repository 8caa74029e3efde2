import PacsgateCore

/// Associations, messages and connections per hour or day, per service or per service and calling AE (HL7: sending
/// application), with failures and rejections: what the reports page draws, `GET /api/v1/audit/report` answers and
/// `pacsgate audit report` prints. Built from the index's hourly counts (``AuditIndex/hourlyCounts(since:until:service:party:)``).
///
/// An association is a `dicom.association` record, a message an `hl7.message` or `hl7.rejected` one, a connection a
/// `tls.connection` one. Rejected: refused by the gateway's policy or the server (`rejected-by-gateway`,
/// `rejected-by-server`, `hl7.rejected`, TLS `rejected`). Failed: everything else that did not end well (aborted,
/// timed out, protocol errors; HL7 messages without an `AA`/`CA` acknowledgment; TLS handshakes that failed,
/// incomplete hellos, no server).
public struct AuditReport: Sendable, Equatable, Codable {
    /// The length of one point.
    public enum Bucket: String, Sendable, Codable, CaseIterable {
        case hour
        case day
    }

    /// What one series counts.
    public enum Group: String, Sendable, Codable, CaseIterable {
        /// One series per service.
        case service
        /// One series per service and calling AE (or HL7 sending application).
        case callingAE = "calling_ae"
    }

    /// The counts of one bucket.
    public struct Point: Sendable, Equatable, Codable {
        /// Start of the bucket, ISO 8601 UTC.
        public var start: String
        public var associations: Int
        public var messages: Int
        public var connections: Int
        public var failed: Int
        public var rejected: Int

        public var total: Int { self.associations + self.messages + self.connections }
    }

    /// One service (and calling AE): a point per bucket, empty buckets included, and the totals.
    public struct Series: Sendable, Equatable, Codable {
        public var service: String
        /// The calling AE or sending application (group `calling_ae`); `nil` per service.
        public var callingAe: String?
        public var points: [Point]
        public var totals: Point
    }

    public var bucket: Bucket
    public var group: Group
    /// The first and the end of the buckets, ISO 8601 UTC (`nil` for an empty report).
    public var start: String?
    public var end: String?
    /// Busiest first.
    public var series: [Series]

    /// Groups hourly counts into buckets. Days start at midnight `utcOffsetSeconds` east of UTC (the page sends the
    /// browser's offset; the command uses the machine's). The buckets run from `since` (or the first count) to
    /// `until` (or the last count).
    public static func build(
        _ counts: [AuditIndex.HourCount], bucket: Bucket, group: Group, since: Int64?, until: Int64?, utcOffsetSeconds: Int = 0
    ) -> AuditReport {
        let hourMs: Int64 = 3_600_000
        let size = bucket == .hour ? hourMs : 24 * hourMs
        let offset = bucket == .hour ? 0 : Int64(utcOffsetSeconds) * 1000
        func bucketStart(_ time: Int64) -> Int64 {
            let shifted = time + offset
            let floor = shifted >= 0 ? shifted / size * size : ((shifted - size + 1) / size) * size
            return floor - offset
        }
        let times = counts.map(\.hour)
        guard let firstTime = since ?? times.min(), let lastTime = until.map({ $0 - 1 }) ?? times.max(), firstTime <= lastTime
        else {
            return AuditReport(bucket: bucket, group: group, start: nil, end: nil, series: [])
        }
        let first = bucketStart(firstTime)
        let last = bucketStart(lastTime)
        let buckets = Int((last - first) / size) + 1
        struct Key: Hashable {
            var service: String
            var party: String?
        }
        var grid: [Key: [Point]] = [:]
        func emptyPoints() -> [Point] {
            (0..<buckets).map { index in
                Point(
                    start: WallClock.Instant(millisecondsSinceEpoch: first + Int64(index) * size).iso8601, associations: 0,
                    messages: 0, connections: 0, failed: 0, rejected: 0)
            }
        }
        for count in counts {
            let index = Int((bucketStart(count.hour) - first) / size)
            guard index >= 0, index < buckets else { continue }
            let key = Key(service: count.service, party: group == .service ? nil : count.party)
            var points = grid[key] ?? emptyPoints()
            switch count.unit {
            case .association: points[index].associations += count.count
            case .message: points[index].messages += count.count
            case .connection: points[index].connections += count.count
            case .other: break
            }
            switch count.result {
            case .failed: points[index].failed += count.count
            case .rejected: points[index].rejected += count.count
            case .ok: break
            }
            grid[key] = points
        }
        var series = grid.map { key, points in
            var totals = Point(start: points.first?.start ?? "", associations: 0, messages: 0, connections: 0, failed: 0, rejected: 0)
            for point in points {
                totals.associations += point.associations
                totals.messages += point.messages
                totals.connections += point.connections
                totals.failed += point.failed
                totals.rejected += point.rejected
            }
            return Series(service: key.service, callingAe: key.party, points: points, totals: totals)
        }
        series.sort {
            ($0.totals.total, $1.service, $1.callingAe ?? "") > ($1.totals.total, $0.service, $0.callingAe ?? "")
        }
        return AuditReport(
            bucket: bucket, group: group, start: WallClock.Instant(millisecondsSinceEpoch: first).iso8601,
            end: WallClock.Instant(millisecondsSinceEpoch: last + size).iso8601, series: series)
    }

    /// The CSV columns: a row per series and bucket that has records (empty buckets are left out).
    public static let csvColumns = [
        "start", "service", "calling_ae", "associations", "messages", "connections", "failed", "rejected",
    ]

    /// The report as CSV (RFC 4180, CRLF; text fields neutralized as ``AuditExport/neutralized(_:)``).
    public var csv: String {
        var text = Self.csvColumns.joined(separator: ",") + "\r\n"
        for series in self.series {
            for point in series.points where point.total > 0 {
                let fields = [
                    point.start, AuditExport.neutralized(series.service), AuditExport.neutralized(series.callingAe ?? ""),
                    String(point.associations), String(point.messages), String(point.connections), String(point.failed),
                    String(point.rejected),
                ]
                text += fields.map(AuditExport.csvField).joined(separator: ",") + "\r\n"
            }
        }
        return text
    }
}

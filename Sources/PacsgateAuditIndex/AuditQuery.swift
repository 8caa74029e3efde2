public import Foundation
public import PacsgateCore

/// What an audit search asks for: the same filters for `pacsgate audit search`, `GET /api/v1/audit/search` and the
/// page. Every filter given must match (AND); a filter not given matches every record.
///
/// - `since`, `until`: the record's `time` is at or after `since` and before `until`.
/// - `event`, `service`, `calling_ae`, `called_ae`, `outcome`, `sni`, `message_type`, `control_id`: a pattern matched
///   against the whole value, case-sensitively, with `*` for any run of characters and `?` for one character (as
///   DICOM matches AE titles); without `*` or `?` the value must be equal. A record without the field never matches.
/// - `client`: an address or a network (`10.1.2.7`, `10.1.2.0/24`, `fd00::/8`) containing the record's client
///   address (its port is ignored).
/// - `server`: a network or address, matched against the server's address; anything else is a pattern matched
///   against the server's label.
///
/// `outcome` is the record's `outcome` (DICOM, TLS) or else the first of `result` (admin), `ack_code` (HL7
/// messages) and `reason` (HL7 rejections, HA) it has (see ``AuditRecordFields/outcome``).
public struct AuditQuery: Sendable, Equatable {
    /// Milliseconds since the epoch, inclusive.
    public var since: Int64?
    /// Milliseconds since the epoch, exclusive.
    public var until: Int64?
    public var event: String?
    public var service: String?
    public var callingAE: String?
    public var calledAE: String?
    public var client: ClientNetwork?
    public var server: ServerFilter?
    public var outcome: String?
    public var sni: String?
    public var messageType: String?
    public var controlID: String?

    /// A server filter: a network (an address is a /32 or /128) or a label pattern.
    public enum ServerFilter: Sendable, Equatable {
        case network(ClientNetwork)
        case label(String)
    }

    public init() {}

    /// The parameter names, as the API's query string and the page's form use them (the command's options are the
    /// same with dashes: `--calling-ae`).
    public static let parameterNames = [
        "since", "until", "event", "service", "calling_ae", "called_ae", "client", "server", "outcome", "sni",
        "message_type", "control_id",
    ]

    /// A filter that cannot be read.
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// Reads the filters from named parameters (empty values are ignored). Times are read by ``AuditTime/parse(_:now:timeZone:)``.
    public static func parse(
        _ parameters: [String: String], now: WallClock.Instant = WallClock.now(), timeZone: TimeZone = .current
    ) throws(Problem) -> AuditQuery {
        var query = AuditQuery()
        func value(_ name: String) -> String? {
            guard let text = parameters[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return text
        }
        for name in parameters.keys where !Self.parameterNames.contains(name) {
            throw Problem(description: "unknown filter '\(name)' (filters: \(Self.parameterNames.joined(separator: ", ")))")
        }
        if let text = value("since") {
            guard let time = AuditTime.parse(text, now: now, timeZone: timeZone) else { throw Self.badTime("since", text) }
            query.since = time
        }
        if let text = value("until") {
            guard let time = AuditTime.parse(text, now: now, timeZone: timeZone) else { throw Self.badTime("until", text) }
            query.until = time
        }
        query.event = value("event")
        query.service = value("service")
        query.callingAE = value("calling_ae")
        query.calledAE = value("called_ae")
        query.outcome = value("outcome")
        query.sni = value("sni")
        query.messageType = value("message_type")
        query.controlID = value("control_id")
        if let text = value("client") {
            guard let network = ClientNetwork(text) else {
                throw Problem(description: "client '\(text)' is not an address or network (e.g. 10.1.2.7, 10.1.2.0/24, fd00::/8)")
            }
            query.client = network
        }
        if let text = value("server") {
            query.server = ClientNetwork(text).map(ServerFilter.network) ?? .label(text)
        }
        return query
    }

    private static func badTime(_ name: String, _ text: String) -> Problem {
        Problem(
            description: "\(name) '\(text)' is not a time: use 2026-11-24T14:00 (local time), 2026-11-24T13:00Z or "
                + "+01:00, 2026-11-24 (midnight), or a duration ago such as 24h or 7d")
    }
}

/// Times as the audit search reads them.
public enum AuditTime {
    /// Milliseconds since the epoch of:
    /// - `2026-11-24T14:00`, `2026-11-24T14:00:30`, `2026-11-24 14:00`: in `timeZone` (the machine's, for the command);
    /// - the same with `Z` or an offset (`+01:00`, `-0500`), and fractions of a second: as written;
    /// - `2026-11-24`: midnight in `timeZone`;
    /// - a duration (`90m`, `24h`, `7d`, as in the configuration): that long before `now`; `now`.
    public static func parse(_ text: String, now: WallClock.Instant, timeZone: TimeZone) -> Int64? {
        let text = text.trimmingCharacters(in: .whitespaces)
        if text == "now" { return now.millisecondsSinceEpoch }
        if let first = text.first, first.isNumber, !text.contains("-"), let duration = ConfigValueParser.duration(text) {
            let (seconds, attoseconds) = duration.components
            return now.millisecondsSinceEpoch - seconds * 1000 - attoseconds / 1_000_000_000_000_000
        }
        var scalars = Array(text.unicodeScalars)
        guard scalars.count >= 10 else { return nil }
        func digit(_ scalar: Unicode.Scalar) -> Int? {
            (48...57).contains(scalar.value) ? Int(scalar.value - 48) : nil
        }
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= scalars.count else { return nil }
            var value = 0
            for index in range {
                guard let next = digit(scalars[index]) else { return nil }
                value = value * 10 + next
            }
            return value
        }
        guard let year = number(0..<4), scalars[4] == "-", let month = number(5..<7), scalars[7] == "-",
            let day = number(8..<10), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var hour = 0
        var minute = 0
        var second = 0
        var millisecond = 0
        var index = 10
        if index < scalars.count {
            guard scalars[index] == "T" || scalars[index] == " " else { return nil }
            guard let h = number(11..<13), scalars.count > 13, scalars[13] == ":", let m = number(14..<16), h < 24, m < 60 else {
                return nil
            }
            (hour, minute) = (h, m)
            index = 16
            if index < scalars.count, scalars[index] == ":" {
                guard let s = number(17..<19), s < 61 else { return nil }
                second = s
                index = 19
                if index < scalars.count, scalars[index] == "." || scalars[index] == "," {
                    index += 1
                    var scale = 100
                    while index < scalars.count, let value = digit(scalars[index]) {
                        millisecond += value * scale
                        scale /= 10
                        index += 1
                    }
                }
            }
        }
        // Zone part: none (timeZone), Z, or ±HH:MM / ±HHMM / ±HH.
        var offsetSeconds: Int?
        if index < scalars.count {
            let rest = String(String.UnicodeScalarView(scalars[index...]))
            if rest == "Z" || rest == "z" {
                offsetSeconds = 0
            } else if let sign = rest.first, sign == "+" || sign == "-" {
                let digits = rest.dropFirst().filter { $0 != ":" }
                guard digits.count == 2 || digits.count == 4, digits.allSatisfy(\.isASCII), let value = Int(digits) else { return nil }
                let hours = digits.count == 2 ? value : value / 100
                let minutes = digits.count == 2 ? 0 : value % 100
                guard hours < 24, minutes < 60 else { return nil }
                offsetSeconds = (sign == "-" ? -1 : 1) * (hours * 3600 + minutes * 60)
            } else {
                return nil
            }
        }
        scalars.removeAll()
        let days = AuditRecordFields.daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day))
        let wall = ((days * 24 + Int64(hour)) * 60 + Int64(minute)) * 60 + Int64(second)
        if let offsetSeconds {
            return (wall - Int64(offsetSeconds)) * 1000 + Int64(millisecond)
        }
        // Local wall time: the zone's offset at that moment (asked twice, so a time next to a DST change lands right).
        let guess = Date(timeIntervalSince1970: TimeInterval(wall))
        let firstOffset = Int64(timeZone.secondsFromGMT(for: guess))
        let secondOffset = Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(wall - firstOffset))))
        return (wall - secondOffset) * 1000 + Int64(millisecond)
    }
}

import PacsgateCore

/// The forms search answers are exported in, the same from the command, the API and the page: JSON lines (each
/// record exactly as the log holds it) and CSV (one row per record: its search fields, then the whole JSON line).
public enum AuditExport {
    /// The CSV columns.
    public static let csvColumns = [
        "id", "time", "event", "service", "calling_ae", "called_ae", "client", "server", "server_address", "outcome", "sni",
        "message_type", "control_id", "record",
    ]

    /// The CSV header line (with CRLF, as RFC 4180 writes lines).
    public static var csvHeader: String { Self.csvColumns.joined(separator: ",") + "\r\n" }

    /// One record as a CSV line (RFC 4180: fields with a comma, quote or line break quoted, quotes doubled; CRLF).
    ///
    /// A field that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage
    /// return — an AE title or HL7 field is chosen by whoever connects) is written with a leading `'`, as OWASP
    /// advises against CSV injection. The `record` column always starts with `{` and is never changed.
    public static func csvLine(_ found: AuditIndex.Found) -> String {
        let fields = AuditRecordFields.parse(found.line) ?? AuditRecordFields()
        let values: [String?] = [
            String(found.id), fields.time.map { WallClock.Instant(millisecondsSinceEpoch: $0).iso8601 }, fields.event,
            fields.service, fields.callingAE, fields.calledAE, fields.client, fields.server, fields.serverAddress,
            fields.outcome, fields.sni, fields.messageType, fields.controlID,
        ]
        return (values.map { Self.csvField(Self.neutralized($0 ?? "")) } + [Self.csvField(found.line)]).joined(separator: ",")
            + "\r\n"
    }

    /// `text` with a leading `'` when a spreadsheet would take it for a formula.
    public static func neutralized(_ text: String) -> String {
        guard let first = text.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) else { return text }
        return "'" + text
    }

    /// One CSV field, quoted when it must be.
    static func csvField(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// One record as a JSON line (the log's own line and a newline).
    public static func jsonLine(_ found: AuditIndex.Found) -> String { found.line + "\n" }
}

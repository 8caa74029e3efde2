import PacsgateAuditIndex
import PacsgateCore

/// The audit search page: the filter form, a page of records newest first with links to the next page, the exports
/// and each record's detail. Every value from a record is escaped: AE titles, SNI and HL7 fields are chosen by
/// whoever connects.
enum AuditSearchPage {
    enum Content {
        case results(AuditQuery, AuditIndex.Page, first: Bool)
        /// A message instead of results (a bad filter, the index being built).
        case problem(String, building: Bool)

        var isBuilding: Bool {
            if case .problem(_, true) = self { return true }
            return false
        }
    }

    /// Suggestions for the event and outcome fields.
    static let events = [
        "dicom.association", "dicom.association.start", "hl7.message", "hl7.rejected", "hl7.late_ack", "tls.connection",
        "connection.refused.aggregate", "admin.change", "admin.login", "admin.logout", "admin.denied", "admin.*", "ha.*",
    ]
    static let outcomes = [
        "released", "rejected-by-gateway", "rejected-by-server", "aborted-*", "protocol-error", "timeout", "AA", "AE", "AR",
        "none", "forwarded", "rejected", "handshake_failed", "ok", "failed", "applied", "refused",
    ]

    /// The form's fields: name, label, placeholder, suggestions.
    static let fields: [(name: String, label: String, placeholder: String, list: String?)] = [
        ("event", "Event", "dicom.association, hl7.*", "events"),
        ("service", "Service", "DICOM", "services"),
        ("calling_ae", "Calling AE", "CT01, CT*", nil),
        ("called_ae", "Called AE", "MACH7", nil),
        ("client", "Client", "10.20.0.0/16", nil),
        ("server", "Server", "DICOM1, 192.168.110.150", nil),
        ("outcome", "Outcome", "rejected*, AE", "outcomes"),
        ("sni", "SNI", "*.hospital.example", nil),
        ("message_type", "HL7 type", "ADT^A0*", nil),
        ("control_id", "Control ID", "MSH-10", nil),
    ]

    static func render(_ content: Content, form: [String: String], services: [String]) -> String {
        var html = Self.form(form, services: services)
        switch content {
        case .problem(let message, let building):
            html += "<section class=\"card\"><p class=\"\(building ? "" : "bad-text")\">\(HTML.escape(message))</p></section>"
        case .results(_, let page, let first):
            html += Self.results(page, form: form, first: first)
        }
        return html
    }

    static func form(_ form: [String: String], services: [String]) -> String {
        func value(_ name: String) -> String { HTML.escape(form[name] ?? "") }
        var inputs = """
            <label>From <input type="datetime-local" step="1" name="since" value="\(value("since"))"></label>
            <label>Until <input type="datetime-local" step="1" name="until" value="\(value("until"))"></label>
            """
        for field in Self.fields {
            inputs += """
                <label>\(HTML.escape(field.label)) <input name="\(field.name)" value="\(value(field.name))" placeholder="\(HTML.escape(field.placeholder))"\(field.list.map { " list=\"\($0)\"" } ?? "") autocomplete="off"></label>
                """
        }
        func options(_ values: [String]) -> String { values.map { "<option value=\"\(HTML.escape($0))\">" }.joined() }
        return """
            <section class="card">
            <h2>Search the audit trail <span class="sub">every filter given must match · * and ? are wildcards · times in your time zone · until is exclusive</span></h2>
            <form class="filters" method="get" action="/audit">
            \(inputs)
            <input type="hidden" name="tz" value="\(value("tz"))" data-tz>
            <div class="filter-actions"><button class="button" type="submit">Search</button> <a class="button subtle" href="/audit">Clear</a></div>
            </form>
            <datalist id="events">\(options(Self.events))</datalist>
            <datalist id="outcomes">\(options(Self.outcomes))</datalist>
            <datalist id="services">\(options(services))</datalist>
            </section>
            """
    }

    /// The query string of the current search without paging (for the next page and the exports).
    static func queryString(_ form: [String: String], adding extra: [(String, String)]) -> String {
        var pairs = form.filter { !$0.value.isEmpty && !["cursor", "limit", "format"].contains($0.key) }.sorted { $0.key < $1.key }
            .map { ($0.key, $0.value) }
        pairs += extra
        return pairs.map { "\(Self.percentEncoded($0.0))=\(Self.percentEncoded($0.1))" }.joined(separator: "&")
    }

    static func percentEncoded(_ text: String) -> String {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~".utf8)
        var result = ""
        for byte in text.utf8 {
            if allowed.contains(byte) {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return result
    }

    private static func results(_ page: AuditIndex.Page, form: [String: String], first: Bool) -> String {
        var rows = ""
        for found in page.records {
            let fields = AuditRecordFields.parse(found.line) ?? AuditRecordFields()
            let time = fields.time.map { WallClock.Instant(millisecondsSinceEpoch: $0).iso8601 } ?? ""
            let aes = fields.callingAE == nil && fields.calledAE == nil
                ? "" : "\(HTML.escape(fields.callingAE ?? "-")) → \(HTML.escape(fields.calledAE ?? "-"))"
            var more: [String] = []
            if let sni = fields.sni { more.append(sni) }
            if let type = fields.messageType { more.append(type) }
            if let id = fields.controlID { more.append(id) }
            let failed = fields.unit != .other && fields.result != .ok
            rows += """
                <tr data-record="\(found.id)"><td class="dim"><a href="/audit/record/\(found.id)"><time data-time="\(HTML.escape(time))" data-date>\(HTML.escape(time))</time></a></td>
                <td>\(HTML.escape(fields.event ?? ""))</td><td>\(HTML.escape(fields.service ?? ""))</td>
                <td class="mono">\(aes)</td><td class="mono dim">\(HTML.escape(fields.client ?? ""))</td>
                <td>\(HTML.escape(fields.server ?? ""))</td><td class="\(failed ? "bad-text" : "")">\(HTML.escape(fields.outcome ?? ""))</td>
                <td class="mono dim">\(HTML.escape(more.joined(separator: " · ")))</td></tr>
                """
        }
        if rows.isEmpty { rows = "<tr><td colspan=\"8\" class=\"empty\">No record matches.</td></tr>" }
        let exports = """
            <a href="/api/v1/audit/search?\(HTML.escape(Self.queryString(form, adding: [("format", "csv")])))" download>CSV</a> ·
            <a href="/api/v1/audit/search?\(HTML.escape(Self.queryString(form, adding: [("format", "jsonl")])))" download>JSON lines</a>
            """
        var pager = ""
        if !first { pager += "<a class=\"button subtle\" href=\"/audit?\(HTML.escape(Self.queryString(form, adding: [])))\">Newest</a> " }
        if let next = page.next {
            pager += "<a class=\"button subtle\" data-older href=\"/audit?\(HTML.escape(Self.queryString(form, adding: [("cursor", next.description)])))\">Older →</a>"
        }
        return """
            <section class="card">
            <h2><span data-total="\(page.total)">\(HTML.count(page.total))</span> record\(page.total == 1 ? "" : "s") <span class="sub">newest first · export all: \(exports)</span></h2>
            <div class="scroll tall"><table class="compact audit-results">
            <thead><tr><th>Time</th><th>Event</th><th>Service</th><th>Calling → called AE</th><th>Client</th><th>Server</th><th>Outcome</th><th>More</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            <div class="pager">\(pager)</div>
            </section>
            """
    }

    /// One record: its fields in the order written, and the line itself.
    static func detail(_ found: AuditIndex.Found) -> String {
        var rows = ""
        for entry in AuditRecordFields.entries(found.line) ?? [] {
            rows += "<tr><th>\(HTML.escape(entry.key))</th><td class=\"mono wrap\">\(HTML.escape(entry.value))</td></tr>"
        }
        return """
            <section class="card">
            <h2>Audit record \(found.id) <span class="sub"><a href="/api/v1/audit/records/\(found.id)">as JSON</a> · <a href="/audit" data-back>back to the results</a></span></h2>
            <table class="compact record-fields"><tbody>\(rows)</tbody></table>
            <h3>As written in the log</h3>
            <pre class="record-line">\(HTML.escape(found.line))</pre>
            </section>
            """
    }
}

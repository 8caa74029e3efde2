import PacsgateAuditIndex

/// The reports page: per service (or per service and calling AE) the associations, messages and connections per hour
/// or day over the retained log, with failures and rejections, drawn as the overview draws its traffic graphs.
enum ReportsPage {
    /// Series drawn on the page (the CSV has them all).
    static let maximumSeries = 200

    static func form(_ form: [String: String]) -> String {
        func value(_ name: String) -> String { HTML.escape(form[name] ?? "") }
        func option(_ name: String, _ value: String, _ title: String, default isDefault: Bool = false) -> String {
            let selected = form[name] == value || (form[name] ?? "").isEmpty && isDefault
            return "<option value=\"\(value)\"\(selected ? " selected" : "")>\(title)</option>"
        }
        return """
            <section class="card">
            <h2>Reports <span class="sub">from the audit log; empty from and until: all of the retained log</span></h2>
            <form class="filters" method="get" action="/reports">
            <label>From <input type="datetime-local" step="1" name="since" value="\(value("since"))"></label>
            <label>Until <input type="datetime-local" step="1" name="until" value="\(value("until"))"></label>
            <label>Service <input name="service" value="\(value("service"))" placeholder="all"></label>
            <label>Calling AE <input name="calling_ae" value="\(value("calling_ae"))" placeholder="all (HL7: sending application)"></label>
            <label>Per <select name="bucket">\(option("bucket", "", "hour or day", default: true))\(option("bucket", "hour", "hour"))\(option("bucket", "day", "day"))</select></label>
            <label>For each <select name="group">\(option("group", "service", "service", default: true))\(option("group", "calling_ae", "service and calling AE"))</select></label>
            <input type="hidden" name="tz" value="\(value("tz"))" data-tz>
            <div class="filter-actions"><button class="button" type="submit">Show</button></div>
            </form>
            </section>
            """
    }

    static func render(_ report: AuditReport, form: [String: String]) -> String {
        var html = Self.form(form)
        let csv = "/api/v1/audit/report?" + AuditSearchPage.queryString(form, adding: [("format", "csv")])
        let span = report.start.map { start in
            "<time data-time=\"\(HTML.escape(start))\" data-date>\(HTML.escape(start))</time> – <time data-time=\"\(HTML.escape(report.end ?? ""))\" data-date>\(HTML.escape(report.end ?? ""))</time>"
        } ?? "no records"
        var cards = ""
        for series in report.series.prefix(Self.maximumSeries) {
            let volume = series.points.map { Double($0.total) }
            let bad = series.points.map { Double($0.failed + $0.rejected) }
            let title = series.callingAe.map { "\(HTML.escape(series.service)) · <span class=\"mono\">\(HTML.escape($0.isEmpty ? "(none)" : $0))</span>" }
                ?? HTML.escape(series.service)
            let totals = series.totals
            var what: [String] = []
            if totals.associations > 0 { what.append("\(HTML.count(totals.associations)) associations") }
            if totals.messages > 0 { what.append("\(HTML.count(totals.messages)) messages") }
            if totals.connections > 0 { what.append("\(HTML.count(totals.connections)) connections") }
            cards += """
                <div class="graph report" data-series="\(HTML.escape(series.service))\(series.callingAe.map { "/" + HTML.escape($0) } ?? "")">
                  <h3>\(title)</h3>
                  <div class="spark"><span class="what">per \(report.bucket.rawValue)</span><span class="now">\(HTML.count(totals.total))</span>\(Sparkline.svg(volume, label: "records per \(report.bucket.rawValue)"))<span class="peak">\(what.joined(separator: " · ")) · peak \(HTML.count(Int(volume.max() ?? 0)))</span></div>
                  <div class="spark bad"><span class="what">failed · rejected</span><span class="now \(totals.failed + totals.rejected > 0 ? "bad-text" : "")">\(HTML.count(totals.failed)) · \(HTML.count(totals.rejected))</span>\(Sparkline.svg(bad, label: "failed and rejected per \(report.bucket.rawValue)"))<span class="peak">peak \(HTML.count(Int(bad.max() ?? 0)))</span></div>
                </div>
                """
        }
        if cards.isEmpty { cards = "<p class=\"empty\">Nothing counted in this span.</p>" }
        let more = report.series.count > Self.maximumSeries
            ? " · the \(HTML.count(report.series.count - Self.maximumSeries)) quietest are in the CSV only" : ""
        html += """
            <section class="card wide">
            <h2>\(report.group == .service ? "Per service" : "Per service and calling AE") <span class="sub">\(span) · per \(report.bucket.rawValue) · <a href="\(HTML.escape(csv))" download>CSV</a>\(more)</span></h2>
            <div class="graphs">\(cards)</div>
            </section>
            """
        return html
    }
}

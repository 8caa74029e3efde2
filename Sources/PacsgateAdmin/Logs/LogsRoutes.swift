import Hummingbird
import Logging

/// The logs page (`/logs`, refreshed every 3 s like the overview) and `GET /api/v1/logs` (scope `read`): the
/// gateway's recent log lines from ``RecentLogLines``, filtered by level.
struct LogsRoutes: Sendable {
    let routes: AdminRoutes

    /// Lines on the page and, by default, in an API answer.
    static let defaultLimit = 500

    func register(pages: RouterGroup<AdminRequestContext>, read: RouterGroup<AdminRequestContext>) {
        pages.get("/logs") { request, context in try self.page(request, context) }
        pages.get("/fragment/logs") { request, _ in AdminRoutes.html(LogsPage.lines(try self.lines(request).lines)) }
        read.get("/logs") { request, _ in try self.api(request) }
    }

    /// The lines asked for: `level` (the least level shown, default `info`… the configured one) and `limit`.
    private func lines(_ request: Request) throws -> (lines: [RecentLogLines.Line], level: Logger.Level, kept: Bool) {
        let parameters = request.uri.queryParameters
        var level = Logger.Level.trace
        if let text = parameters.get("level"), !text.isEmpty {
            guard let parsed = Logger.Level(rawValue: text) else {
                throw AdminError(.badRequest, "level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            level = parsed
        }
        var limit = Self.defaultLimit
        if let text = parameters.get("limit"), !text.isEmpty {
            guard let value = Int(text), value > 0 else { throw AdminError(.badRequest, "limit must be a positive whole number") }
            limit = value
        }
        guard let logs = self.routes.features.logs else { return ([], level, false) }
        return (logs.lines(minimum: level, limit: limit), level, true)
    }

    private func api(_ request: Request) throws -> Response {
        let (lines, _, kept) = try self.lines(request)
        guard kept else { throw AdminError(.notFound, "this gateway keeps no recent log lines (logging.recent_lines: 0)") }
        struct Answer: Encodable {
            struct Line: Encodable {
                var number: Int
                var level: String
                var text: String
            }
            var capacity: Int
            var lines: [Line]
        }
        return JSONBody.response(
            Answer(
                capacity: self.routes.features.logs?.capacity ?? 0,
                lines: lines.map { Answer.Line(number: $0.number, level: $0.level.rawValue, text: $0.text) }))
    }

    private func page(_ request: Request, _ context: AdminRequestContext) throws -> Response {
        guard case .user(let name, _, let csrf) = context.principal else { return AdminRoutes.redirect("/login") }
        let (lines, level, kept) = try self.lines(request)
        let content = LogsPage.render(lines, level: level, kept: kept, capacity: self.routes.features.logs?.capacity ?? 0)
        return AdminRoutes.html(
            self.routes.chrome(
                title: "Logs", section: .logs, user: name, csrfToken: csrf, content: content,
                mainAttributes: "id=\"logs\" data-refresh=\"/fragment/logs?level=\(level.rawValue)\" data-refresh-target=\"#log-lines\""))
    }
}

/// The logs page.
enum LogsPage {
    static func render(_ lines: [RecentLogLines.Line], level: Logger.Level, kept: Bool, capacity: Int) -> String {
        var options = ""
        for candidate in Logger.Level.allCases {
            options += "<option value=\"\(candidate.rawValue)\"\(candidate == level ? " selected" : "")>\(candidate.rawValue) and above</option>"
        }
        let note = kept
            ? "the newest \(HTML.count(capacity)) lines are kept in memory (logging.recent_lines) · refreshes every 3 s"
            : "no lines are kept (logging.recent_lines: 0)"
        return """
            <section class="card wide">
            <h2>Recent log lines <span class="sub">\(note)</span></h2>
            <form class="filters inline-filters" method="get" action="/logs">
            <label>Level <select name="level" data-autosubmit>\(options)</select></label>
            <noscript><button class="button" type="submit">Show</button></noscript>
            </form>
            <div id="log-lines" class="log-lines">\(Self.lines(lines))</div>
            </section>
            """
    }

    /// The lines, oldest first (the part that refreshes).
    static func lines(_ lines: [RecentLogLines.Line]) -> String {
        guard !lines.isEmpty else { return "<p class=\"empty\">No log lines at this level.</p>" }
        var html = "<pre class=\"log\">"
        for line in lines {
            html += "<span class=\"level-\(line.level.rawValue)\" data-line=\"\(line.number)\">\(HTML.escape(line.text))</span>\n"
        }
        return html + "</pre>"
    }
}

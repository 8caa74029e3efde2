import Foundation
import Hummingbird
import PacsgateAuditIndex
import PacsgateCore

/// The audit search, a record's detail and the reports: the pages and `GET /api/v1/audit/search`,
/// `/api/v1/audit/records/{id}` and `/api/v1/audit/report` (scope `read`).
///
/// Answers come from the audit log's search index (``AuditIndex``), brought up to date before each answer; while it
/// is first built (a few seconds per gigabyte of log) they say how far it has come instead of waiting long.
struct AuditSearchRoutes: Sendable {
    let routes: AdminRoutes

    /// How long an answer waits for the index to catch up before it says the index is still being built.
    static let catchUpWait: Duration = .seconds(5)
    /// Records on a page of the search page (the API takes `limit` up to ``maximumLimit``).
    static let pageSize = 100
    static let maximumLimit = 10_000
    /// Most points a report answers with (an hourly report over ten weeks).
    static let maximumBuckets = 2000

    func register(pages: RouterGroup<AdminRequestContext>, read: RouterGroup<AdminRequestContext>) {
        pages.get("/audit") { request, context in try await self.searchPage(request, context) }
        pages.get("/audit/record/:id") { request, context in try await self.recordPage(request, context) }
        pages.get("/reports") { request, context in try await self.reportsPage(request, context) }
        read.get("/audit/search") { request, _ in try await self.apiSearch(request) }
        read.get("/audit/records/:id") { _, context in try await self.apiRecord(context) }
        read.get("/audit/report") { request, _ in try await self.apiReport(request) }
    }

    // MARK: the request

    /// A search as the page and the API ask for it.
    struct SearchRequest {
        var query: AuditQuery
        var limit: Int
        var cursor: AuditIndex.Cursor?
        var format: String
    }

    /// Reads filters and paging from the query string; `tz` (minutes east of UTC) gives the zone of times written
    /// without one (the page sends the browser's; the default is the gateway's).
    static func searchRequest(_ request: Request, defaultLimit: Int) throws -> SearchRequest {
        var parameters: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { parameters[String(key)] = String(value) }
        let limitText = parameters.removeValue(forKey: "limit")
        let cursorText = parameters.removeValue(forKey: "cursor")
        let format = parameters.removeValue(forKey: "format") ?? "json"
        let zone = try Self.timeZone(parameters.removeValue(forKey: "tz"))
        let query: AuditQuery
        do {
            query = try AuditQuery.parse(parameters.filter { !$0.value.isEmpty }, timeZone: zone)
        } catch {
            throw AdminError(.badRequest, error.description)
        }
        var limit = defaultLimit
        if let limitText, !limitText.isEmpty {
            guard let value = Int(limitText), (1...Self.maximumLimit).contains(value) else {
                throw AdminError(.badRequest, "limit must be a whole number from 1 to \(Self.maximumLimit)")
            }
            limit = value
        }
        var cursor: AuditIndex.Cursor?
        if let cursorText, !cursorText.isEmpty {
            guard let parsed = AuditIndex.Cursor(cursorText) else { throw AdminError(.badRequest, "cursor '\(cursorText)' is not one this API gave") }
            cursor = parsed
        }
        return SearchRequest(query: query, limit: limit, cursor: cursor, format: format)
    }

    static func timeZone(_ text: String?) throws -> TimeZone {
        guard let text, !text.isEmpty else { return .current }
        guard let minutes = Int(text), (-14 * 60...14 * 60).contains(minutes), let zone = TimeZone(secondsFromGMT: minutes * 60) else {
            throw AdminError(.badRequest, "tz must be minutes east of UTC (-840 to 840), found '\(text)'")
        }
        return zone
    }

    /// The index, once it has caught up with the log (at most ``catchUpWait``).
    func readyIndex() async throws -> AuditIndex {
        guard let index = self.routes.auditIndex else {
            throw AdminError(
                .conflict,
                "the audit log is kept in memory only (no audit.path): nothing to search; the newest records are at /api/v1/audit")
        }
        do {
            if try await index.catchUp(within: Self.catchUpWait) == nil {
                let progress = index.progress
                throw AdminError(
                    .serviceUnavailable, "the audit search index is being built: \(Self.describe(progress)); try again shortly",
                    headers: [.retryAfter: "10"])
            }
        } catch let error as AdminError {
            throw error
        } catch {
            throw AdminError(.internalServerError, "the audit search index cannot be read: \(error)")
        }
        return index
    }

    static func describe(_ progress: AuditIndex.Progress) -> String {
        let done = progress.bytesDone / 1_000_000
        let total = max(1, progress.bytesTotal / 1_000_000)
        let percent = progress.bytesTotal > 0 ? Int(progress.bytesDone * 100 / progress.bytesTotal) : 0
        return "\(percent) % (\(done) of \(total) MB of log read)"
    }

    // MARK: API

    private func apiSearch(_ request: Request) async throws -> Response {
        let search = try Self.searchRequest(request, defaultLimit: Self.pageSize)
        let index = try await self.readyIndex()
        switch search.format {
        case "json":
            let page = try await index.search(search.query, limit: search.limit, after: search.cursor)
            var text = "{\"total\":\(page.total),\"next\":"
            text += page.next.map { "\"\($0)\"" } ?? "null"
            text += ",\"records\":["
            text += page.records.map { "{\"id\":\($0.id),\"record\":\($0.line)}" }.joined(separator: ",")
            text += "]}"
            return JSONBody.raw(text)
        case "jsonl", "csv":
            let csv = search.format == "csv"
            let pages = index.export(search.query)
            let body = ResponseBody { writer in
                if csv { try await writer.write(ByteBuffer(string: AuditExport.csvHeader)) }
                for try await records in pages {
                    var buffer = ByteBuffer()
                    for record in records {
                        buffer.writeString(csv ? AuditExport.csvLine(record) : AuditExport.jsonLine(record))
                    }
                    try await writer.write(buffer)
                }
                try await writer.finish(nil)
            }
            let stamp = WallClock.now().iso8601.filter { $0.isNumber || $0 == "T" }.prefix(15)
            return Response(
                status: .ok,
                headers: [
                    .contentType: csv ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8",
                    .contentDisposition: "attachment; filename=\"audit-\(stamp).\(csv ? "csv" : "jsonl")\"",
                ],
                body: body)
        default:
            throw AdminError(.badRequest, "format must be json (a page), jsonl or csv (every matching record)")
        }
    }

    private func apiRecord(_ context: AdminRequestContext) async throws -> Response {
        let found = try await self.record(context)
        return JSONBody.raw("{\"id\":\(found.id),\"record\":\(found.line)}")
    }

    private func record(_ context: AdminRequestContext) async throws -> AuditIndex.Found {
        guard let text = context.parameters.get("id"), let id = Int64(text) else { throw AdminError(.badRequest, "a record id is a number") }
        let index = try await self.readyIndex()
        guard let found = try await index.record(id: id) else {
            throw AdminError(.notFound, "no record \(id) (the index numbers records anew when it is rebuilt; search again)")
        }
        return found
    }

    /// A report as the page and the API ask for it.
    static func reportRequest(_ request: Request) throws -> (query: AuditQuery, bucket: AuditReport.Bucket?, group: AuditReport.Group, offset: Int, format: String) {
        let parameters = request.uri.queryParameters
        let zone = try Self.timeZone(parameters.get("tz"))
        var times: [String: String] = [:]
        for name in ["since", "until", "service", "calling_ae"] {
            if let value = parameters.get(name), !value.isEmpty { times[name] = value }
        }
        let query: AuditQuery
        do {
            query = try AuditQuery.parse(times, timeZone: zone)
        } catch {
            throw AdminError(.badRequest, error.description)
        }
        var bucket: AuditReport.Bucket?
        if let text = parameters.get("bucket"), !text.isEmpty {
            guard let value = AuditReport.Bucket(rawValue: text) else { throw AdminError(.badRequest, "bucket must be hour or day") }
            bucket = value
        }
        var group = AuditReport.Group.service
        if let text = parameters.get("group"), !text.isEmpty {
            guard let value = AuditReport.Group(rawValue: text) else { throw AdminError(.badRequest, "group must be service or calling_ae") }
            group = value
        }
        return (query, bucket, group, zone.secondsFromGMT(), parameters.get("format") ?? "json")
    }

    /// Builds a report; without a bucket, days when it spans more than three days, else hours.
    func report(_ query: AuditQuery, bucket: AuditReport.Bucket?, group: AuditReport.Group, offset: Int) async throws -> AuditReport {
        let index = try await self.readyIndex()
        let counts = try await index.hourlyCounts(since: query.since, until: query.until, service: query.service, party: query.callingAE)
        let first = query.since ?? counts.map(\.hour).min() ?? 0
        let last = query.until ?? (counts.map(\.hour).max() ?? 0) + 3_600_000
        let bucket = bucket ?? (last - first > 3 * 86_400_000 ? .day : .hour)
        let buckets = (last - first) / (bucket == .hour ? 3_600_000 : 86_400_000)
        guard buckets <= Int64(Self.maximumBuckets) else {
            throw AdminError(.badRequest, "that is \(buckets) \(bucket.rawValue)s; at most \(Self.maximumBuckets) (choose a shorter span or bucket=day)")
        }
        return AuditReport.build(counts, bucket: bucket, group: group, since: query.since, until: query.until, utcOffsetSeconds: offset)
    }

    private func apiReport(_ request: Request) async throws -> Response {
        let asked = try Self.reportRequest(request)
        let report = try await self.report(asked.query, bucket: asked.bucket, group: asked.group, offset: asked.offset)
        switch asked.format {
        case "json":
            return JSONBody.response(report)
        case "csv":
            return Response(
                status: .ok,
                headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"audit-report.csv\""],
                body: .init(byteBuffer: ByteBuffer(string: report.csv)))
        default:
            throw AdminError(.badRequest, "format must be json or csv")
        }
    }

    // MARK: pages

    private func searchPage(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        guard case .user(let name, _, let csrf) = context.principal else { return AdminRoutes.redirect("/login") }
        var content: AuditSearchPage.Content
        do {
            let search = try Self.searchRequest(request, defaultLimit: Self.pageSize)
            let index = try await self.readyIndex()
            let page = try await index.search(search.query, limit: search.limit, after: search.cursor)
            content = .results(search.query, page, first: search.cursor == nil)
        } catch let error as AdminError {
            content = .problem(error.message, building: error.status == .serviceUnavailable)
        }
        let form = request.uri.queryParameters
        let services = await self.routes.gateway.services.map(\.label)
        return AdminRoutes.html(
            self.routes.chrome(
                title: "Audit", section: .audit, user: name, csrfToken: csrf,
                content: AuditSearchPage.render(content, form: Dictionary(form.map { (String($0.key), String($0.value)) }, uniquingKeysWith: { _, last in last }), services: services),
                refresh: content.isBuilding ? 5 : nil))
    }

    private func recordPage(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        guard case .user(let name, _, let csrf) = context.principal else { return AdminRoutes.redirect("/login") }
        let content: String
        do {
            content = AuditSearchPage.detail(try await self.record(context))
        } catch let error as AdminError {
            content = "<section class=\"card\"><p class=\"bad-text\">\(HTML.escape(error.message))</p><p><a href=\"/audit\">Back to the search</a></p></section>"
        }
        return AdminRoutes.html(self.routes.chrome(title: "Audit record", section: .audit, user: name, csrfToken: csrf, content: content))
    }

    private func reportsPage(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        guard case .user(let name, _, let csrf) = context.principal else { return AdminRoutes.redirect("/login") }
        let content: String
        var building = false
        let form = Dictionary(request.uri.queryParameters.map { (String($0.key), String($0.value)) }, uniquingKeysWith: { _, last in last })
        do {
            let asked = try Self.reportRequest(request)
            let report = try await self.report(asked.query, bucket: asked.bucket, group: asked.group, offset: asked.offset)
            content = ReportsPage.render(report, form: form)
        } catch let error as AdminError {
            building = error.status == .serviceUnavailable
            content = ReportsPage.form(form) + "<section class=\"card\"><p class=\"\(building ? "" : "bad-text")\">\(HTML.escape(error.message))</p></section>"
        }
        return AdminRoutes.html(
            self.routes.chrome(title: "Reports", section: .reports, user: name, csrfToken: csrf, content: content, refresh: building ? 5 : nil))
    }
}

import Foundation
import Hummingbird
import PacsgateConfig
import PacsgateCore

/// The configuration page (`/config`) and its API (scope `admin`): services and servers edited in the page, each
/// change previewed as a diff of the file and applied on confirmation, and the file's backups with a rollback to any
/// of them. See ``ConfigurationManager/preview(_:forced:)`` for what applying does.
///
/// - `POST /api/v1/config/edits/preview` — the edit's fields (JSON object or form): the diff, problems, `base`.
/// - `POST /api/v1/config/edits` — the same fields and `base`: applies it.
/// - `GET /api/v1/config/backups` — the backups, newest first.
/// - `POST /api/v1/config/rollback/preview`, `POST /api/v1/config/rollback` — `backup` (a name), and `base`.
struct ConfigurationRoutes: Sendable {
    let routes: AdminRoutes

    private var manager: ConfigurationManager { self.routes.manager }

    func register(pages: RouterGroup<AdminRequestContext>, admin: RouterGroup<AdminRequestContext>) {
        pages.get("/config") { _, context in try await self.page(context, notice: nil) }
        pages.post("/config/preview") { request, context in try await self.pagePreview(request, context, rollback: false) }
        pages.post("/config/rollback/preview") { request, context in try await self.pagePreview(request, context, rollback: true) }
        pages.post("/config/apply") { request, context in try await self.pageApply(request, context) }

        admin.post("/config/edits/preview") { request, context in
            let fields = try await AdminRoutes.bodyFields(request, context)
            let preview = await self.manager.preview(try Self.edit(fields), forced: AdminRoutes.forced(request))
            return JSONBody.response(PreviewAnswer(preview), status: preview.problems.isEmpty ? .ok : .unprocessableContent)
        }
        admin.post("/config/edits") { request, context in
            let fields = try await AdminRoutes.bodyFields(request, context)
            let outcome = await self.manager.applyEdit(
                try Self.edit(fields), base: try Self.base(fields), by: context.principal?.auditName ?? "?",
                forced: AdminRoutes.forced(request))
            return AdminRoutes.outcomeResponse(outcome)
        }
        admin.get("/config/backups") { _, _ in JSONBody.response(["backups": await self.manager.backups()]) }
        admin.post("/config/rollback/preview") { request, context in
            let fields = try await AdminRoutes.bodyFields(request, context)
            let preview = await self.manager.previewRollback(to: try Self.backupName(fields), forced: AdminRoutes.forced(request))
            return JSONBody.response(PreviewAnswer(preview), status: preview.problems.isEmpty ? .ok : .unprocessableContent)
        }
        admin.post("/config/rollback") { request, context in
            let fields = try await AdminRoutes.bodyFields(request, context)
            let outcome = await self.manager.rollback(
                to: try Self.backupName(fields), base: try Self.base(fields), by: context.principal?.auditName ?? "?",
                forced: AdminRoutes.forced(request))
            return AdminRoutes.outcomeResponse(outcome)
        }
    }

    /// A preview as the API answers it.
    struct PreviewAnswer: Encodable {
        var base: String
        var acceptable: Bool
        var diff: String
        var problems: [String]
        var refusal: String?

        init(_ preview: ConfigurationManager.Preview) {
            self.base = preview.base
            self.acceptable = preview.acceptable
            self.diff = preview.diff.text
            self.problems = preview.problems
            self.refusal = preview.refusal
        }
    }

    private static func edit(_ fields: [String: String]) throws -> ConfigurationEdit {
        do {
            return try ConfigurationEdit(fields: fields)
        } catch {
            throw AdminError(.badRequest, error.description)
        }
    }

    private static func base(_ fields: [String: String]) throws -> String {
        guard let base = fields["base"], !base.isEmpty else {
            throw AdminError(.badRequest, "'base' is required: the digest a preview answered, so a change applies only to the file it was reviewed on")
        }
        return base
    }

    private static func backupName(_ fields: [String: String]) throws -> String {
        guard let name = fields["backup"], !name.isEmpty else { throw AdminError(.badRequest, "'backup' is required: a name from GET /api/v1/config/backups") }
        return name
    }

    // MARK: the page

    private func user(_ context: AdminRequestContext) throws -> (name: String, csrf: String) {
        guard case .user(let name, _, let csrf) = context.principal else { throw AdminError.unauthorized() }
        return (name, csrf)
    }

    private func page(_ context: AdminRequestContext, notice: (text: String, error: Bool)?, status: HTTPResponse.Status = .ok) async throws -> Response {
        let (name, csrf) = try self.user(context)
        let text = await self.manager.currentText
        let content = ConfigurationPage.render(
            services: ConfigurationPage.services(in: text), backups: await self.manager.backups(), csrf: csrf,
            editable: self.manager.path != nil, pair: await self.manager.pairStatus())
        return AdminRoutes.html(
            PageChrome.page(
                title: "Configuration", section: .configuration, user: name, csrfToken: csrf, content: content,
                notice: notice?.text, noticeIsError: notice?.error ?? false),
            status: status)
    }

    private func pagePreview(_ request: Request, _ context: AdminRequestContext, rollback: Bool) async throws -> Response {
        let (name, csrf) = try self.user(context)
        var request = request
        let fields = FormFields.parse(String(buffer: try await request.collectBody(upTo: 64 << 10)))
        try AdminRoutes.checkCSRF(request: request, form: fields, expected: csrf)
        let preview: ConfigurationManager.Preview
        let carried: [(String, String)]
        let title: String
        if rollback {
            let backup = try Self.backupName(fields)
            preview = await self.manager.previewRollback(to: backup)
            carried = [("rollback", backup)]
            title = "Roll back to \(backup)"
        } else {
            let edit: ConfigurationEdit
            do {
                edit = try ConfigurationEdit(fields: fields)
            } catch {
                return try await self.page(context, notice: (error.description, true), status: .badRequest)
            }
            preview = await self.manager.preview(edit)
            carried = edit.fields
            title = edit.summary
        }
        let content = ConfigurationPage.preview(preview, title: title, carried: carried, csrf: csrf)
        return AdminRoutes.html(
            PageChrome.page(title: "Review the change", section: .configuration, user: name, csrfToken: csrf, content: content),
            status: preview.problems.isEmpty ? .ok : .unprocessableContent)
    }

    private func pageApply(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        let (name, csrf) = try self.user(context)
        var request = request
        let fields = FormFields.parse(String(buffer: try await request.collectBody(upTo: 64 << 10)))
        try AdminRoutes.checkCSRF(request: request, form: fields, expected: csrf)
        let base = try Self.base(fields)
        let outcome: ConfigurationManager.Outcome
        if let backup = fields["rollback"] {
            outcome = await self.manager.rollback(to: backup, base: base, by: name)
        } else {
            do {
                outcome = await self.manager.applyEdit(try ConfigurationEdit(fields: fields), base: base, by: name)
            } catch {
                return try await self.page(context, notice: (error.description, true), status: .badRequest)
            }
        }
        let text = outcome.applied
            ? outcome.message + (outcome.backup.map { "; the previous file is kept as \(URL(fileURLWithPath: $0).lastPathComponent)" } ?? "")
            : outcome.message + (outcome.problems.isEmpty ? "" : ": " + outcome.problems.joined(separator: "; "))
        return try await self.page(
            context, notice: (text, !outcome.applied), status: outcome.applied ? .ok : AdminRoutes.outcomeResponse(outcome).status)
    }
}

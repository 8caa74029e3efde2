import Foundation
import Hummingbird
import PacsgateCore

/// A change to the admin's users and tokens in `admin.users` / `admin.tokens`, made to the file like every other
/// edit (a targeted text edit, a dated backup, a reload, an `admin.change` record — whose `edit` names the user or
/// token, never a password, hash or token).
enum AccountEdit: Equatable {
    case setPassword(user: String, hash: String)
    case addUser(name: String, hash: String)
    case removeUser(name: String)
    case addToken(name: String, digest: String, scope: APIToken.Scope)
    case removeToken(name: String)

    var summary: String {
        switch self {
        case .setPassword(let user, _): return "user.password \(user)"
        case .addUser(let name, _): return "user.add \(name)"
        case .removeUser(let name): return "user.remove \(name)"
        case .addToken(let name, _, let scope): return "token.add \(name) (scope \(scope.rawValue))"
        case .removeToken(let name): return "token.remove \(name)"
        }
    }

    func apply(to text: String) throws(ConfigurationEditError) -> String {
        var editor = YAMLTextEditor(text)
        let admin: [YAMLTextEditor.Step] = [.key("admin")]
        switch self {
        case .setPassword(let user, let hash):
            try editor.set("password_hash", to: YAMLValue.scalar(hash), in: admin + [.key("users"), .item(field: "name", value: user)])
        case .addUser(let name, let hash):
            try editor.append([("name", YAMLValue.scalar(name)), ("password_hash", YAMLValue.scalar(hash))], toList: "users", in: admin)
        case .removeUser(let name):
            try editor.removeItem(at: admin + [.key("users"), .item(field: "name", value: name)])
        case .addToken(let name, let digest, let scope):
            try editor.append(
                [("name", YAMLValue.scalar(name)), ("token_hash", YAMLValue.scalar(digest)), ("scope", scope.rawValue)], toList: "tokens",
                in: admin)
        case .removeToken(let name):
            try editor.removeItem(at: admin + [.key("tokens"), .item(field: "name", value: name)])
        }
        return editor.text
    }
}

/// The users page (`/users`): a user changes their own password; an administrator (every logged-in user is one)
/// adds and removes users and API tokens with their scopes. The API (scope `admin`): `POST /api/v1/users`
/// `{name, password}`, `DELETE /api/v1/users/{name}`, `POST /api/v1/tokens` `{name, scope}` (answers the new token,
/// shown once), `DELETE /api/v1/tokens/{name}`.
struct AccountsRoutes: Sendable {
    let routes: AdminRoutes

    func register(pages: RouterGroup<AdminRequestContext>, admin: RouterGroup<AdminRequestContext>) {
        pages.get("/users") { _, context in try await self.page(context, notice: nil) }
        pages.post("/users/password") { request, context in try await self.pageAction(request, context, .password) }
        pages.post("/users/add") { request, context in try await self.pageAction(request, context, .addUser) }
        pages.post("/users/remove") { request, context in try await self.pageAction(request, context, .removeUser) }
        pages.post("/users/tokens/add") { request, context in try await self.pageAction(request, context, .addToken) }
        pages.post("/users/tokens/remove") { request, context in try await self.pageAction(request, context, .removeToken) }

        admin.post("/users") { request, context in
            let fields = try await AdminRoutes.bodyFields(request, context)
            let (outcome, _) = try await self.perform(.addUser, fields, by: context.principal?.auditName ?? "?", as: nil, client: context.clientAddress)
            return AdminRoutes.outcomeResponse(outcome)
        }
        admin.delete("/users/:name") { _, context in
            let name = context.parameters.get("name")?.removingPercentEncoding ?? ""
            let (outcome, _) = try await self.perform(.removeUser, ["name": name], by: context.principal?.auditName ?? "?", as: nil, client: context.clientAddress)
            return AdminRoutes.outcomeResponse(outcome)
        }
        admin.post("/tokens") { request, context in
            let fields = try await AdminRoutes.bodyFields(request, context)
            let (outcome, token) = try await self.perform(.addToken, fields, by: context.principal?.auditName ?? "?", as: nil, client: context.clientAddress)
            struct Answer: Encodable {
                var outcome: ConfigurationManager.Outcome
                /// The new token, shown once: the file keeps only its digest.
                var token: String?
            }
            return JSONBody.response(Answer(outcome: outcome, token: outcome.applied ? token : nil), status: AdminRoutes.outcomeResponse(outcome).status)
        }
        admin.delete("/tokens/:name") { _, context in
            let name = context.parameters.get("name")?.removingPercentEncoding ?? ""
            let (outcome, _) = try await self.perform(.removeToken, ["name": name], by: context.principal?.auditName ?? "?", as: nil, client: context.clientAddress)
            return AdminRoutes.outcomeResponse(outcome)
        }
    }

    enum Action {
        case password, addUser, removeUser, addToken, removeToken
    }

    /// Checks the fields of `action` and applies it; returns the outcome and, for a new token, the token.
    /// `current` is the logged-in user (the password change is theirs; they cannot remove themselves); `client` is the
    /// request's address, for the throttle the current password is checked under.
    private func perform(
        _ action: Action, _ fields: [String: String], by user: String, as current: String?, client: String
    ) async throws -> (
        ConfigurationManager.Outcome, String?
    ) {
        func field(_ name: String) throws -> String {
            guard let value = fields[name], !value.isEmpty else { throw AdminError(.badRequest, "'\(name)' is required") }
            return value
        }
        func hash(_ password: String) throws -> String {
            do {
                return try PasswordHasher.hash(password)
            } catch {
                throw AdminError(.badRequest, error.description)
            }
        }
        var token: String?
        let edit: AccountEdit
        switch action {
        case .password:
            guard let current else { throw AdminError(.badRequest, "a password is changed by its user, logged in to the page") }
            switch await self.routes.authenticator.checkPassword(user: current, password: fields["current"] ?? "", client: client) {
            case .matched: break
            case .failed: throw AdminError(.forbidden, "the current password is wrong; the password is unchanged")
            case .throttled(let retryAfter): throw AdminError.throttled(retryAfter)
            }
            let new = try field("password")
            guard new == fields["repeat"] else { throw AdminError(.badRequest, "the two new passwords differ; the password is unchanged") }
            edit = .setPassword(user: current, hash: try hash(new))
        case .addUser:
            let name = try field("name")
            guard name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)) })
            else { throw AdminError(.badRequest, "a user name is letters, digits, '.', '_' and '-'") }
            edit = .addUser(name: name, hash: try hash(try field("password")))
        case .removeUser:
            let name = try field("name")
            if name == current { throw AdminError(.conflict, "you cannot remove the user you are logged in as") }
            edit = .removeUser(name: name)
        case .addToken:
            let name = try field("name")
            guard let scope = APIToken.Scope(rawValue: fields["scope"] ?? "read") else {
                throw AdminError(.badRequest, "scope must be one of metrics, read, operate, admin")
            }
            let generated = APIToken.generate()
            token = generated
            edit = .addToken(name: name, digest: "\(APIToken.Digest(of: generated))", scope: scope)
        case .removeToken:
            edit = .removeToken(name: try field("name"))
        }
        let outcome = await self.routes.manager.applyChange(edit.summary, base: nil, by: user) { text throws(ConfigurationEditError) in
            try edit.apply(to: text)
        }
        return (outcome, token)
    }

    private func page(_ context: AdminRequestContext, notice: (text: String, error: Bool)?, status: HTTPResponse.Status = .ok) async throws -> Response {
        guard case .user(let name, _, let csrf) = context.principal else { throw AdminError.unauthorized() }
        let authenticator = self.routes.authenticator
        let content = AccountsPage.render(
            user: name, users: authenticator.userNames, tokens: authenticator.tokenScopes, csrf: csrf,
            editable: self.routes.manager.path != nil)
        return AdminRoutes.html(
            PageChrome.page(
                title: "Users", section: .users, user: name, csrfToken: csrf, content: content, notice: notice?.text,
                noticeIsError: notice?.error ?? false),
            status: status)
    }

    private func pageAction(_ request: Request, _ context: AdminRequestContext, _ action: Action) async throws -> Response {
        guard case .user(let name, _, let csrf) = context.principal else { throw AdminError.unauthorized() }
        var request = request
        let fields = FormFields.parse(String(buffer: try await request.collectBody(upTo: 64 << 10)))
        try AdminRoutes.checkCSRF(request: request, form: fields, expected: csrf)
        do {
            let (outcome, token) = try await self.perform(action, fields, by: name, as: name, client: context.clientAddress)
            if outcome.applied, action == .password {
                // The authenticator ended the sessions of the old password: log in with the new one.
                return AdminRoutes.redirect("/login")
            }
            var text = outcome.message + (outcome.problems.isEmpty ? "" : ": " + outcome.problems.joined(separator: "; "))
            if outcome.applied, let token {
                text = "token '\(fields["name"] ?? "")' created — copy it now, it is not shown again: \(token)"
            }
            return try await self.page(context, notice: (text, !outcome.applied), status: outcome.applied ? .ok : AdminRoutes.outcomeResponse(outcome).status)
        } catch let error as AdminError {
            return try await self.page(context, notice: (error.message, true), status: error.status)
        }
    }
}

import Foundation
public import Hummingbird
public import Logging
public import PacsgateCore
import PacsgateAuditIndex
import PacsgateAuditRecords
import PacsgateVersion

/// The admin server's pages and JSON API. Every route is registered by ``register(on:)``; state changes go through
/// the ``Gateway`` actor and the ``ConfigurationManager`` and are written to the audit log as `admin.change`.
public struct AdminRoutes: Sendable {
    let gateway: Gateway
    let audit: AuditLog
    /// Alarms of other components for the overview banner (the audit export).
    let alarms: @Sendable () -> [String]
    let manager: ConfigurationManager
    let authenticator: AdminAuthenticator
    let activity: ActivityAggregator
    let history: TrafficHistory
    let metrics: AdminMetrics
    let https: Bool
    let logger: Logger
    let features: AdminFeatures

    public init(
        gateway: Gateway, audit: AuditLog, manager: ConfigurationManager, authenticator: AdminAuthenticator,
        activity: ActivityAggregator, history: TrafficHistory, metrics: AdminMetrics, https: Bool, logger: Logger,
        alarms: @escaping @Sendable () -> [String] = { [] }, features: AdminFeatures = AdminFeatures()
    ) {
        self.alarms = alarms
        self.features = features
        self.gateway = gateway
        self.audit = audit
        self.manager = manager
        self.authenticator = authenticator
        self.activity = activity
        self.history = history
        self.metrics = metrics
        self.https = https
        self.logger = logger
    }

    /// The audit log's search index; `nil` without `audit.path`.
    var auditIndex: AuditIndex? { self.features.auditIndex }

    /// A page of the admin around `content`, with the navigation.
    func chrome(
        title: String, section: PageChrome.Section, user: String?, csrfToken: String, content: String, refresh: Int? = nil,
        mainAttributes: String = "", tools: String = ""
    ) -> String {
        PageChrome.page(
            title: title, section: section, user: user, csrfToken: csrfToken, content: content,
            mainAttributes: mainAttributes, tools: tools, refresh: refresh)
    }

    /// Cookie names: `__Host-` pins them to this origin when the page is served over HTTPS.
    var sessionCookie: String { self.https ? "__Host-pacsgate-session" : "pacsgate-session" }
    var loginCookie: String { self.https ? "__Host-pacsgate-login" : "pacsgate-login" }

    /// A router with every route and middleware.
    public func makeRouter() -> Router<AdminRequestContext> {
        let router = Router(context: AdminRequestContext.self)
        self.register(on: router)
        return router
    }

    /// Adds the routes to `router`.
    public func register(on router: Router<AdminRequestContext>) {
        router.add(middleware: SecurityHeadersMiddleware(https: self.https))

        // Public: the login form and the static assets.
        router.get("/static/admin.css") { _, _ in Self.asset(AdminAssets.css, type: "text/css; charset=utf-8") }
        router.get("/static/admin.js") { _, _ in Self.asset(AdminAssets.javascript, type: "text/javascript; charset=utf-8") }
        router.get("/login") { request, context in self.loginForm(request, context) }
        router.post("/login") { request, context in try await self.login(request, context) }

        // The page (session cookie; a missing session goes to the login form).
        let pages = router.group().add(middleware: AuthenticationMiddleware(routes: self, kind: .page, requires: .admin))
        pages.get("/") { request, context in try await self.page(request, context) }
        pages.get("/fragment/overview") { request, context in try await self.fragment(request, context) }
        pages.post("/logout") { request, context in try await self.logout(request, context) }
        pages.post("/actions/state") { request, context in try await self.formAction(request, context, .server(.state)) }
        pages.post("/actions/weight") { request, context in try await self.formAction(request, context, .server(.weight)) }
        pages.post("/actions/reload") { request, context in try await self.formAction(request, context, .reload) }

        // Metrics: a bearer token (Prometheus' `authorization`) or a session.
        router.group().add(middleware: AuthenticationMiddleware(routes: self, kind: .api, requires: .metrics))
            .get("/metrics") { _, _ in try await self.metricsText() }

        // The JSON API, grouped by the token scope each route needs (a session may do everything).
        let read = router.group("/api/v1").add(middleware: AuthenticationMiddleware(routes: self, kind: .api, requires: .read))
        read.get("/overview") { _, context in JSONBody.response(await self.overview(user: context.principal?.auditName)) }
        read.get("/audit") { request, _ in self.auditRecords(request) }
        read.get("/config") { _, context in try await self.configurationText(context) }
        let operate = router.group("/api/v1").add(middleware: AuthenticationMiddleware(routes: self, kind: .api, requires: .operate))
        operate.post("/services/:service/servers/:server/state") { request, context in
            try await self.apiChange(request, context, .state)
        }
        operate.put("/services/:service/servers/:server/weight") { request, context in
            try await self.apiChange(request, context, .weight)
        }
        operate.post("/reload") { request, context in
            Self.outcomeResponse(await self.manager.reload(by: context.principal?.auditName ?? "?", forced: Self.forced(request)))
        }
        operate.post("/ha/switchover") { _, context in
            guard let outcome = await self.manager.switchover(by: context.principal?.auditName ?? "?") else {
                throw AdminError(.notFound, "this unit is not part of an HA pair (no ha: section)")
            }
            return JSONBody.response(outcome, status: outcome.handedOver ? .ok : outcome.refused ? .conflict : .gatewayTimeout)
        }
        AuditSearchRoutes(routes: self).register(pages: pages, read: read)
        LogsRoutes(routes: self).register(pages: pages, read: read)
        let admin = router.group("/api/v1").add(middleware: AuthenticationMiddleware(routes: self, kind: .api, requires: .admin))
        ConfigurationRoutes(routes: self).register(pages: pages, admin: admin)
        AccountsRoutes(routes: self).register(pages: pages, admin: admin)
        admin.post("/config") { request, context in
            var request = request
            let body = try await request.collectBody(upTo: context.maxUploadSize)
            let text = String(buffer: body)
            guard !text.isEmpty else { throw AdminError(.badRequest, "send the YAML configuration as the request body") }
            return Self.outcomeResponse(
                await self.manager.upload(text, by: context.principal?.auditName ?? "?", forced: Self.forced(request)))
        }
    }

    /// The running configuration: whole for `admin`, with every hash and secret replaced by `(redacted)` below it.
    private func configurationText(_ context: AdminRequestContext) async throws -> Response {
        var text = await self.manager.currentText
        if (context.principal?.scope ?? .metrics) < .admin {
            guard let redacted = ConfigurationRedaction.redact(text) else {
                throw AdminError(
                    .forbidden, "the configuration holds a secret that cannot be redacted in place; read it with an admin token")
            }
            text = redacted
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/yaml; charset=utf-8",
                .contentDisposition: "attachment; filename=\"pacsgate.yaml\"",
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private static func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func outcomeResponse(_ outcome: ConfigurationManager.Outcome) -> Response {
        let status: HTTPResponse.Status
        if outcome.applied {
            status = .ok
        } else if !outcome.problems.isEmpty {
            status = .unprocessableContent
        } else {
            status = .conflict
        }
        return JSONBody.response(outcome, status: status)
    }

    // MARK: overview

    func overview(user: String?) async -> Overview {
        let services = await self.gateway.services
        var ports: [String: Int] = [:]
        for service in services {
            if let port = await self.gateway.listenAddress(of: service.label)?.port { ports[service.label] = port }
        }
        var overview = Overview.build(
            services: services, listenPorts: ports, audit: self.audit.status, activity: self.activity.snapshot(),
            history: self.history, user: user, alarms: self.alarms())
        overview.pair = await self.manager.pairStatus()
        overview.version = PacsgateVersion.version
        overview.commit = PacsgateVersion.commit
        return overview
    }

    private func page(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        guard case .user(let name, _, let csrf) = context.principal else {
            // A bearer token reads the API, not the page.
            return Self.redirect("/login")
        }
        let overview = await self.overview(user: name)
        return Self.html(OverviewPage.page(overview, csrfToken: csrf, canUpload: self.manager.path != nil))
    }

    private func fragment(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        guard case .user(let name, _, let csrf) = context.principal else { throw AdminError.unauthorized() }
        return Self.html(OverviewPage.live(await self.overview(user: name), csrfToken: csrf))
    }

    private func metricsText() async throws -> Response {
        let text = self.metrics.render(
            services: await self.gateway.services, activity: self.activity.snapshot(), audit: self.audit.status,
            pair: await self.manager.pairStatus())
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private func auditRecords(_ request: Request) -> Response {
        let parameters = request.uri.queryParameters
        let limit = min(1000, max(1, parameters.get("limit").flatMap { Int($0) } ?? 100))
        let event = parameters.get("event").flatMap { $0.isEmpty ? nil : AuditEvent($0) }
        let records = self.audit.recent(limit: limit, event: event)
        return JSONBody.raw("{\"records\":[" + records.joined(separator: ",") + "]}")
    }

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    // MARK: login and logout

    private func loginForm(_ request: Request, _ context: AdminRequestContext) -> Response {
        if let id = request.cookies[self.sessionCookie]?.value, self.authenticator.session(id) != nil {
            return Self.redirect("/")
        }
        return self.loginPage(message: nil, status: .ok)
    }

    /// The login form with a fresh login CSRF token (double-submit: the same value in a cookie and the form).
    private func loginPage(message: String?, status: HTTPResponse.Status, user: String = "", headers: HTTPFields = [:]) -> Response {
        let token = Base64URL.random(bytes: 24)
        var response = Self.html(OverviewPage.login(csrfToken: token, message: message, user: user), status: status)
        for field in headers { response.headers.append(field) }
        response.setCookie(
            Cookie(name: self.loginCookie, value: token, maxAge: 900, path: "/", secure: self.https, httpOnly: true, sameSite: .strict))
        return response
    }

    private func login(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        var request = request
        let form = FormFields.parse(String(buffer: try await request.collectBody(upTo: 64 << 10)))
        let user = form["user"] ?? ""
        let password = form["password"] ?? ""
        guard let expected = request.cookies[self.loginCookie]?.value, let presented = form["csrf"],
            constantTimeEqual(expected, presented)
        else {
            return self.loginPage(message: "The login form expired. Please log in again.", status: .forbidden, user: user)
        }
        let known = self.authenticator.userNames.contains(user)
        switch await self.authenticator.login(user: user, password: password, client: context.clientAddress) {
        case .success(let sessionID, _):
            await self.record(login: true, user: user, client: context.clientAddress, result: "ok")
            self.logger.notice("admin login", metadata: ["admin.user": "\(user)", "client": "\(context.clientAddress)"])
            var response = Self.redirect("/")
            response.setCookie(
                Cookie(name: self.sessionCookie, value: sessionID, path: "/", secure: self.https, httpOnly: true, sameSite: .strict))
            response.setCookie(
                Cookie(name: self.loginCookie, value: "", maxAge: 0, path: "/", secure: self.https, httpOnly: true, sameSite: .strict))
            return response
        case .failure:
            // The typed name is recorded only when it is a real user: a password typed into the wrong field stays out.
            await self.record(login: true, user: known ? user : "(unknown user)", client: context.clientAddress, result: "failed")
            self.logger.warning("admin login failed", metadata: ["admin.user": "\(known ? user : "(unknown user)")", "client": "\(context.clientAddress)"])
            return self.loginPage(message: "Wrong user name or password.", status: .unauthorized, user: user)
        case .throttled(let retryAfter):
            await self.record(login: true, user: known ? user : "(unknown user)", client: context.clientAddress, result: "throttled")
            let error = AdminError.throttled(retryAfter)
            return self.loginPage(message: error.message, status: .tooManyRequests, user: user, headers: error.headers)
        }
    }

    private func logout(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        guard case .user(let name, let sessionID, let csrf) = context.principal else { return Self.redirect("/login") }
        var request = request
        let form = FormFields.parse(String(buffer: try await request.collectBody(upTo: 64 << 10)))
        try Self.checkCSRF(request: request, form: form, expected: csrf)
        self.authenticator.logout(sessionID)
        await self.record(login: false, user: name, client: context.clientAddress, result: "ok")
        var response = Self.redirect("/login")
        response.setCookie(
            Cookie(name: self.sessionCookie, value: "", maxAge: 0, path: "/", secure: self.https, httpOnly: true, sameSite: .strict))
        return response
    }

    /// A request beyond its token's scope.
    func recordDenied(_ request: Request, _ context: AdminRequestContext, scope: APIToken.Scope, requires: APIToken.Scope) async {
        var line = AuditLog.record(event: "admin.denied")
        line.field("user", context.principal?.auditName ?? "?")
        line.field("client", context.clientAddress)
        line.field("method", request.method.rawValue)
        line.field("path", String(request.uri.path.prefix(256)))
        line.field("scope", scope.rawValue)
        line.field("requires", requires.rawValue)
        try? await self.audit.writeAndWait(line)
        self.logger.warning(
            "admin API: request beyond the token's scope",
            metadata: [
                "admin.user": "\(context.principal?.auditName ?? "?")", "client": "\(context.clientAddress)",
                "path": "\(request.uri.path.prefix(256))", "scope": "\(scope.rawValue)", "requires": "\(requires.rawValue)",
            ])
    }

    private func record(login: Bool, user: String, client: String, result: String) async {
        try? await self.audit.writeAndWait(
            AdminSessionAudit(login: login, user: user, client: client, result: result).auditRecord)
    }

    /// A state-changing request of a session must carry its CSRF token (header `X-CSRF-Token` or form field `csrf`).
    static func checkCSRF(request: Request, form: [String: String], expected: String) throws {
        let presented = request.headers[.init("X-CSRF-Token")!] ?? form["csrf"]
        guard let presented, constantTimeEqual(presented, expected) else {
            throw AdminError(.forbidden, "missing or wrong CSRF token; reload the page and try again")
        }
    }

    // MARK: runtime control

    enum FormAction {
        case server(ServerSetting)
        case reload
    }

    /// What a request changes of a server: its form field, JSON key, query parameter and answer key.
    enum ServerSetting: String {
        case state
        case weight

        /// The change `text` asks for, or 400.
        func change(_ text: String?) throws -> ServerChange {
            switch self {
            case .state:
                guard let text, let state = ServerAdminState(rawValue: text) else {
                    throw AdminError(.badRequest, "state must be one of online | drain | halt, found '\(text ?? "")'")
                }
                return .state(state)
            case .weight:
                guard let text, let weight = Int(text.trimmingCharacters(in: .whitespaces)), ServerChange.weights.contains(weight)
                else {
                    throw AdminError(.badRequest, "weight must be a whole number from 0 to 1000000, found '\(text ?? "")'")
                }
                return .weight(weight)
            }
        }
    }

    private func formAction(_ request: Request, _ context: AdminRequestContext, _ action: FormAction) async throws -> Response {
        guard case .user(let name, _, let csrf) = context.principal else { throw AdminError.unauthorized() }
        var request = request
        let form = FormFields.parse(String(buffer: try await request.collectBody(upTo: 64 << 10)))
        try Self.checkCSRF(request: request, form: form, expected: csrf)
        let wantsJSON = request.headers[.accept]?.contains("application/json") ?? false
        let result: Response
        do {
            switch action {
            case .server(let setting):
                let message = try await self.change(
                    service: form["service"] ?? "", server: form["server"] ?? "", to: try setting.change(form[setting.rawValue]),
                    by: name)
                result = JSONBody.response(["message": message])
            case .reload:
                result = Self.outcomeResponse(await self.manager.reload(by: name))
            }
        } catch let error as AdminError {
            if wantsJSON { throw error }
            return Self.redirect("/")
        }
        return wantsJSON ? result : Self.redirect("/")
    }

    private func apiChange(_ request: Request, _ context: AdminRequestContext, _ setting: ServerSetting) async throws -> Response {
        let (service, server) = try Self.target(context)
        let fields = try await Self.bodyFields(request, context)
        let change = try setting.change(fields[setting.rawValue] ?? request.uri.queryParameters.get(setting.rawValue))
        let message = try await self.change(
            service: service, server: server, to: change, by: context.principal?.auditName ?? "?", forced: Self.forced(request))
        return JSONBody.response(["message": message, setting.rawValue: change.description])
    }

    private static func target(_ context: AdminRequestContext) throws -> (String, String) {
        guard let service = context.parameters.get("service")?.removingPercentEncoding,
            let server = context.parameters.get("server")?.removingPercentEncoding
        else { throw AdminError(.badRequest, "the path names no service or server") }
        return (service, server)
    }

    /// The fields of a JSON object or form body (values as text).
    static func bodyFields(_ request: Request, _ context: AdminRequestContext) async throws -> [String: String] {
        var request = request
        let text = String(buffer: try await request.collectBody(upTo: 64 << 10))
        if text.isEmpty { return [:] }
        if request.headers[.contentType]?.contains("application/x-www-form-urlencoded") == true {
            return FormFields.parse(text)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            throw AdminError(.badRequest, "the body must be a JSON object such as {\"state\": \"drain\"} or {\"weight\": 50}")
        }
        var fields: [String: String] = [:]
        for (key, value) in object {
            if let text = value as? String {
                fields[key] = text
            } else if let number = value as? NSNumber {
                fields[key] = number.stringValue
            }
        }
        return fields
    }

    /// `?force=true`: override the HA secondary's refusal of direct changes.
    static func forced(_ request: Request) -> Bool {
        request.uri.queryParameters.get("force") == "true"
    }

    /// Changes a server's administrative state or weight once its audit record is written; returns a sentence for
    /// people.
    func change(service: String, server: String, to change: ServerChange, by user: String, forced: Bool = false) async throws -> String {
        if let refusal = await self.manager.permitRuntimeChange(forced: forced) { throw AdminError(.conflict, refusal) }
        if case .weight(let weight) = change, !ServerChange.weights.contains(weight) {
            throw Self.controlError(.badWeight(weight))
        }
        let previous = change.current(in: try await self.server(service, server))
        let record = AdminChangeAudit(
            user: user, what: change.subject,
            change: .server(service: service, server: server, before: previous.auditValue, after: change.auditValue))
        try await self.recordChange(record.auditRecord)
        do {
            try await self.gateway.change(service: service, server: server, to: change)
        } catch {
            throw Self.controlError(error)
        }
        switch change {
        case .state where previous == change: return "\(service)/\(server) is already \(change)"
        case .state: return "\(service)/\(server): \(previous) → \(change)"
        case .weight: return "\(service)/\(server): weight \(previous) → \(change)"
        }
    }

    /// The current state of a server, or 404.
    private func server(_ service: String, _ server: String) async throws -> ServerSnapshot {
        guard let runtime = await self.gateway.service(service) else { throw Self.controlError(.unknownService(service)) }
        guard let status = runtime.pool.snapshot().first(where: { $0.label == server }) else {
            throw Self.controlError(.unknownServer(service: service, server: server))
        }
        return status
    }

    /// Writes an admin change's record before the change is made; when it cannot be written the change is not made
    /// (503).
    private func recordChange(_ line: AuditRecord) async throws {
        do {
            try await self.audit.writeOrWithdraw(line)
        } catch {
            self.logger.error("admin change not applied: its audit record cannot be written", metadata: ["error": "\(error)"])
            throw AdminError(.serviceUnavailable, "not applied: the audit log cannot be written (\(error))")
        }
    }

    private static func controlError(_ error: Gateway.ControlError) -> AdminError {
        switch error {
        case .unknownService, .unknownServer: return AdminError(.notFound, error.description)
        case .badWeight: return AdminError(.badRequest, error.description)
        }
    }
}

extension ServerChange {
    /// What an `admin.change` record says changed: `server.state` or `server.weight`.
    fileprivate var subject: String {
        if case .state = self { "server.state" } else { "server.weight" }
    }

    /// The value as an `admin.change` record writes it: a state by name, a weight as a number.
    fileprivate var auditValue: AdminChangeAudit.Value {
        switch self {
        case .state(let state): .text(state.rawValue)
        case .weight(let weight): .number(weight)
        }
    }
}

/// Authenticates admin requests: a bearer token, or a session cookie (whose state-changing API requests must also
/// carry the session's CSRF token in `X-CSRF-Token`), and checks that the principal's scope covers the route: a
/// token below it gets 403 and an `admin.denied` audit record. A logged-in user has every scope.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = AdminRequestContext

    enum Kind {
        /// JSON API and metrics: 401 without credentials.
        case api
        /// The page: to the login form without a session.
        case page
    }

    let routes: AdminRoutes
    let kind: Kind
    /// The scope the routes behind this middleware need.
    let requires: APIToken.Scope

    func handle(
        _ request: Request, context: AdminRequestContext, next: (Request, AdminRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        if let authorization = request.headers[.authorization] {
            guard authorization.lowercased().hasPrefix("bearer ") else {
                throw AdminError.unauthorized("only bearer tokens are accepted: 'Authorization: Bearer TOKEN'")
            }
            let token = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
            switch self.routes.authenticator.authenticate(token: token, client: context.clientAddress) {
            case .valid(let name, let scope):
                context.principal = .token(name: name, scope: scope)
                guard scope >= self.requires else {
                    await self.routes.recordDenied(request, context, scope: scope, requires: self.requires)
                    throw AdminError(
                        .forbidden, "token '\(name)' has scope '\(scope.rawValue)'; this needs '\(self.requires.rawValue)' or above")
                }
            case .invalid:
                self.routes.logger.warning("admin API: invalid bearer token", metadata: ["client": "\(context.clientAddress)"])
                throw AdminError.unauthorized("invalid token")
            case .throttled(let retryAfter):
                throw AdminError.throttled(retryAfter)
            }
            return try await next(request, context)
        }
        if let id = request.cookies[self.routes.sessionCookie]?.value, let principal = self.routes.authenticator.session(id) {
            context.principal = principal
            if self.kind == .api, request.method != .get, request.method != .head, case .user(_, _, let csrf) = principal {
                try AdminRoutes.checkCSRF(request: request, form: [:], expected: csrf)
            }
            return try await next(request, context)
        }
        switch self.kind {
        case .api:
            throw AdminError.unauthorized()
        case .page:
            if request.method == .get, request.uri.path == "/" { return AdminRoutes.redirect("/login") }
            throw AdminError.unauthorized("your session has ended; log in again")
        }
    }
}

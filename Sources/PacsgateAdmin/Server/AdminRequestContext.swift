public import Hummingbird
import Logging
import PacsgateConfig

/// The request context of the admin server: who is asking, and from where.
public struct AdminRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by the authentication middleware.
    public var principal: Principal?
    /// The client's IP address (for the login throttle and audit records).
    public let clientAddress: String

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.clientAddress = source.channel.remoteAddress?.ipAddress ?? "local"
    }

    /// Config uploads are YAML files, refused beyond ``YAMLGuard/maximumBytes`` (1 MiB) anyway.
    public var maxUploadSize: Int { YAMLGuard.maximumBytes }
}

/// An error answered as JSON: `{"error": "…"}` with a status code.
public struct AdminError: HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(self.status.code) \(self.message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONBody.response(["error": self.message], status: self.status)
        for field in self.headers { response.headers.append(field) }
        return response
    }

    static func unauthorized(_ message: String = "authentication required: log in or send 'Authorization: Bearer TOKEN'") -> AdminError {
        AdminError(.unauthorized, message, headers: [.wwwAuthenticate: "Bearer realm=\"pacsgate\""])
    }

    static func throttled(_ retryAfter: Duration) -> AdminError {
        let seconds = max(1, Int(retryAfter.components.seconds) + (retryAfter.components.attoseconds > 0 ? 1 : 0))
        return AdminError(
            .tooManyRequests, "too many failed attempts from this address; try again in \(seconds) s",
            headers: [.retryAfter: String(seconds)])
    }
}

public import NIOCore
public import NIOHTTP1
import NIOPosix
import NIOSSL
import PacsgateCore

/// A small HTTP/1.1 client for the admin API, used by `pacsgate ctl`.
///
/// One request per connection (`Connection: close`), bearer token authentication, TLS verified against the system
/// trust store, a given CA/certificate file, or — only when asked for — not at all.
public struct AdminClient: Sendable {
    /// How the server's certificate is checked.
    public enum Verification: Sendable, Equatable {
        /// The system's trust store.
        case system
        /// Trust exactly the certificates in this PEM file (the admin's self-signed certificate); the host name is
        /// checked.
        case certificateFile(String)
        /// Do not verify (prints a warning in `pacsgate ctl`).
        case none
    }

    /// The HTTP methods the admin API uses.
    public typealias Method = HTTPMethod

    /// An answer.
    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]
        public var text: String { String(decoding: self.body, as: UTF8.self) }
    }

    /// The request could not be made.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let scheme: String
    public let host: String
    public let port: Int
    public let token: String?
    public let verification: Verification
    public let timeout: TimeAmount

    /// - Parameter baseURL: `http://127.0.0.1:9443` or `https://gateway.example.org:9443`.
    public init(baseURL: String, token: String?, verification: Verification = .system, timeout: TimeAmount = .seconds(30)) throws {
        var rest = Substring(baseURL)
        if rest.hasPrefix("https://") {
            self.scheme = "https"
            rest = rest.dropFirst(8)
        } else if rest.hasPrefix("http://") {
            self.scheme = "http"
            rest = rest.dropFirst(7)
        } else {
            throw Failure(description: "admin URL must start with http:// or https://, found '\(baseURL)'")
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        let host: Substring
        let portText: Substring?
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            portText = after.hasPrefix(":") ? after.dropFirst() : nil
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
            portText = nil
        }
        guard !host.isEmpty else { throw Failure(description: "admin URL has no host: '\(baseURL)'") }
        self.host = String(host)
        if let portText {
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw Failure(description: "admin URL has a bad port: '\(baseURL)'")
            }
            self.port = port
        } else {
            self.port = self.scheme == "https" ? 443 : 80
        }
        self.token = token
        self.verification = verification
        self.timeout = timeout
    }

    /// Sends one request and returns the answer.
    public func send(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, contentType: String = "application/json") async throws -> Response {
        let promise = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Response.self)
        let sslContext = try self.makeSSLContext()
        let host = self.host
        let serverName = Self.isIPAddress(host) ? nil : host
        let bootstrap = ClientBootstrap(group: promise.futureResult.eventLoop)
            .connectTimeout(self.timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: self.port).get()
        } catch {
            promise.fail(error)
            throw Failure(description: "cannot connect to \(self.scheme)://\(host):\(self.port): \(ErrorText.describe(error))")
        }
        let timer = channel.eventLoop.scheduleTask(in: self.timeout) {
            promise.fail(Failure(description: "no answer within \(self.timeout.nanoseconds / 1_000_000_000) s"))
            channel.close(promise: nil)
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host.contains(":") ? "[\(host)]:\(self.port)" : "\(host):\(self.port)")
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "User-Agent", value: "pacsgate-ctl")
        if let token = self.token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: String(body.count))
        } else if method == .POST || method == .PUT {
            headers.add(name: "Content-Length", value: "0")
        }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        do {
            return try await promise.futureResult.get()
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "request to \(self.scheme)://\(host):\(self.port)\(path) failed: \(error)")
        }
    }

    private func makeSSLContext() throws -> NIOSSLContext? {
        guard self.scheme == "https" else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch self.verification {
        case .system: break
        case .certificateFile(let path):
            // The file is the trust anchor; the URL's host must still be a name or address the certificate holds (the
            // generated one names localhost, 127.0.0.1 and the listen address), as with any other certificate.
            configuration.trustRoots = .file(path)
        case .none: configuration.certificateVerification = .none
        }
        return try NIOSSLContext(configuration: configuration)
    }

    private static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

/// Collects one HTTP response.
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<AdminClient.Response>
    private var status = 0
    private var body: [UInt8] = []
    private let limit = 16 << 20

    init(promise: EventLoopPromise<AdminClient.Response>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.status = Int(head.status.code)
        case .body(var buffer):
            if self.body.count + buffer.readableBytes > self.limit {
                self.promise.fail(AdminClient.Failure(description: "answer larger than \(self.limit) bytes"))
                context.close(promise: nil)
                return
            }
            self.body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            self.promise.succeed(AdminClient.Response(status: self.status, body: self.body))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.promise.fail(AdminClient.Failure(description: "the admin server closed the connection without a full answer"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.promise.fail(error)
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension ResponseCollector: Sendable {}

import Hummingbird
import HummingbirdCore
public import Logging
import NIOCore
import NIOSSL
import NIOTLS
public import PacsgateCore
import PacsgateTLS
public import ServiceLifecycle

/// The admin web server: System Overview page, JSON API and `/metrics`, as one ``Service`` of the gateway's service
/// group.
///
/// It samples the services' traffic for the graphs while it runs. If its port cannot be bound it says so and tries
/// again every ten seconds: the gateway's own services keep running either way.
///
/// Limits: at most `max_connections` connections at once (more wait in the listen backlog), a connection without a
/// request for `idle_timeout` is closed, and over HTTPS one whose TLS handshake has not finished within
/// `handshake_timeout`. HTTPS uses the project's TLS settings (TLS 1.2 or later, ECDHE with AEAD ciphers only).
public struct AdminServer: Service {
    public let configuration: AdminConfiguration
    /// The routes (exposed for tests that drive them without a socket).
    public let routes: AdminRoutes
    private let gateway: Gateway
    private let manager: ConfigurationManager
    private let history: TrafficHistory
    private let sslContext: NIOSSLContext?
    private let logger: Logger
    private let onRunning: @Sendable (_ url: String) async -> Void
    private let onFailure: @Sendable (_ error: String) async -> Void

    /// - Parameters:
    ///   - configuration: the decoded `admin:` section, with at least one user or token (see
    ///     ``AdminCredentials/ensureUser(_:stateDirectory:)``).
    ///   - metrics: renders `/metrics` (see ``AdminMetrics/bootstrap()``).
    ///   - tls: certificate and key when ``AdminConfiguration/usesTLS`` (see ``AdminCredentials/tlsMaterial(_:stateDirectory:logger:)``).
    ///   - onRunning: told the server's URL once it listens.
    ///   - onFailure: told why each time the server cannot run (it retries ten seconds later).
    ///   - alarms: alarms of other components shown as overview banners (the audit export while it spools).
    ///   - features: the audit search index and the recent log lines the pages show.
    public init(
        configuration: AdminConfiguration, gateway: Gateway, manager: ConfigurationManager,
        metrics: AdminMetrics, tls: AdminCredentials.TLSMaterial?, logger: Logger,
        history: TrafficHistory = TrafficHistory(), onRunning: @escaping @Sendable (_ url: String) async -> Void = { _ in },
        onFailure: @escaping @Sendable (_ error: String) async -> Void = { _ in },
        alarms: @escaping @Sendable () -> [String] = { [] }, features: AdminFeatures = AdminFeatures()
    ) throws {
        self.configuration = configuration
        self.gateway = gateway
        self.manager = manager
        self.history = history
        var logger = logger
        logger[metadataKey: "component"] = "admin"
        self.logger = logger
        self.onRunning = onRunning
        self.onFailure = onFailure
        if let tls {
            let chain = try NIOSSLCertificate.fromPEMBytes(Array(tls.certificatePEM.utf8)).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(bytes: Array(tls.keyPEM.utf8), format: .pem)
            var tlsConfiguration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            tlsConfiguration.minimumTLSVersion = .tlsv12
            tlsConfiguration.cipherSuites = TLSDefaults.cipherSuites
            self.sslContext = try NIOSSLContext(configuration: tlsConfiguration)
        } else {
            self.sslContext = nil
        }
        let activity = ActivityAggregator()
        activity.attach(to: gateway.audit)
        self.routes = AdminRoutes(
            gateway: gateway, audit: gateway.audit, manager: manager,
            authenticator: AdminAuthenticator(configuration: configuration), activity: activity, history: history,
            metrics: metrics, https: tls != nil, logger: logger, alarms: alarms, features: features)
    }

    /// The URL the server answers on once bound to `port`.
    public func url(port: Int) -> String {
        let host = self.configuration.listen.host.contains(":") ? "[\(self.configuration.listen.host)]" : self.configuration.listen.host
        return "\(self.sslContext == nil ? "http" : "https")://\(host):\(port)"
    }

    /// Serves until graceful shutdown.
    public func run() async throws {
        let authenticator = self.routes.authenticator
        let logger = self.logger
        let running = self.configuration
        await self.manager.onApplied { _, admin in
            guard let admin else {
                logger.warning("admin: the reloaded configuration has no admin section; the admin server keeps running until restart")
                return
            }
            if admin.listen != running.listen || admin.usesTLS != running.usesTLS || admin.certificatePath != running.certificatePath {
                logger.warning("admin: listen address and TLS changes take effect at the next restart")
            }
            var effective = admin
            if effective.users.isEmpty, effective.tokens.isEmpty { effective.users = running.users }
            let ended = authenticator.update(effective)
            if ended > 0 { logger.notice("admin: sessions of removed users ended", metadata: ["sessions": "\(ended)"]) }
        }
        while true {
            do {
                try await self.serve()
                return
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                self.logger.critical(
                    "admin server cannot run; retrying in 10 s (the gateway's services are not affected)",
                    metadata: ["admin.listen": "\(self.configuration.listen)", "error": "\(error)"])
                await self.onFailure("\(error)")
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(10)) }
                } catch {
                    return
                }
                if Task.isShuttingDownGracefully { return }
            }
        }
    }

    private func serve() async throws {
        let router = self.routes.makeRouter()
        let http = HTTP1Channel.Configuration(idleTimeout: TimeAmount(self.configuration.idleTimeout))
        let server: HTTPServerBuilder
        if let sslContext {
            let handshakeTimeout = TimeAmount(self.configuration.handshakeTimeout)
            server = HTTPServerBuilder { responder in
                AdminTLSChannel(
                    base: HTTP1Channel(responder: responder, configuration: http), context: sslContext,
                    handshakeTimeout: handshakeTimeout)
            }
        } else {
            server = .http1(configuration: http)
        }
        let onRunning = self.onRunning
        let logger = self.logger
        let url = { @Sendable (port: Int) in self.url(port: port) }
        let app = Application(
            router: router, server: server,
            configuration: ApplicationConfiguration(
                address: .hostname(self.configuration.listen.host, port: self.configuration.listen.port),
                serverName: nil, backlog: 64,
                availableConnectionsDelegate: MaximumAvailableConnections(self.configuration.maxConnections, logger: logger)),
            onServerRunning: { channel in
                let address = url(channel.localAddress?.port ?? 0)
                logger.notice("admin server listening", metadata: ["admin.url": "\(address)"])
                await onRunning(address)
            },
            logger: logger)
        let history = self.history
        let gateway = self.gateway
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await history.run(gateway: gateway) }
            group.addTask { try await app.run() }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}

/// The admin server's HTTPS child channel: NIOSSL in front of HTTP/1.1 (as HummingbirdTLS's `TLSChannel`), with a
/// deadline for the handshake right behind it.
struct AdminTLSChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let base: HTTP1Channel
    let context: NIOSSLContext
    let handshakeTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandlers(
                NIOSSLServerHandler(context: self.context), HandshakeDeadline(timeout: self.handshakeTimeout))
        }.flatMap {
            self.base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await self.base.handle(value: value, logger: logger)
    }
}

/// Closes a connection whose TLS handshake has not finished within `timeout` (a client that connects and sends
/// nothing, or a handshake at one byte a second); removes itself once the handshake is done.
final class HandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.arm(context)
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent {
            self.timer?.cancel()
            self.timer = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard self.timer == nil else { return }
        let channel = context.channel
        self.timer = context.eventLoop.scheduleTask(in: self.timeout) { channel.close(promise: nil) }
    }
}

@available(*, unavailable)
extension HandshakeDeadline: Sendable {}

import Logging
import NIOCore
import NIOPosix
import PacsgateATNA
import PacsgateAdmin
import PacsgateAuditIndex
import PacsgateConfig
import PacsgateCore
import PacsgateDataPlane
import PacsgateHA
import PacsgateVersion
import ServiceLifecycle
import UnixSignals

/// What a started gateway tells its caller (the demo's banner).
struct Startup: Sendable {
    var gateway: Gateway
    /// The admin server's URL (`nil` without an `admin:` section).
    var adminURL: String?
    /// A user generated because the configuration names none, with its password when it was just created.
    var generatedUser: AdminCredentials.GeneratedUser?
}

/// Starts a gateway from a validated configuration and runs it until SIGTERM/SIGINT; SIGHUP reloads.
enum GatewayLauncher {
    /// Runs until shutdown. `configPath` is re-read on SIGHUP and `POST /api/v1/reload` (`nil`: reload unavailable, as
    /// in the demo).
    ///
    /// - Parameters:
    ///   - metrics: the Prometheus metrics bootstrapped by the command (``AdminMetrics/bootstrap()``).
    ///   - keepGeneratedUser: keep a generated admin user in the state directory (`run`); the demo makes a new one
    ///     each start and prints it.
    ///   - serviceManager: the service manager to tell about readiness, reloads, shutdown and liveness (`run` under
    ///     systemd); `nil` tells nobody.
    static func run(
        loaded: LoadedConfiguration, configPath: String?, logger: Logger, group: any EventLoopGroup, metrics: AdminMetrics,
        keepGeneratedUser: Bool = true, extraServices: [any Service] = [], serviceManager: ServiceManagerNotifier? = nil,
        recentLogLines: RecentLogLines? = nil,
        onStarted: @escaping @Sendable (Startup) async -> Void = { _ in }
    ) async throws {
        let configuration = loaded.configuration
        let stateDirectory = configuration.stateDirectory

        try TransparentModeCheck.verify(configuration, logger: logger)

        // Everything the admin server needs is prepared before any socket is bound, so a missing certificate stops
        // the start with a clear message instead of half a gateway.
        var admin: (AdminConfiguration, AdminCredentials.TLSMaterial?, AdminCredentials.GeneratedUser?)?
        if let adminConfiguration = loaded.admin {
            admin = try Self.prepare("prepare the admin server", logger: logger) {
                let (withUser, generated) = try AdminCredentials.ensureUser(
                    adminConfiguration, stateDirectory: keepGeneratedUser ? stateDirectory : nil)
                let tls = withUser.usesTLS
                    ? try AdminCredentials.tlsMaterial(withUser, stateDirectory: stateDirectory, logger: logger) : nil
                return (withUser, tls, generated)
            }
        }

        // The HA secret is read before any socket is bound too.
        var haSecret: HASecret?
        if let ha = loaded.ha {
            haSecret = try Self.prepare("start the HA link", logger: logger) {
                let secret = try HAWiring.readSecret(ha)
                HAWiring.warnAtStart(ha, logger: logger)
                return secret
            }
        }

        // The audit export (audit.syslog) reads its TLS material and spool before anything starts.
        var exporter: AuditExporter?
        if let syslog = loaded.syslog {
            exporter = try Self.prepare("prepare the audit export (audit.syslog)", logger: logger) {
                try AuditExporter(configuration: syslog, group: group, logger: logger)
            }
        }
        let audit = AuditLog(configuration: configuration.audit, logger: logger)
        if let exporter {
            audit.addObserver { record in exporter.observe(record) }
        }
        try Self.prepare("open the audit log", logger: logger, ["audit.path": "\(configuration.audit.path ?? "-")"]) {
            try audit.start()
        }
        #if os(Linux)
        let nativeEngine = Self.startNativeEngine(logger: logger)
        #else
        let nativeEngine: (any ForwardingEngine)? = nil
        #endif
        let gateway = Gateway(
            configuration: configuration, group: group, audit: audit, logger: logger, nativeEngine: nativeEngine)
        do {
            try await gateway.start()
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            #if os(Linux)
            nativeEngine?.shutdown()
            #endif
            await audit.shutdown()
            throw error
        }
        let manager = ConfigurationManager(
            gateway: gateway, loader: ConfigurationFile.loader, audit: audit, logger: logger, path: configPath,
            runningText: loaded.text, backupDirectory: stateDirectory.map { "\($0)/config-backups" })
        var startup = Startup(gateway: gateway)
        let pair = await HAWiring.controller(
            loaded: loaded, secret: haSecret, gateway: gateway, audit: audit, manager: manager, group: group, logger: logger)
        let haOrder = HAWiring.shutdownOrder(pair)
        var services: [any Service] = []
        // First in the group, so it stops last: the records of the gateway's own shutdown are exported too.
        if let exporter { services.append(exporter) }
        services.append(contentsOf: haOrder.beforeGateway)
        services.append(GatewayService(gateway: gateway, grace: configuration.shutdownGracePeriod))
        if configPath != nil {
            services.append(ReloadService(manager: manager, gateway: gateway, serviceManager: serviceManager))
        }
        // The audit search index follows the log's files on its own thread (never the writer or an event loop).
        let auditIndex = configuration.audit.path.map {
            AuditIndex(location: .init(logPath: $0), logger: logger, lowPriority: true)
        }
        if let auditIndex {
            // The writer hands the index each record's place and fields: it indexes them without parsing the lines.
            audit.addPlacementObserver { auditIndex.take($0) }
            services.append(AuditIndexService(index: auditIndex))
        }
        // Listeners bound inside the service group, awaited before READY=1.
        var listenersBound: [@Sendable () async -> Void] = []
        if let (adminConfiguration, tls, generated) = admin {
            let adminAttempted = FirstReport()
            listenersBound.append { await adminAttempted.wait() }
            let server = try AdminServer(
                configuration: adminConfiguration, gateway: gateway, manager: manager, metrics: metrics, tls: tls, logger: logger,
                onRunning: { _ in
                    serviceManager?.setNote("admin", nil)
                    adminAttempted.report()
                },
                onFailure: { error in
                    serviceManager?.setNote("admin", "admin server not listening (\(error)); retrying")
                    adminAttempted.report()
                },
                alarms: { [exporter] in exporter?.alarm.map { [$0] } ?? [] },
                features: AdminFeatures(auditIndex: auditIndex, logs: recentLogLines))
            services.append(server)
            startup.adminURL = server.url(port: adminConfiguration.listen.port)
            startup.generatedUser = generated
            if keepGeneratedUser, let generated, let password = generated.newPassword {
                // Shown once: only the hash is kept.
                printError(
                    """
                    admin: no users are configured, so one was created — user '\(generated.name)', password '\(password)'.
                           This is shown once; its hash is kept in \(generated.file ?? "memory only (no state_dir: a new one at every start)").
                           Add your own users with `pacsgate hash-password` under admin.users.
                    """)
            }
        }
        if let pair {
            // The link binds as the group starts (a failure stops the gateway); PairController offers no callback,
            // so readiness looks at its address.
            listenersBound.append {
                while pair.listeningAddress == nil, !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(10))
                }
            }
        }
        // Announced from inside the service group, once its signal handlers are in place.
        let announced = startup
        services.append(StartupNotice(notice: { await onStarted(announced) }))
        services.append(contentsOf: extraServices)
        services.append(contentsOf: haOrder.last)
        // The service manager's notices go last, after the HA unit's planned stop: READY=1 once everything before
        // has bound, and STOPPING=1 first of all at SIGTERM, before the VIPs are handed over (the group stops its
        // services in reverse order).
        if let serviceManager {
            let waits = listenersBound
            services.append(
                ServiceManagerNotices(notifier: serviceManager, gateway: gateway, listenersBound: { for wait in waits { await wait() } }))
        }
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        await withDiscardingTaskGroup { tasks in
            if let serviceManager {
                let heartbeat = ServiceManagerHeartbeat(
                    notifier: serviceManager, gateway: gateway, probe: LivenessProbe(group: group, audit: audit), logger: logger)
                tasks.addTask { await heartbeat.run() }
            }
            do {
                try await serviceGroup.run()
            } catch {
                logger.error("stopped with an error", metadata: ["error": "\(error)"])
            }
            tasks.cancelAll()
        }
        #if os(Linux)
        // The gateway has drained (GatewayService): the reactors hold no connection the grace period allowed to go on.
        nativeEngine?.shutdown()
        #endif
        await audit.shutdown()
        logger.notice("stopped")
    }

    /// One step of the start before any socket is bound: a failure is logged as critical (`cannot <what>`, with the
    /// error and `metadata`) and thrown on, so the operator reads why the gateway did not start.
    @discardableResult
    private static func prepare<Value>(
        _ what: String, logger: Logger, _ metadata: Logger.Metadata = [:], _ body: () throws -> Value
    ) throws -> Value {
        do {
            return try body()
        } catch {
            var metadata = metadata
            metadata["error"] = "\(error)"
            logger.critical("cannot \(what)", metadata: metadata)
            throw error
        }
    }

    #if os(Linux)
    /// The native data plane's reactors, or `nil` when they cannot start: services then use NIO (`engine: auto`) or
    /// fail to start (`engine: native`).
    private static func startNativeEngine(logger: Logger) -> NativeEngine? {
        do {
            return try NativeEngine(logger: logger)
        } catch {
            logger.error("cannot start the native engine; services run on NIO", metadata: ["error": "\(error)"])
            return nil
        }
    }
    #endif

    /// Logging to standard error at the configured level, control characters escaped (``EscapingLogHandler``), lines
    /// starting with a timestamp or (for journald) with the syslog priority; call once per process.
    ///
    /// With `recentLines` > 0 the lines written are also kept, the newest `recentLines` of them, for the admin's logs
    /// page (`logging.recent_lines`).
    static func bootstrapLogging(
        level: Logger.Level, lineStart: EscapingLogHandler.LineStart = .timestamp, recentLines: Int = 0
    ) -> (Logger, RecentLogLines?) {
        let recent = recentLines > 0 ? RecentLogLines(capacity: recentLines) : nil
        LoggingSystem.bootstrap { label in
            var handler = EscapingLogHandler(label: label, lineStart: lineStart, recent: recent)
            handler.logLevel = level
            return handler
        }
        return (Logger(label: "pacsgate"), recent)
    }
}

/// Runs a start-up notice (the demo's banner) once the service group is running.
struct StartupNotice: Service {
    let notice: @Sendable () async -> Void

    func run() async throws {
        await self.notice()
        try? await gracefulShutdown()
    }
}

/// Runs the gateway until graceful shutdown, then drains it.
struct GatewayService: Service {
    let gateway: Gateway
    let grace: Duration

    func run() async throws {
        try? await gracefulShutdown()
        await self.gateway.shutdown(grace: self.grace)
    }
}

/// Keeps the audit search index up to date in the background (a search then has at most a few seconds of log to read
/// first) and closes it at shutdown.
struct AuditIndexService: Service {
    let index: AuditIndex
    /// How often the index reads what the log gained.
    static let interval: Duration = .seconds(5)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.index.run(every: Self.interval)
        }
        await self.index.shutdown()
    }
}

/// Reloads the configuration file on SIGHUP (what `systemctl reload` sends); a broken file is reported and the
/// running configuration kept. The service manager hears `RELOADING=1` before and `READY=1` after.
struct ReloadService: Service {
    let manager: ConfigurationManager
    let gateway: Gateway
    let serviceManager: ServiceManagerNotifier?

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                self.serviceManager?.reloading()
                let outcome = await self.manager.reload(by: "SIGHUP")
                guard let serviceManager = self.serviceManager else { continue }
                serviceManager.setNote("reload", outcome.applied ? nil : "last reload refused, running configuration kept: \(outcome.message)")
                serviceManager.reloaded(status: await serviceManager.statusLine(self.gateway))
            }
        }
    }
}

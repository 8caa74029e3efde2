import Logging
import NIOCore
import NIOPosix
import PacsgateConfig
import PacsgateCore
import ServiceLifecycle
import UnixSignals

/// Starts a gateway from a validated configuration and runs it until SIGTERM/SIGINT; SIGHUP reloads.
enum GatewayLauncher {
    /// Runs until shutdown. `configPath` is re-read on SIGHUP (`nil`: reload unavailable, as in the demo).
    static func run(
        configuration: GatewayConfiguration, configPath: String?, logger: Logger, group: any EventLoopGroup,
        extraServices: [any Service] = [], onStarted: @escaping @Sendable (Gateway) async -> Void = { _ in }
    ) async throws {
        let audit = AuditLog(configuration: configuration.audit, logger: logger)
        do {
            try audit.start()
        } catch {
            logger.critical("cannot open the audit log", metadata: ["audit.path": "\(configuration.audit.path ?? "-")", "error": "\(error)"])
            throw error
        }
        let gateway = Gateway(configuration: configuration, group: group, audit: audit, logger: logger)
        do {
            try await gateway.start()
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            await audit.shutdown()
            throw error
        }
        var services: [any Service] = [
            GatewayService(gateway: gateway, grace: configuration.shutdownGracePeriod),
            // Announced from inside the service group, once its signal handlers are in place.
            StartupNotice(gateway: gateway, notice: onStarted),
        ]
        if let configPath {
            services.append(ReloadService(gateway: gateway, path: configPath, logger: logger))
        }
        services.append(contentsOf: extraServices)
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await serviceGroup.run()
        } catch {
            logger.error("stopped with an error", metadata: ["error": "\(error)"])
        }
        await audit.shutdown()
        logger.notice("stopped")
    }

    /// Logging to standard error at the configured level; call once per process.
    static func bootstrapLogging(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "pacsgate")
    }
}

/// Runs a start-up notice (the demo's banner) once the service group is running.
struct StartupNotice: Service {
    let gateway: Gateway
    let notice: @Sendable (Gateway) async -> Void

    func run() async throws {
        await self.notice(self.gateway)
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

/// Reloads the configuration file on SIGHUP; a broken file is reported and the running configuration kept.
struct ReloadService: Service {
    let gateway: Gateway
    let path: String
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                await Reloader.reload(gateway: self.gateway, path: self.path, logger: self.logger)
            }
        }
    }
}

/// Reads, validates and applies a configuration file to a running gateway.
enum Reloader {
    /// Returns the report, or the reason the running configuration was kept.
    @discardableResult
    static func reload(gateway: Gateway, path: String, logger: Logger) async -> Result<Gateway.ReloadReport, ReloadFailure> {
        let loader = ConfigurationLoader(registry: BuiltInModules.registry)
        switch loader.load(path: path) {
        case .failure(let errors):
            let text = errors.formatted(file: path)
            logger.error("reload refused: configuration has problems; keeping the running one", metadata: ["problems": "\(text)"])
            return .failure(ReloadFailure(message: text))
        case .success(let (configuration, warnings)):
            for warning in warnings { logger.warning("\(path):\(warning.line): \(warning.message)") }
            do {
                let report = try await gateway.apply(configuration)
                logger.notice("configuration reloaded", metadata: ["changes": "\(report)"])
                return .success(report)
            } catch {
                logger.error("reload failed; keeping the running configuration", metadata: ["error": "\(error)"])
                return .failure(ReloadFailure(message: "\(error)"))
            }
        }
    }

    struct ReloadFailure: Error {
        var message: String
    }
}

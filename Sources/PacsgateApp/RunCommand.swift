import ArgumentParser
import NIOCore
import NIOPosix
import PacsgateAdmin
import PacsgateConfig
import PacsgateCore

/// `pacsgate run --config FILE`.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the gateway with a configuration file.",
        discussion: """
            The whole file is validated before any socket is bound. SIGTERM or SIGINT stop accepting and let open
            connections finish within shutdown_grace; SIGHUP reloads the file without dropping a connection.
            """
    )

    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config: String

    func run() async throws {
        let loaded: LoadedConfiguration
        switch ConfigurationFile.load(path: self.config) {
        case .failure(let errors):
            printError(errors.formatted(file: self.config))
            throw ExitCode(1)
        case .success(let result):
            for warning in result.warnings { printError("\(self.config):\(warning.line): warning: \(warning.message)") }
            loaded = result
        }
        let (logger, recent) = GatewayLauncher.bootstrapLogging(
            level: loaded.configuration.logLevel, recentLines: loaded.configuration.recentLogLines)
        DescriptorBudget.prepare(for: loaded.configuration, logger: logger)
        if loaded.configuration.audit.path == nil {
            // `audit.required: true` without a path is refused by validation; without `required` it only warns.
            logger.warning(
                "audit.path is not set: audit records are kept in memory only (the newest 1000, for the admin API) and are lost at exit",
                metadata: ["hint": "set audit.path; audit.required: true refuses to start without it"])
        }
        let metrics = AdminMetrics.bootstrap()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: EventLoopSizing.threadCount)
        do {
            try await GatewayLauncher.run(
                loaded: loaded, configPath: self.config, logger: logger, group: group, metrics: metrics, recentLogLines: recent)
        } catch {
            try? await group.shutdownGracefully()
            throw ExitCode(1)
        }
        try? await group.shutdownGracefully()
    }
}

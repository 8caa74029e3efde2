import ArgumentParser
import Foundation
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
            The whole file is validated before any socket is bound. SIGTERM or SIGINT stop accepting and let open \
            connections finish within shutdown_grace; SIGHUP reloads the file without dropping a connection.

            Under systemd (Type=notify, NOTIFY_SOCKET set) it reports READY=1 once every listener is bound and the \
            audit log is open, RELOADING=1 and READY=1 around a reload, STOPPING=1 at shutdown, a STATUS= line, and \
            pings the watchdog (WatchdogSec=) while its event loops and audit writer answer.
            """
    )

    /// How log lines start.
    enum LogFormat: String, ExpressibleByArgument, CaseIterable {
        case auto
        case plain
        case journal
    }

    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config: String

    @Option(
        help: """
            How log lines start: 'plain' with a timestamp; 'journal' with the level as a syslog priority (<4>) and no \
            timestamp, for journald; 'auto' is 'journal' when standard error is the journal (JOURNAL_STREAM), else \
            'plain'.
            """)
    var logFormat: LogFormat = .auto

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
        let environment = ProcessInfo.processInfo.environment
        let journal =
            switch self.logFormat {
            case .plain: false
            case .journal: true
            case .auto: EscapingLogHandler.standardErrorIsJournal(environment: environment)
            }
        let (logger, recent) = GatewayLauncher.bootstrapLogging(
            level: loaded.configuration.logLevel, lineStart: journal ? .syslogPriority : .timestamp,
            recentLines: loaded.configuration.recentLogLines)
        let serviceManager = ServiceManagerNotifier.fromEnvironment(environment, logger: logger)
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
                loaded: loaded, configPath: self.config, logger: logger, group: group, metrics: metrics,
                serviceManager: serviceManager, recentLogLines: recent)
        } catch {
            try? await group.shutdownGracefully()
            throw ExitCode(1)
        }
        try? await group.shutdownGracefully()
    }
}

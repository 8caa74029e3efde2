import ArgumentParser
import Logging
import NIOCore
import NIOPosix
import PacsgateAdmin
import PacsgateConfig
import PacsgateCore
import PacsgateDemo
import ServiceLifecycle

/// `pacsgate demo`: the four Mach7 services on loopback in front of built-in simulated Mach7 nodes.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the four Mach7 services on 127.0.0.1 in front of simulated Mach7 nodes.",
        discussion: """
            Runs the embedded configuration (a copy of Samples/local.yaml): DICOM on 11112, HL7 on 6667, DMWL on
            5104 and HTTPS on 8443, each in front of two simulated nodes on 127.0.0.150 and 127.0.0.151. The audit
            log goes to STATE-DIR/audit.jsonl. Stop with Ctrl-C.
            """
    )

    @Option(help: "Directory for the audit log and generated files.")
    var stateDir: String = ".state/demo"

    func run() async throws {
        guard case .success(var loaded) = ConfigurationFile.load(yaml: DemoConfiguration.yaml) else {
            printError("internal error: the embedded demo configuration does not validate")
            throw ExitCode(2)
        }
        try FileSystem.makeDirectory(self.stateDir)
        loaded.configuration.audit.path = "\(self.stateDir)/audit.jsonl"
        loaded.configuration.stateDirectory = self.stateDir
        let configuration = loaded.configuration
        let (logger, recent) = GatewayLauncher.bootstrapLogging(
            level: configuration.logLevel, recentLines: configuration.recentLogLines)
        let metrics = AdminMetrics.bootstrap()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: EventLoopSizing.threadCount)
        let nodes = try await DemoNodes.start(
            for: configuration, stateDirectory: self.stateDir, group: group, logger: logger)
        let stateDir = self.stateDir
        do {
            try await GatewayLauncher.run(
                loaded: loaded, configPath: nil, logger: logger, group: group, metrics: metrics, keepGeneratedUser: false,
                recentLogLines: recent, onStarted: { startup in printOut(DemoBanner.text(configuration, startup: startup, stateDirectory: stateDir)) })
        } catch {
            await nodes.stop()
            try? await group.shutdownGracefully()
            throw ExitCode(1)
        }
        await nodes.stop()
        try? await group.shutdownGracefully()
    }
}

/// What the demo prints once it is up.
enum DemoBanner {
    static func text(_ configuration: GatewayConfiguration, startup: Startup, stateDirectory: String) -> String {
        var lines = ["", "pacsgate demo is up. Point your tools at it:", ""]
        for service in configuration.services {
            let nodes = service.servers.map { "\($0.label) \($0.endpoint)" }.joined(separator: ", ")
            lines.append("  \(service.label.padding(toLength: 6, withPad: " ", startingAt: 0)) \(service.listen)  (\(service.protocolName); simulated nodes: \(nodes))")
        }
        lines += [
            "",
            "  /usr/bin/echoscu -aet MODALITY1 -aec MACH7 127.0.0.1 11112",
            "  /usr/bin/findscu -W -aec MACH7 -k PatientName 127.0.0.1 5104",
            "  printf '\\x0bMSH|^~\\\\&|RIS|HOSP|PACS|MACH7|20250101120000||ADT^A01|MSG0001|P|2.5.1\\r\\x1c\\r' > adt.hl7; mllp_send -p 6667 -f adt.hl7 127.0.0.1",
            "  curl -k https://127.0.0.1:8443/",
            "",
            "  audit log: \(stateDirectory)/audit.jsonl    stop: Ctrl-C",
            "",
        ]
        if let url = startup.adminURL {
            var admin = "  admin: \(url)/"
            if let user = startup.generatedUser, let password = user.newPassword {
                admin += "   user \(user.name), password \(password)   (new at every start of the demo)"
            }
            lines.insert(contentsOf: [admin, ""], at: lines.count - 1)
        }
        return lines.joined(separator: "\n")
    }
}

/// The demo's simulated Mach7 nodes: one listener per configured server address.
struct DemoNodes: Sendable {
    let channels: [any Channel]

    static func start(
        for configuration: GatewayConfiguration, stateDirectory: String,
        group: any EventLoopGroup, logger: Logger
    ) async throws -> DemoNodes {
        var channels: [any Channel] = []
        for service in configuration.services {
            for server in service.servers {
                let node = try SimulatedNodes.make(
                    protocolName: service.protocolName, name: server.label, service: service.label,
                    stateDirectory: stateDirectory)
                let bootstrap = ServerBootstrap(group: group)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelOption(.allowRemoteHalfClosure, value: true)
                    .childChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture { try node.configure(channel) }
                    }
                guard let address = server.endpoint.socketAddress else { continue }
                do {
                    channels.append(try await bootstrap.bind(to: address).get())
                } catch {
                    logger.critical("cannot start simulated node", metadata: ["node": "\(server.label)", "address": "\(server.endpoint)", "error": "\(error)"])
                    for channel in channels { try? await channel.close() }
                    throw error
                }
            }
        }
        return DemoNodes(channels: channels)
    }

    func stop() async {
        for channel in self.channels { try? await channel.close() }
    }
}

/// Small file-system helpers.
enum FileSystem {
    static func makeDirectory(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/\(part)"
            if mkdir(current, 0o750) != 0, errno != EEXIST {
                throw IOError(errnoCode: errno, reason: "mkdir \(current)")
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

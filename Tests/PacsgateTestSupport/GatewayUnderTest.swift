package import Foundation
package import Logging
import PacsgateConfig
package import PacsgateCore
import Testing

/// How every suite starts a gateway, in one of two forms:
/// - ``inProcess(_:loopback:logger:scope:)`` (or from YAML, ``inProcess(yaml:registry:logger:scope:)``): the
///   ``Gateway`` actor in the test process, on this run's engine (``TestEngine``), for tests that reach into the
///   runtime — its pools, stick tables, counters and logs;
/// - ``process(config:arguments:launcher:name:directory:environment:scope:)``: the built `pacsgate run` as a child
///   of the test, for what only the executable does — the command line, signals, exit status, systemd's
///   notifications, limits and namespaces set from outside. (``detachedProcess(config:log:)`` is the same
///   command for suites that stop their gateways gracefully, outside a ``TestScope``.)
package enum GatewayUnderTest {
    /// A gateway started in this process, and its audit log (started first, shut down last).
    package struct InProcess: Sendable {
        package let gateway: Gateway
        package let audit: AuditLog

        /// Shuts the gateway down (2 s grace), then the audit log.
        package func stop() async {
            await self.gateway.shutdown(grace: .seconds(2))
            await self.audit.shutdown()
        }
    }

    /// Starts `configuration` in this process: its audit log first, then the gateway. With `loopback` every
    /// service listens on 127.0.0.1 and a free port whatever its `listen:` says. With a `scope` both are shut down
    /// when it ends; without one the caller calls ``InProcess/stop()``.
    package static func inProcess(
        _ configuration: GatewayConfiguration,
        loopback: Bool = false,
        logger: Logger,
        scope: TestScope? = nil
    ) async throws -> InProcess {
        var configuration = configuration
        if loopback {
            for index in configuration.services.indices {
                configuration.services[index].listen = Endpoint(host: "127.0.0.1", port: 0)
            }
        }
        let audit = AuditLog(configuration: configuration.audit, logger: logger)
        try audit.start()
        let started = InProcess(
            gateway: TestEngine.gateway(configuration: configuration, audit: audit, logger: logger), audit: audit)
        do {
            try await started.gateway.start()
        } catch {
            await audit.shutdown()
            throw error
        }
        await scope?.onCleanup { await started.stop() }
        return started
    }

    /// Loads `yaml` with `registry` and starts it in this process with every service on 127.0.0.1 and a free port
    /// (``inProcess(_:loopback:logger:scope:)``), shut down when `scope` ends. A configuration the loader refuses is
    /// recorded as an issue of the calling test and thrown.
    package static func inProcess(
        yaml: String,
        registry: ProtocolRegistry,
        logger: Logger,
        scope: TestScope
    ) async throws -> InProcess {
        switch ConfigurationLoader(registry: registry).load(yaml: yaml) {
        case .success(let (configuration, _)):
            return try await Self.inProcess(configuration, loopback: true, logger: logger, scope: scope)
        case .failure(let errors):
            Issue.record("configuration refused:\n\(errors.formatted(file: "test.yaml"))")
            throw errors
        }
    }

    /// Starts `pacsgate run --config CONFIG` and `arguments` as a child of the test (``ChildProcess``: its output in
    /// `<directory>/<name>.log`, killed when `scope` ends). `launcher` runs it under another program, e.g.
    /// `["/usr/bin/prlimit", "--nofile=64:64"]` or `["/usr/sbin/ip", "netns", "exec", NAME]`.
    package static func process(
        config: String,
        arguments: [String] = [],
        launcher: [String] = [],
        name: String = "pacsgate",
        directory: String? = nil,
        environment: [String: String]? = nil,
        scope: TestScope
    ) async throws -> ChildProcess {
        let executable = try Self.executable
        let command = launcher + [executable, "run", "--config", config] + arguments
        return try await ChildProcess.start(
            command[0], Array(command.dropFirst()), name: name, directory: directory ?? scope.directory,
            environment: environment, scope: scope)
    }

    /// `pacsgate run --config CONFIG` as a bare `Process` that the caller stops (`terminate()` sends SIGTERM), its
    /// standard error in the file `log`, its standard output discarded.
    package static func detachedProcess(config: String, log: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.executable)
        process.arguments = ["run", "--config", config]
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = handle
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        try? handle.close()
        return process
    }

    /// The built `pacsgate` executable: `PACSGATE_BIN` when set (scripts/test.sh sets it), else the one beside the
    /// test bundle (the same build directory), else this checkout's `.build/debug/pacsgate`. A missing executable is
    /// recorded as an issue of the calling test and thrown.
    package static var executable: String {
        get throws {
            var candidates: [String] = []
            if let path = ProcessInfo.processInfo.environment["PACSGATE_BIN"], !path.isEmpty {
                candidates = [path]
            } else {
                var directory = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").deletingLastPathComponent()
                for _ in 0..<4 {
                    candidates.append(directory.appendingPathComponent("pacsgate").path)
                    directory = directory.deletingLastPathComponent()
                }
                for bundle in Bundle.allBundles {
                    candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("pacsgate").path)
                }
                let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                    .deletingLastPathComponent()
                candidates.append(repository.appendingPathComponent(".build/debug/pacsgate").path)
            }
            for candidate in candidates {
                var isDirectory: ObjCBool = false
                if FileManager.default.isExecutableFile(atPath: candidate),
                    FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue
                {
                    return candidate
                }
            }
            let message =
                "pacsgate executable not found (tried \(candidates.joined(separator: ", "))): run `swift build` first or set PACSGATE_BIN (scripts/test.sh does)"
            Issue.record(Comment(rawValue: message))
            throw Peers.Missing(description: message)
        }
    }
}

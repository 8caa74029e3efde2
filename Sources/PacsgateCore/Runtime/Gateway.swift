public import Logging
public import NIOCore

/// The running gateway: one listener and one ``ServiceRuntime`` per configured service, plus their health checks.
///
/// Control-plane operations (start, reload, server state changes, shutdown) go through this actor; the data path
/// never touches it.
public actor Gateway {
    private struct RunningService {
        let runtime: ServiceRuntime
        var configuration: ServiceConfiguration
        var listener: any Channel
        var healthTask: Task<Void, Never>?
    }

    public nonisolated let group: any EventLoopGroup
    public nonisolated let audit: AuditLog
    private let logger: Logger
    private let connector: any BackendConnector
    private var running: [String: RunningService] = [:]
    private var order: [String] = []
    private var retired: [ServiceRuntime] = []
    public private(set) var configuration: GatewayConfiguration
    private var started = false

    public init(
        configuration: GatewayConfiguration, group: any EventLoopGroup, audit: AuditLog, logger: Logger,
        connector: any BackendConnector = SocketBackendConnector()
    ) {
        self.configuration = configuration
        self.group = group
        self.audit = audit
        self.logger = logger
        self.connector = connector
    }

    /// Binds every service and starts health checks. Throws (with nothing left bound) if any listener fails.
    public func start() async throws {
        precondition(!self.started, "Gateway.start called twice")
        var bound: [RunningService] = []
        do {
            for service in self.configuration.services {
                let runtime = ServiceRuntime(configuration: service, audit: self.audit, logger: self.logger, connector: self.connector)
                let listener = try await Listener.bind(runtime, at: service.listen, group: self.group)
                bound.append(RunningService(runtime: runtime, configuration: service, listener: listener))
            }
        } catch {
            for service in bound { try? await service.listener.close() }
            throw ListenError(underlying: error, bound: bound.map(\.configuration.label))
        }
        for var service in bound {
            service.healthTask = self.startHealthChecks(service.runtime, service.configuration)
            self.running[service.configuration.label] = service
            self.order.append(service.configuration.label)
            self.logger.notice(
                "service listening",
                metadata: [
                    "service": "\(service.configuration.label)",
                    "listen": "\(service.listener.localAddress?.logDescription ?? service.configuration.listen.description)",
                    "protocol": "\(service.configuration.protocolName)",
                    "servers": "\(service.configuration.servers.map(\.label).joined(separator: ","))",
                ])
        }
        self.started = true
    }

    /// A listener could not be bound.
    public struct ListenError: Error, CustomStringConvertible {
        public var underlying: any Error
        public var bound: [String]
        public var description: String { "cannot listen: \(underlying)" }
    }

    // MARK: reload

    /// What a reload changed.
    public struct ReloadReport: Sendable, CustomStringConvertible {
        public var added: [String] = []
        public var removed: [String] = []
        public var changed: [String] = []
        public var description: String {
            "added: \(added.isEmpty ? "-" : added.joined(separator: ",")); removed: \(removed.isEmpty ? "-" : removed.joined(separator: ",")); changed: \(changed.isEmpty ? "-" : changed.joined(separator: ","))"
        }
    }

    /// Applies a new configuration without dropping a connection: new services start listening, removed ones stop
    /// accepting and let their connections finish, changed servers and weights apply to new connections, existing
    /// connections keep their server, persistence entries survive. If a new listener cannot be bound nothing
    /// changes and the error is thrown.
    ///
    /// - Parameter beforeCommit: called with what the reload will change once the new listeners are bound and before
    ///   anything changes (the admin writes its audit record here); if it throws, nothing changes and its error is
    ///   thrown.
    @discardableResult
    public func apply(
        _ new: GatewayConfiguration, beforeCommit: @Sendable (ReloadReport) async throws -> Void = { _ in }
    ) async throws -> ReloadReport {
        var report = ReloadReport()
        var newListeners: [String: (any Channel, ServiceRuntime?)] = [:]
        do {
            for service in new.services {
                if let existing = self.running[service.label] {
                    if existing.configuration.listen != service.listen {
                        let listener = try await Listener.bind(existing.runtime, at: service.listen, group: self.group)
                        newListeners[service.label] = (listener, nil)
                    }
                } else {
                    let runtime = ServiceRuntime(configuration: service, audit: self.audit, logger: self.logger, connector: self.connector)
                    let listener = try await Listener.bind(runtime, at: service.listen, group: self.group)
                    newListeners[service.label] = (listener, runtime)
                }
            }
            let newLabels = Set(new.services.map(\.label))
            try await beforeCommit(
                ReloadReport(
                    added: new.services.map(\.label).filter { self.running[$0] == nil },
                    removed: self.order.filter { !newLabels.contains($0) },
                    changed: new.services.map(\.label).filter { self.running[$0] != nil }))
        } catch {
            for (listener, _) in newListeners.values { try? await listener.close() }
            throw error
        }

        let newLabels = Set(new.services.map(\.label))
        for label in self.order where !newLabels.contains(label) {
            guard let service = self.running.removeValue(forKey: label) else { continue }
            service.healthTask?.cancel()
            try? await service.listener.close()
            self.retired.append(service.runtime)
            report.removed.append(label)
            self.logger.notice("service removed; open connections continue", metadata: ["service": "\(label)"])
        }
        for service in new.services {
            if var existing = self.running[service.label] {
                existing.runtime.update(service)
                if let (listener, _) = newListeners[service.label] {
                    try? await existing.listener.close()
                    existing.listener = listener
                }
                existing.healthTask?.cancel()
                existing.healthTask = self.startHealthChecks(existing.runtime, service)
                existing.configuration = service
                self.running[service.label] = existing
                report.changed.append(service.label)
            } else if let (listener, runtime) = newListeners[service.label], let runtime {
                let task = self.startHealthChecks(runtime, service)
                self.running[service.label] = RunningService(
                    runtime: runtime, configuration: service, listener: listener, healthTask: task)
                report.added.append(service.label)
                self.logger.notice("service added", metadata: ["service": "\(service.label)", "listen": "\(service.listen)"])
            }
        }
        self.order = new.services.map(\.label)
        self.configuration = new
        self.retired.removeAll { $0.connections.count == 0 }
        return report
    }

    // MARK: runtime control

    /// Errors of the runtime control API.
    public enum ControlError: Error, Equatable, CustomStringConvertible {
        case unknownService(String)
        case unknownServer(service: String, server: String)
        case badWeight(Int)

        public var description: String {
            switch self {
            case .unknownService(let name): return "no service '\(name)'"
            case .unknownServer(let service, let server): return "service '\(service)' has no server '\(server)'"
            case .badWeight(let weight): return "weight \(weight) out of range (0-1000000)"
            }
        }
    }

    /// Sets a server to `online`, `drain` or `halt`; returns the previous state.
    @discardableResult
    public func setServerState(service: String, server: String, to state: ServerAdminState) throws(ControlError) -> ServerAdminState {
        guard let runtime = self.running[service]?.runtime else { throw .unknownService(service) }
        guard let previous = runtime.pool.setAdminState(server, state) else {
            throw .unknownServer(service: service, server: server)
        }
        if previous != state {
            self.logger.notice(
                "server state changed", metadata: ["service": "\(service)", "server": "\(server)", "from": "\(previous.rawValue)", "to": "\(state.rawValue)"])
        }
        HealthMonitor.logBackupTier(runtime.pool, logger: runtime.logger)
        return previous
    }

    /// Sets a server's weight; returns the previous one.
    @discardableResult
    public func setWeight(service: String, server: String, to weight: Int) throws(ControlError) -> Int {
        guard (0...1_000_000).contains(weight) else { throw .badWeight(weight) }
        guard let runtime = self.running[service]?.runtime else { throw .unknownService(service) }
        guard let previous = runtime.pool.setWeight(server, weight) else {
            throw .unknownServer(service: service, server: server)
        }
        self.logger.notice(
            "server weight changed", metadata: ["service": "\(service)", "server": "\(server)", "from": "\(previous)", "to": "\(weight)"])
        HealthMonitor.logBackupTier(runtime.pool, logger: runtime.logger)
        return previous
    }

    /// The running services in configuration order.
    public var services: [ServiceRuntime] { self.order.compactMap { self.running[$0]?.runtime } }

    /// The runtime of one service.
    public func service(_ label: String) -> ServiceRuntime? { self.running[label]?.runtime }

    /// The address a service actually listens on (useful with port 0 in tests).
    public func listenAddress(of label: String) -> SocketAddress? { self.running[label]?.listener.localAddress }

    /// Connections open on every service, including services removed by a reload.
    public var openConnections: Int {
        self.services.reduce(0) { $0 + $1.connections.count } + self.retired.reduce(0) { $0 + $1.connections.count }
    }

    // MARK: shutdown

    /// Stops accepting, lets open connections finish within `grace`, then ends the rest (with protocol last words).
    public func shutdown(grace: Duration) async {
        for service in self.running.values {
            service.healthTask?.cancel()
            try? await service.listener.close()
        }
        let all = self.running.values.map(\.runtime) + self.retired
        let open = all.reduce(0) { $0 + $1.connections.count }
        if open > 0 {
            self.logger.notice("stopped accepting; waiting for open connections", metadata: ["connections": "\(open)", "grace": "\(grace)"])
        }
        var finished = true
        for runtime in all {
            finished = await runtime.connections.waitUntilEmpty(timeout: grace) && finished
        }
        if !finished {
            let left = all.reduce(0) { $0 + $1.connections.count }
            self.logger.warning("grace period over; closing remaining connections", metadata: ["connections": "\(left)"])
            for runtime in all { runtime.connections.closeAll(.shutdown) }
            for runtime in all { _ = await runtime.connections.waitUntilEmpty(timeout: .seconds(10)) }
        }
        self.running.removeAll()
        self.order.removeAll()
    }

    // MARK: health checks

    private func startHealthChecks(_ runtime: ServiceRuntime, _ service: ServiceConfiguration) -> Task<Void, Never>? {
        guard let check = service.healthCheck.check else { return nil }
        let settings = service.healthCheck
        let group = self.group
        let logger = runtime.logger
        return Task {
            await withTaskGroup(of: Void.self) { tasks in
                for server in service.servers {
                    tasks.addTask {
                        await HealthMonitor.run(
                            server: server, check: check, settings: settings, pool: runtime.pool, group: group,
                            logger: logger)
                    }
                }
            }
        }
    }
}

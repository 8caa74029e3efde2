public import Logging
public import NIOCore

/// The running gateway: one listener and one ``ServiceRuntime`` per configured service, plus their health checks.
///
/// Control-plane operations (start, reload, server state changes, shutdown) go through this actor; the data path
/// never touches it. Each service runs on the engine its `engine:` resolves to (``EngineChoice``): the NIO engine,
/// or the native engine when the gateway was given one (`PacsgateDataPlane`, Linux).
public actor Gateway {
    private struct RunningService {
        let runtime: ServiceRuntime
        var configuration: ServiceConfiguration
        var listener: any ServiceListener
        var engine: Engine
        var healthTask: Task<Void, Never>?
    }

    public nonisolated let group: any EventLoopGroup
    public nonisolated let audit: AuditLog
    private let logger: Logger
    private let connector: any BackendConnector
    private let nioEngine: NIOForwardingEngine
    private let nativeEngine: (any ForwardingEngine)?
    private var running: [String: RunningService] = [:]
    private var order: [String] = []
    private var retired: [ServiceRuntime] = []
    public private(set) var configuration: GatewayConfiguration
    private var started = false

    /// - Parameter nativeEngine: the native data plane (`PacsgateDataPlane.NativeEngine`); without it every service
    ///   runs on NIO and `engine: native` cannot start.
    public init(
        configuration: GatewayConfiguration, group: any EventLoopGroup, audit: AuditLog, logger: Logger,
        connector: any BackendConnector = SocketBackendConnector(), nativeEngine: (any ForwardingEngine)? = nil
    ) {
        self.configuration = configuration
        self.group = group
        self.audit = audit
        self.logger = logger
        self.connector = connector
        self.nioEngine = NIOForwardingEngine(group: group)
        self.nativeEngine = nativeEngine
    }

    /// Binds every service and starts health checks. Throws (with nothing left bound) if any listener fails.
    public func start() async throws {
        precondition(!self.started, "Gateway.start called twice")
        var bound: [RunningService] = []
        do {
            for service in self.configuration.services {
                let runtime = ServiceRuntime(configuration: service, audit: self.audit, logger: self.logger, connector: self.connector)
                let (listener, engine) = try await self.listen(runtime, service)
                bound.append(RunningService(runtime: runtime, configuration: service, listener: listener, engine: engine))
            }
        } catch {
            for service in bound { await service.listener.close() }
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
                    "engine": "\(service.engine.rawValue)",
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

    /// A service asked for an engine this gateway cannot run it on.
    public struct EngineUnavailable: Error, CustomStringConvertible {
        public var service: String
        public var description: String {
            "service '\(service)': the native engine is not available here (Linux builds only, and not for TLS "
                + "termination); use 'engine: auto' or 'engine: nio'"
        }
    }

    /// The engine `service` runs on.
    private func engine(for service: ServiceConfiguration) throws -> any ForwardingEngine {
        let resolved = service.engine.resolve(
            nativeAvailable: self.nativeEngine != nil, addsChannelHandlers: service.addsChannelHandlers)
        switch resolved {
        case .nio: return self.nioEngine
        case .native:
            guard let nativeEngine = self.nativeEngine else { throw EngineUnavailable(service: service.label) }
            return nativeEngine
        case nil: throw EngineUnavailable(service: service.label)
        }
    }

    /// Binds `service`'s listener on its engine and records the engine on the runtime.
    private func listen(
        _ runtime: ServiceRuntime, _ service: ServiceConfiguration
    ) async throws -> (any ServiceListener, Engine) {
        let engine = try self.engine(for: service)
        let listener = try await engine.listen(runtime, at: service.listen)
        runtime.engine = engine.kind
        return (listener, engine.kind)
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
    /// A service whose engine changes while its address does not is the exception: the two engines' sockets cannot
    /// share the address (the native engine's listeners use SO_REUSEPORT, NIO's does not), so its old listener
    /// closes before the new one binds, and a client connecting in that instant may be refused. Should the new
    /// engine fail to bind, the old one is bound again and the failure logged.
    ///
    /// - Parameter beforeCommit: called with what the reload will change once the new listeners are bound and before
    ///   anything changes (the admin writes its audit record here); if it throws, nothing changes and its error is
    ///   thrown.
    @discardableResult
    public func apply(
        _ new: GatewayConfiguration, beforeCommit: @Sendable (ReloadReport) async throws -> Void = { _ in }
    ) async throws -> ReloadReport {
        var report = ReloadReport()
        var newListeners: [String: (listener: any ServiceListener, engine: any ForwardingEngine, ServiceRuntime?)] = [:]
        var engineChanges: [String: any ForwardingEngine] = [:]
        do {
            for service in new.services {
                let engine = try self.engine(for: service)
                if let existing = self.running[service.label] {
                    if existing.configuration.listen != service.listen {
                        // A new address: bound before the old listener closes, so no client is refused meanwhile.
                        let listener = try await engine.listen(existing.runtime, at: service.listen)
                        newListeners[service.label] = (listener, engine, nil)
                    } else if existing.engine != engine.kind {
                        engineChanges[service.label] = engine
                    }
                } else {
                    let runtime = ServiceRuntime(configuration: service, audit: self.audit, logger: self.logger, connector: self.connector)
                    let listener = try await engine.listen(runtime, at: service.listen)
                    newListeners[service.label] = (listener, engine, runtime)
                }
            }
            let newLabels = Set(new.services.map(\.label))
            try await beforeCommit(
                ReloadReport(
                    added: new.services.map(\.label).filter { self.running[$0] == nil },
                    removed: self.order.filter { !newLabels.contains($0) },
                    changed: new.services.map(\.label).filter { self.running[$0] != nil }))
        } catch {
            for entry in newListeners.values { await entry.listener.close() }
            throw error
        }

        let newLabels = Set(new.services.map(\.label))
        for label in self.order where !newLabels.contains(label) {
            guard let service = self.running.removeValue(forKey: label) else { continue }
            service.healthTask?.cancel()
            await service.listener.close()
            self.retired.append(service.runtime)
            report.removed.append(label)
            self.logger.notice("service removed; open connections continue", metadata: ["service": "\(label)"])
        }
        for service in new.services {
            if var existing = self.running[service.label] {
                existing.runtime.update(service)
                if let replacement = newListeners[service.label] {
                    await existing.listener.close()
                    existing.listener = replacement.listener
                    existing.engine = replacement.engine.kind
                    existing.runtime.engine = replacement.engine.kind
                }
                if let engine = engineChanges[service.label] {
                    await self.changeEngine(of: &existing, to: engine, at: service.listen)
                }
                existing.healthTask?.cancel()
                existing.healthTask = self.startHealthChecks(existing.runtime, service)
                existing.configuration = service
                self.running[service.label] = existing
                report.changed.append(service.label)
            } else if let added = newListeners[service.label], let runtime = added.2 {
                let task = self.startHealthChecks(runtime, service)
                runtime.engine = added.engine.kind
                self.running[service.label] = RunningService(
                    runtime: runtime, configuration: service, listener: added.listener, engine: added.engine.kind,
                    healthTask: task)
                report.added.append(service.label)
                self.logger.notice("service added", metadata: ["service": "\(service.label)", "listen": "\(service.listen)"])
            }
        }
        self.order = new.services.map(\.label)
        self.configuration = new
        self.retired.removeAll { $0.connections.count == 0 }
        return report
    }

    /// Moves a service to another engine at the same address (see ``apply(_:)``).
    private func changeEngine(of service: inout RunningService, to engine: any ForwardingEngine, at endpoint: Endpoint) async {
        let label = service.configuration.label
        await service.listener.close()
        do {
            service.listener = try await engine.listen(service.runtime, at: endpoint)
            service.engine = engine.kind
            service.runtime.engine = engine.kind
            self.logger.notice("service moved to another engine", metadata: ["service": "\(label)", "engine": "\(engine.kind.rawValue)"])
        } catch {
            self.logger.error(
                "cannot listen on the new engine; keeping the old one",
                metadata: ["service": "\(label)", "engine": "\(engine.kind.rawValue)", "error": "\(error)"])
            let old: any ForwardingEngine = service.engine == .nio ? self.nioEngine : (self.nativeEngine ?? self.nioEngine)
            do {
                service.listener = try await old.listen(service.runtime, at: endpoint)
            } catch {
                self.logger.critical(
                    "service stopped listening: neither engine can bind its address",
                    metadata: ["service": "\(label)", "error": "\(error)"])
            }
        }
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

    /// Changes one server of a service, named by its label: its administrative state or its weight. Returns the
    /// value it replaced (of the same kind); logs the change when there is one.
    @discardableResult
    public func change(service: String, server: String, to change: ServerChange) throws(ControlError) -> ServerChange {
        if case .weight(let weight) = change, !ServerChange.weights.contains(weight) { throw .badWeight(weight) }
        guard let runtime = self.running[service]?.runtime else { throw .unknownService(service) }
        guard let previous = runtime.pool.apply(change, to: server) else {
            throw .unknownServer(service: service, server: server)
        }
        if previous != change {
            let what = if case .state = change { "server state changed" } else { "server weight changed" }
            self.logger.notice(
                "\(what)", metadata: ["service": "\(service)", "server": "\(server)", "from": "\(previous)", "to": "\(change)"])
        }
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
            await service.listener.close()
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

#if os(Linux)
import Atomics
import Glibc
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
public import PacsgateCore

/// pacsgate's own data plane for services that do not terminate TLS: one ``Reactor`` per CPU the process may use,
/// each with its own SO_REUSEPORT listener per service, epoll set, connection slots, buffer and pipe pools.
///
/// The gateway hands it the services whose `engine:` resolves to `native`; everything else about a service (server
/// pool, persistence, counters, audit log, inspectors) is the core's and behaves as on the NIO engine. Reactors run
/// until ``shutdown()``.
public final class NativeEngine: ForwardingEngine {
    public var kind: Engine { .native }

    let reactors: [Reactor]
    private let registries = NIOLockedValueBox<[ObjectIdentifier: RegistryEntry]>([:])

    /// A runtime's registry. The runtime is held weakly and compared on lookup: an identifier is only an address,
    /// and a new runtime (a reload, another gateway of the same process) can get the address of one that is gone.
    private struct RegistryEntry: Sendable {
        weak var runtime: ServiceRuntime?
        let registry: NativeServiceConnections
    }

    /// Starts `reactors` reactor threads (default: one per CPU the process may use).
    public init(reactors count: Int = EventLoopSizing.threadCount, logger: Logger) throws {
        // A write to a socket the peer reset must fail with EPIPE, not kill the process (HAProxy ignores it too).
        signal(SIGPIPE, SIG_IGN)
        var reactors: [Reactor] = []
        do {
            for index in 0..<max(1, count) {
                let reactor = try Reactor(index: index, logger: logger)
                try reactor.start(name: "pacsgate-rx-\(index)")
                reactors.append(reactor)
            }
        } catch {
            for reactor in reactors { reactor.stop() }
            throw error
        }
        self.reactors = reactors
    }

    private static let sharedEngine = NIOLockedValueBox<NativeEngine?>(nil)

    /// One engine for the whole process, started on first use and never stopped (tests, where many gateways come
    /// and go, as `MultiThreadedEventLoopGroup.singleton` is for NIO).
    public static func shared() throws -> NativeEngine {
        try Self.sharedEngine.withLockedValue { engine in
            if let engine { return engine }
            let started = try NativeEngine(logger: Logger(label: "pacsgate.native"))
            engine = started
            return started
        }
    }

    /// The reactors, as event loops (tests).
    public var eventLoops: [any EventLoop] { self.reactors }

    public func listen(_ runtime: ServiceRuntime, at endpoint: Endpoint) async throws -> any ServiceListener {
        let resolved: SocketAddress
        if let literal = endpoint.socketAddress {
            resolved = literal
        } else {
            resolved = try SocketAddress.makeAddressResolvingHost(endpoint.host, port: endpoint.port)
        }
        guard var address = PeerAddress(resolved) else {
            throw IOError(errnoCode: EAFNOSUPPORT, reason: "listen on \(endpoint)")
        }
        if address.port != 0 { try ListenSocket.probe(address) }
        var descriptors: [Int32] = []
        do {
            for _ in self.reactors {
                let descriptor = try ListenSocket.open(address)
                if address.port == 0, let bound = SystemCall.localAddress(descriptor) {
                    address = address.with(port: bound.port)  // the others join the port the system chose
                }
                descriptors.append(descriptor)
            }
        } catch {
            for descriptor in descriptors { SystemCall.close(descriptor) }
            throw error
        }
        let registry = self.registry(for: runtime)
        var added: [(Reactor, Int32)] = []
        for (reactor, descriptor) in zip(self.reactors, descriptors) {
            let error = await reactor.perform { state in
                state.add(ReactorListener(descriptor: descriptor, service: runtime, registry: registry))
            }
            if let error {
                for (reactor, descriptor) in added {
                    await reactor.perform { $0.removeListener(descriptor: descriptor) }
                }
                for descriptor in descriptors.dropFirst(added.count) { SystemCall.close(descriptor) }
                throw IOError(errnoCode: error.code, reason: "epoll_ctl for the listener")
            }
            added.append((reactor, descriptor))
        }
        return NativeServiceListener(listeners: added, localAddress: address.socketAddress)
    }

    /// The registry of `runtime`'s native connections, created and attached on first use.
    private func registry(for runtime: ServiceRuntime) -> NativeServiceConnections {
        let (registry, created) = self.registries.withLockedValue { registries in
            if let existing = registries[ObjectIdentifier(runtime)], existing.runtime === runtime {
                return (existing.registry, false)
            }
            registries = registries.filter { $0.value.runtime != nil }
            let registry = NativeServiceConnections(service: ObjectIdentifier(runtime), reactors: self.reactors)
            registries[ObjectIdentifier(runtime)] = RegistryEntry(runtime: runtime, registry: registry)
            return (registry, true)
        }
        if created { runtime.connections.attach(registry) }
        return registry
    }

    /// Stops every reactor: listeners close, open connections are ended (`gateway shutdown`) and their sockets
    /// closed. Call after the gateway has drained.
    public func shutdown() {
        for reactor in self.reactors { reactor.stop() }
    }
}

/// A service's listeners on the native engine, one per reactor.
struct NativeServiceListener: ServiceListener {
    let listeners: [(Reactor, Int32)]
    let localAddress: SocketAddress?

    func close() async {
        for (reactor, descriptor) in self.listeners {
            await reactor.perform { $0.removeListener(descriptor: descriptor) }
        }
    }
}

/// The native connections of one service, across the reactors: a counter for the registry, and the reactors to ask
/// when the gateway ends them all or sums what they buffer.
final class NativeServiceConnections: ConnectionSource {
    private let open = ManagedAtomic(0)
    private let service: ObjectIdentifier
    private let reactors: [Reactor]

    init(service: ObjectIdentifier, reactors: [Reactor]) {
        self.service = service
        self.reactors = reactors
    }

    func opened() { self.open.wrappingIncrement(ordering: .relaxed) }
    func closed() { self.open.wrappingDecrement(ordering: .relaxed) }

    var count: Int { self.open.load(ordering: .relaxed) }

    func bufferedBytes() async -> Int {
        var total = 0
        for reactor in self.reactors {
            total += await reactor.perform { state in
                var held = 0
                state.forEachConnection(of: self.service) { held += $0.heldBytes }
                return held
            }
        }
        return total
    }

    func closeAll(_ reason: CloseReason) {
        for reactor in self.reactors {
            reactor.execute {
                reactor.state.forEachConnection(of: self.service) { $0.terminate(reason) }
            }
        }
    }
}

extension Reactor {
    /// Runs `body` on the reactor's thread with its state and returns the result.
    func perform<T: Sendable>(_ body: @escaping @Sendable (ReactorState) -> T) async -> T {
        await withCheckedContinuation { continuation in
            self.execute { continuation.resume(returning: body(self.state)) }
        }
    }
}
#endif

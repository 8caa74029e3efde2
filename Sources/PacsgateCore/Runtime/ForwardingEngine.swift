public import NIOCore

/// A data plane: accepts a service's clients and forwards their connections.
///
/// The gateway picks one per service when it binds it (``EngineChoice``): the NIO engine
/// (``NIOForwardingEngine``, always available) or the native engine of `PacsgateDataPlane` (Linux). Both drive the
/// same ``ServiceRuntime`` — server pool, persistence, counters, connection registry, audit log — and the same
/// ``ConnectionInspector``s, so a service behaves alike on either.
public protocol ForwardingEngine: Sendable {
    /// Which engine this is.
    var kind: Engine { get }

    /// Starts accepting `runtime`'s clients on `endpoint`. Throws (with nothing left bound) when it cannot listen.
    func listen(_ runtime: ServiceRuntime, at endpoint: Endpoint) async throws -> any ServiceListener
}

/// A service's listening socket(s) on one engine.
public protocol ServiceListener: Sendable {
    /// The address it listens on (the port the system chose for port 0).
    var localAddress: SocketAddress? { get }

    /// Stops accepting. Connections already accepted go on.
    func close() async
}

/// The NIO engine: one `ServerBootstrap` listener per service, a ``ProxyConnection`` per client channel.
public struct NIOForwardingEngine: ForwardingEngine {
    public let group: any EventLoopGroup

    public init(group: any EventLoopGroup) {
        self.group = group
    }

    public var kind: Engine { .nio }

    public func listen(_ runtime: ServiceRuntime, at endpoint: Endpoint) async throws -> any ServiceListener {
        NIOServiceListener(channel: try await Listener.bind(runtime, at: endpoint, group: self.group))
    }
}

/// A NIO server channel.
struct NIOServiceListener: ServiceListener {
    let channel: any Channel

    var localAddress: SocketAddress? { self.channel.localAddress }

    func close() async {
        try? await self.channel.close()
    }
}

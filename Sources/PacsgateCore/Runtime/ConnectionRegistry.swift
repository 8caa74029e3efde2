import NIOConcurrencyHelpers
import NIOCore

/// The open client connections of a service, so shutdown and service removal can reach them.
///
/// The NIO engine registers each client channel here. The native engine keeps its connections in its reactors'
/// slots and registers one ``ConnectionSource`` per service instead (a counter and a way to reach the reactors), so a
/// native connection costs no lock or dictionary entry here — unless the service limits connections per client IP,
/// which both engines count here.
public final class ConnectionRegistry: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var serverLegs: [ObjectIdentifier: any Channel] = [:]
        var perClient: [StickKey: Int] = [:]
        var sources: [ObjectIdentifier: any ConnectionSource] = [:]
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Registers a client channel; returns how many connections that client IP now has.
    func add(_ channel: any Channel, client: StickKey?) -> Int {
        self.state.withLockedValue { state in
            state.channels[ObjectIdentifier(channel)] = channel
            return Self.count(client, in: &state)
        }
    }

    /// Unregisters a client channel.
    func remove(_ channel: any Channel, client: StickKey?) {
        self.state.withLockedValue { state in
            state.channels[ObjectIdentifier(channel)] = nil
            state.serverLegs[ObjectIdentifier(channel)] = nil
            Self.uncount(client, in: &state)
        }
    }

    /// Counts a connection of `client` (a native connection of a service with `maxconn_per_client`); returns how many
    /// that client IP now has.
    package func addClient(_ client: StickKey) -> Int {
        self.state.withLockedValue { Self.count(client, in: &$0) }
    }

    /// A connection counted by ``addClient(_:)`` ended.
    package func removeClient(_ client: StickKey) {
        self.state.withLockedValue { Self.uncount(client, in: &$0) }
    }

    private static func count(_ client: StickKey?, in state: inout State) -> Int {
        guard let client else { return 0 }
        state.perClient[client, default: 0] += 1
        return state.perClient[client] ?? 0
    }

    private static func uncount(_ client: StickKey?, in state: inout State) {
        if let client, let count = state.perClient[client] {
            state.perClient[client] = count > 1 ? count - 1 : nil
        }
    }

    /// Records the server leg of a registered client connection.
    func attachServer(_ server: any Channel, to client: any Channel) {
        self.state.withLockedValue { state in
            if state.channels[ObjectIdentifier(client)] != nil { state.serverLegs[ObjectIdentifier(client)] = server }
        }
    }

    /// Adds the connections another engine keeps for this service (once per source).
    package func attach(_ source: any ConnectionSource) {
        self.state.withLockedValue { $0.sources[ObjectIdentifier(source)] = source }
    }

    private var sources: [any ConnectionSource] { self.state.withLockedValue { Array($0.sources.values) } }

    /// Number of open connections.
    public var count: Int {
        let (channels, sources) = self.state.withLockedValue { ($0.channels.count, Array($0.sources.values)) }
        return sources.reduce(channels) { $0 + $1.count }
    }

    /// Returns when no connection is open or `timeout` has passed; `true` when empty.
    public func waitUntilEmpty(timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while self.count > 0 {
            if clock.now >= deadline || Task.isCancelled { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return true
    }

    /// Bytes queued for writing in the gateway on both legs of every open connection (backpressure check).
    public func bufferedBytes() async -> Int {
        let channels = self.state.withLockedValue { Array($0.channels.values) + Array($0.serverLegs.values) }
        var total = 0
        for channel in channels {
            total += (try? await channel.getOption(.bufferedWritableBytes).get()) ?? 0
        }
        for source in self.sources {
            total += await source.bufferedBytes()
        }
        return total
    }

    /// Asks every open connection to end for `reason` (the connection sends protocol last words first).
    public func closeAll(_ reason: CloseReason) {
        let channels = self.state.withLockedValue { Array($0.channels.values) }
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(GatewayCloseRequest(reason: reason))
        }
        for source in self.sources {
            source.closeAll(reason)
        }
    }
}

/// A request, sent through a connection's pipeline, to end the connection.
public struct GatewayCloseRequest: Sendable {
    public var reason: CloseReason
}

/// The connections of one service that an engine other than NIO keeps (the native engine's reactors).
package protocol ConnectionSource: AnyObject, Sendable {
    /// Connections open now (accepted and not yet released).
    var count: Int { get }
    /// Bytes held in the gateway for those connections, waiting to be written.
    func bufferedBytes() async -> Int
    /// Ends each of them as ``ConnectionRegistry/closeAll(_:)`` does.
    func closeAll(_ reason: CloseReason)
}

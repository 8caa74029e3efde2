import NIOConcurrencyHelpers
import NIOCore

/// The open client connections of a service, so shutdown and service removal can reach them.
public final class ConnectionRegistry: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var serverLegs: [ObjectIdentifier: any Channel] = [:]
        var perClient: [StickKey: Int] = [:]
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Registers a client channel; returns how many connections that client IP now has.
    func add(_ channel: any Channel, client: StickKey?) -> Int {
        self.state.withLockedValue { state in
            state.channels[ObjectIdentifier(channel)] = channel
            guard let client else { return 0 }
            state.perClient[client, default: 0] += 1
            return state.perClient[client] ?? 0
        }
    }

    /// Unregisters a client channel.
    func remove(_ channel: any Channel, client: StickKey?) {
        self.state.withLockedValue { state in
            state.channels[ObjectIdentifier(channel)] = nil
            state.serverLegs[ObjectIdentifier(channel)] = nil
            if let client, let count = state.perClient[client] {
                state.perClient[client] = count > 1 ? count - 1 : nil
            }
        }
    }

    /// Records the server leg of a registered client connection.
    func attachServer(_ server: any Channel, to client: any Channel) {
        self.state.withLockedValue { state in
            if state.channels[ObjectIdentifier(client)] != nil { state.serverLegs[ObjectIdentifier(client)] = server }
        }
    }

    /// Number of open connections.
    public var count: Int { self.state.withLockedValue { $0.channels.count } }

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
        return total
    }

    /// Asks every open connection to end for `reason` (the connection sends protocol last words first).
    public func closeAll(_ reason: CloseReason) {
        let channels = self.state.withLockedValue { Array($0.channels.values) }
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(GatewayCloseRequest(reason: reason))
        }
    }
}

/// A request, sent through a connection's pipeline, to end the connection.
public struct GatewayCloseRequest: Sendable {
    public var reason: CloseReason
}

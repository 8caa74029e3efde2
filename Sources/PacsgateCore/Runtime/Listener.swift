import Glibc
import NIOCore
import NIOPosix

/// Binds a service's listening socket. Every accepted connection gets a ``ProxyConnection`` bound to the service
/// configuration current at that moment.
enum Listener {
    static func bind(_ runtime: ServiceRuntime, at endpoint: Endpoint, group: any EventLoopGroup) async throws -> any Channel {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Lets a unit of an HA pair bind a virtual IP it does not hold yet (keepalived moves it later).
            .serverChannelOption(
                ChannelOptions.Types.SocketOption(level: .init(rawValue: Int32(IPPROTO_IP)), name: .init(rawValue: IP_FREEBIND)),
                value: 1)
            // Accept up to 16 connections per wake-up (NIO's default is 4): fewer epoll_wait calls under bursts.
            .serverChannelOption(.maxMessagesPerRead, value: 16)
            // TCP_NODELAY (set on the listener by ServerBootstrap) and the keepalive settings below are inherited by
            // every accepted socket on Linux, so the client leg needs no setsockopt of its own (five system calls
            // per connection fewer than setting them on each child).
            .serverChannelOption(.socketOption(.so_keepalive), value: 1)
            .serverChannelOption(KeepaliveTuning.idle, value: KeepaliveTuning.idleSeconds)
            .serverChannelOption(KeepaliveTuning.interval, value: KeepaliveTuning.intervalSeconds)
            .serverChannelOption(KeepaliveTuning.count, value: KeepaliveTuning.probes)
            // The child options are set synchronously in the initializer (before registration): `childChannelOption`
            // applies them through a chain of futures per accepted connection.
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
                    try ForwardingDefaults.applyLegOptions(options)
                    try channel.pipeline.syncOperations.addHandler(
                        ProxyConnection(service: runtime, snapshot: runtime.snapshot))
                }
            }
        let address: SocketAddress
        if let literal = endpoint.socketAddress {
            address = literal
        } else {
            address = try SocketAddress.makeAddressResolvingHost(endpoint.host, port: endpoint.port)
        }
        return try await bootstrap.bind(to: address).get()
    }
}

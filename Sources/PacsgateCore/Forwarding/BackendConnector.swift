public import NIOCore
import NIOPosix
import Glibc

/// Opens the server leg of a proxied connection. The production connector uses `ClientBootstrap` on the client
/// connection's own event loop; tests substitute embedded channels.
public protocol BackendConnector: Sendable {
    /// Connects to `endpoint` on `eventLoop` with `handler` as the only handler of the new channel.
    func connect(
        to endpoint: Endpoint, on eventLoop: any EventLoop, timeout: TimeAmount,
        handler: NIOLoopBound<BackendHandler>
    ) -> EventLoopFuture<any Channel>
}

/// Connects with `ClientBootstrap`: TCP_NODELAY, keepalive, remote half-close allowed, an ephemeral source port
/// (source NAT — the server sees the gateway's address).
public struct SocketBackendConnector: BackendConnector {
    public init() {}

    public func connect(
        to endpoint: Endpoint, on eventLoop: any EventLoop, timeout: TimeAmount,
        handler: NIOLoopBound<BackendHandler>
    ) -> EventLoopFuture<any Channel> {
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.recvAllocator, value: ForwardingDefaults.receiveAllocator)
            .channelOption(.writeBufferWaterMark, value: ForwardingDefaults.waterMark)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(handler.value)
                    KeepaliveTuning.apply(to: channel)
                }
            }
        if let address = endpoint.socketAddress {
            return bootstrap.connect(to: address)
        }
        return bootstrap.connect(host: endpoint.host, port: endpoint.port)
    }
}

/// Socket settings shared by both legs.
enum ForwardingDefaults {
    /// Reads start small and grow to 256 KiB for bulk transfers (DICOM C-STORE), shrinking again when idle.
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 512, initial: 16 * 1024, maximum: 256 * 1024)
    /// Outbound buffering per leg before the other leg stops reading (backpressure).
    static let waterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 128 * 1024, high: 512 * 1024)
}

/// TCP keepalive so a vanished peer (a powered-off modality) is noticed within about two minutes instead of two
/// hours, and no association slot is pinned on the PACS by a dead client.
enum KeepaliveTuning {
    static func apply(to channel: any Channel) {
        guard let options = channel.syncOptions else { return }
        let tcp = NIOBSDSocket.OptionLevel.tcp
        try? options.setOption(.socketOption(.so_keepalive), value: 1)
        try? options.setOption(ChannelOptions.Types.SocketOption(level: tcp, name: .init(rawValue: TCP_KEEPIDLE)), value: 60)
        try? options.setOption(ChannelOptions.Types.SocketOption(level: tcp, name: .init(rawValue: TCP_KEEPINTVL)), value: 10)
        try? options.setOption(ChannelOptions.Types.SocketOption(level: tcp, name: .init(rawValue: TCP_KEEPCNT)), value: 6)
    }
}

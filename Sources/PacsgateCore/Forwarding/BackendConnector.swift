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

    /// Connects to `endpoint` from `source` (`source:` or, with `transparent:`, the client's own address; `nil`:
    /// the kernel's choice).
    func connect(
        to endpoint: Endpoint, from source: ServerLegSource?, on eventLoop: any EventLoop, timeout: TimeAmount,
        handler: NIOLoopBound<BackendHandler>
    ) -> EventLoopFuture<any Channel>
}

extension BackendConnector {
    /// Connectors that cannot choose the local address (the tests' substitutes) ignore `source`.
    public func connect(
        to endpoint: Endpoint, from source: ServerLegSource?, on eventLoop: any EventLoop, timeout: TimeAmount,
        handler: NIOLoopBound<BackendHandler>
    ) -> EventLoopFuture<any Channel> {
        self.connect(to: endpoint, on: eventLoop, timeout: timeout, handler: handler)
    }
}

/// The local address a server leg binds before it connects.
public struct ServerLegSource: Sendable {
    /// The address (and, when transparent, the client's port).
    public var address: SocketAddress
    /// Bound with IP_TRANSPARENT: the address is the client's own, not this host's (`transparent: true`).
    public var transparent: Bool

    public init(address: SocketAddress, transparent: Bool) {
        self.address = address
        self.transparent = transparent
    }
}

/// Connects with `ClientBootstrap`: TCP_NODELAY (`ClientBootstrap`'s default), keepalive, remote half-close allowed,
/// an ephemeral source port (source NAT — the server sees the gateway's address).
public struct SocketBackendConnector: BackendConnector {
    public init() {}

    public func connect(
        to endpoint: Endpoint, on eventLoop: any EventLoop, timeout: TimeAmount,
        handler: NIOLoopBound<BackendHandler>
    ) -> EventLoopFuture<any Channel> {
        self.connect(to: endpoint, from: nil, on: eventLoop, timeout: timeout, handler: handler)
    }

    /// With a `source`: IP_FREEBIND (an HA unit binds the VIP before it holds it) and IP_BIND_ADDRESS_NO_PORT (the
    /// port is chosen at connect time for the whole 4-tuple, as HAProxy does, so one source address serves up to
    /// the ephemeral range *per server* rather than in all), then bind, then connect. A transparent source (the
    /// client's address and port) is bound with IP_TRANSPARENT instead.
    public func connect(
        to endpoint: Endpoint, from source: ServerLegSource?, on eventLoop: any EventLoop, timeout: TimeAmount,
        handler: NIOLoopBound<BackendHandler>
    ) -> EventLoopFuture<any Channel> {
        // The options are set synchronously in the initializer rather than with `.channelOption`: the bootstrap
        // applies those one at a time through a chain of futures, which cost about 7 % of the gateway's CPU per
        // association (docs/benchmarks.md); the initializer runs on the event loop before the channel is registered,
        // so the effect is the same.
        let plain = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try ForwardingDefaults.applyServerLegOptions(channel)
                    try channel.pipeline.syncOperations.addHandler(handler.value)
                }
            }
        guard let source else {
            return endpoint.socketAddress.map { plain.connect(to: $0) } ?? plain.connect(host: endpoint.host, port: endpoint.port)
        }
        // The bootstrap binds before it runs the initializer: the options that decide whether the bind may take this
        // address (and its port) go in as bootstrap options, which are applied before the bind.
        let bootstrap = source.transparent
            ? plain.channelOption(SourceBinding.transparent(for: source.address), value: 1)
            : plain.channelOption(SourceBinding.freebind, value: 1).channelOption(SourceBinding.bindAddressNoPort, value: 1)
        let bound = bootstrap.bind(to: source.address)
        return endpoint.socketAddress.map { bound.connect(to: $0) } ?? bound.connect(host: endpoint.host, port: endpoint.port)
    }
}

/// The socket options of a server leg with a `source:` address.
package enum SourceBinding {
    static let freebind = ChannelOptions.Types.SocketOption(level: .ip, name: .init(rawValue: IP_FREEBIND))
    /// `IP_BIND_ADDRESS_NO_PORT` (Linux 4.2; Glibc's headers lack the constant).
    package static let bindAddressNoPortOption: Int32 = 24
    static let bindAddressNoPort = ChannelOptions.Types.SocketOption(
        level: .ip, name: .init(rawValue: SourceBinding.bindAddressNoPortOption))
    /// `IP_TRANSPARENT` and `IPV6_TRANSPARENT` (Glibc's module lacks the IPv6 one): bind an address this host does
    /// not have. Needs CAP_NET_ADMIN.
    package static let ipTransparentOption: Int32 = 19
    package static let ipv6TransparentOption: Int32 = 75

    /// The (level, name) of the transparent option for `address`'s family.
    package static func transparentOption(for address: SocketAddress) -> (level: Int32, name: Int32) {
        address.protocol == .inet6 ? (Int32(IPPROTO_IPV6), Self.ipv6TransparentOption) : (Int32(IPPROTO_IP), Self.ipTransparentOption)
    }

    static func transparent(for address: SocketAddress) -> ChannelOptions.Types.SocketOption {
        let option = Self.transparentOption(for: address)
        return ChannelOptions.Types.SocketOption(level: .init(rawValue: option.level), name: .init(rawValue: option.name))
    }

    /// A connect from a `source:` address that failed for want of a free source port, in an operator's words
    /// (`EADDRNOTAVAIL` at connect, `EADDRINUSE` at bind); `nil` for any other error.
    package static func exhaustion(errno code: Int32, source: String) -> String? {
        guard code == EADDRNOTAVAIL || code == EADDRINUSE else { return nil }
        return "no free source port on \(source) towards this server (source-port exhaustion, errno \(code)): "
            + "add source addresses or servers, or widen net.ipv4.ip_local_port_range"
    }
}

/// Socket settings shared by both legs.
enum ForwardingDefaults {
    /// Reads start at 2 KiB (a DICOM A-ASSOCIATE-RQ, an HL7 message, a TLS ClientHello) and double on every full
    /// read up to 256 KiB for bulk transfers (DICOM C-STORE), shrinking again when reads get small.
    ///
    /// NIO keeps the last receive buffer of every channel for reuse, so the initial size is what an idle connection
    /// holds per leg after its first exchange: 16 KiB initially measured 37 KiB of RSS per idle proxied connection
    /// (NIO also copies the fresh buffer once on its first read), 2 KiB measures about 9 KiB (docs/benchmarks.md).
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 256, initial: 2048, maximum: 256 * 1024)
    /// Outbound buffering per leg before the other leg stops reading (backpressure).
    static let waterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 128 * 1024, high: 512 * 1024)

    /// Options of both legs that are not socket options: half-close, read sizes, backpressure marks.
    static func applyLegOptions(_ options: some NIOSynchronousChannelOptions) throws {
        try options.setOption(.allowRemoteHalfClosure, value: true)
        try options.setOption(.recvAllocator, value: Self.receiveAllocator)
        try options.setOption(.writeBufferWaterMark, value: Self.waterMark)
    }

    /// The server leg's options: those of both legs plus keepalive (the client leg inherits keepalive from the
    /// listener; `ClientBootstrap` sets TCP_NODELAY itself).
    static func applyServerLegOptions(_ channel: any Channel) throws {
        guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
        try options.setOption(.socketOption(.so_keepalive), value: 1)
        try options.setOption(KeepaliveTuning.idle, value: KeepaliveTuning.idleSeconds)
        try options.setOption(KeepaliveTuning.interval, value: KeepaliveTuning.intervalSeconds)
        try options.setOption(KeepaliveTuning.count, value: KeepaliveTuning.probes)
        try Self.applyLegOptions(options)
    }
}

/// TCP keepalive so a vanished peer (a powered-off modality) is noticed within about two minutes instead of two
/// hours, and no association slot is pinned on the PACS by a dead client. Set on the listener (accepted sockets
/// inherit it) and on every server leg.
package enum KeepaliveTuning {
    static let idle = ChannelOptions.Types.SocketOption(level: .tcp, name: .init(rawValue: TCP_KEEPIDLE))
    static let interval = ChannelOptions.Types.SocketOption(level: .tcp, name: .init(rawValue: TCP_KEEPINTVL))
    static let count = ChannelOptions.Types.SocketOption(level: .tcp, name: .init(rawValue: TCP_KEEPCNT))
    package static let idleSeconds: SocketOptionValue = 60
    package static let intervalSeconds: SocketOptionValue = 10
    package static let probes: SocketOptionValue = 6
}

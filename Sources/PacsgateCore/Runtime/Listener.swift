import Glibc
import Logging
import NIOCore
import NIOPosix

/// Binds a service's listening socket. Every accepted connection gets a ``ClientLegHandler`` (and with it a
/// ``ProxyConnection``) bound to the service configuration current at that moment.
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
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ListenerGate(runtime))
                }
            }
            // The child options are set synchronously in the initializer (before registration): `childChannelOption`
            // applies them through a chain of futures per accepted connection.
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
                    try ForwardingDefaults.applyLegOptions(options)
                    let snapshot = runtime.snapshot
                    if !snapshot.configuration.acceptProxy.isEmpty {
                        try channel.pipeline.syncOperations.addHandler(
                            ProxyHeaderReceiver(service: runtime, snapshot: snapshot))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        ClientLegHandler(service: runtime, snapshot: snapshot))
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

/// Pauses a listener's accepting — by turning the server channel's `autoRead` off, which takes its socket out of
/// `epoll` — for two reasons, and resumes once neither holds:
///
/// - `accept` failed for want of resources (EMFILE, ENFILE: out of file descriptors; ENOBUFS, ENOMEM): pause for
///   ``backoff``. The waiting connections keep the listening socket readable, so retrying at once would spin a core
///   and starve every connection on the loop; waiting clients stay in the listen backlog (1024) and are accepted once
///   descriptors are free. (NIO's `AcceptBackoffHandler` cannot do this when the first `accept` of a wake-up fails:
///   the channel then never asks for another read for it to delay, and stays registered for readable.)
/// - The audit log is not accepting (``AuditLog/isAccepting``): a new connection would make records the log cannot
///   take yet; resume when it calls back.
///
/// One warning a minute says that accepts are failing.
final class ListenerGate: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    static let backoff: TimeAmount = .seconds(1)
    static let warningInterval: TimeAmount = .seconds(60)

    private let audit: AuditLog
    private let logger: Logger
    private var backingOff = false
    private var waitingForAudit = false
    private var lastWarning: NIODeadline?
    private var failuresSinceWarning = 0

    init(_ runtime: ServiceRuntime) {
        self.audit = runtime.audit
        self.logger = runtime.logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !self.waitingForAudit, !self.audit.isAccepting {
            self.waitingForAudit = true
            self.update(context)
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let eventLoop = context.eventLoop
            self.audit.whenAccepting {
                eventLoop.execute {
                    let (gate, context) = bound.value
                    gate.waitingForAudit = false
                    gate.update(context)
                }
            }
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? IOError, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode) else {
            context.fireErrorCaught(error)
            return
        }
        self.failuresSinceWarning += 1
        self.warn(error)
        guard !self.backingOff else { return }
        self.backingOff = true
        self.update(context)
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.backoff) {
            self.backingOff = false
            self.update(context)
        }
    }

    /// Accepts while nothing holds it back.
    private func update(_ context: ChannelHandlerContext) {
        guard context.channel.isActive, let options = context.channel.syncOptions else { return }
        try? options.setOption(.autoRead, value: !self.backingOff && !self.waitingForAudit)
    }

    private func warn(_ error: IOError) {
        let now = NIODeadline.now()
        if let last = self.lastWarning, now - last < Self.warningInterval { return }
        let hint =
            error.errnoCode == EMFILE || error.errnoCode == ENFILE
            ? "out of file descriptors: raise the limit (LimitNOFILE=, ulimit -n) or lower maxconn" : "the kernel is short of memory"
        self.logger.warning(
            "cannot accept connections; pausing accept for 1 s (waiting clients stay in the listen backlog)",
            metadata: ["error": "\(error)", "hint": "\(hint)", "accept.failures": "\(self.failuresSinceWarning)"])
        self.lastWarning = now
        self.failuresSinceWarning = 0
    }
}

@available(*, unavailable)
extension ListenerGate: Sendable {}

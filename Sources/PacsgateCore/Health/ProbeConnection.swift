public import NIOCore
import NIOPosix

/// A protocol conversation for a health check, as a pure state machine (a DICOM C-ECHO, an MLLP test message).
///
/// ``ProbeConnection`` runs it over a real connection: it sends what ``start()`` returns, feeds every byte the
/// server sends to ``receive(_:)``, and stops at the first ``ProbeStep/done(_:)``, timeout or close.
public protocol HealthProbe: Sendable {
    /// Called once connected.
    mutating func start() -> ProbeStep
    /// Bytes from the server (accumulated: what the probe leaves unread is offered again with the next bytes).
    mutating func receive(_ data: inout ByteBuffer) -> ProbeStep
    /// The server closed the connection before the probe was done.
    mutating func serverClosed() -> HealthCheckResult
}

extension HealthProbe {
    public mutating func serverClosed() -> HealthCheckResult { .failure("server closed the connection") }
}

/// What a probe wants next.
public enum ProbeStep {
    /// Send these bytes and keep listening.
    case send(ByteBuffer)
    /// Send these bytes, then finish with the result once they are written.
    case sendAndFinish(ByteBuffer, HealthCheckResult)
    /// Keep listening.
    case needMore
    /// Finished.
    case done(HealthCheckResult)
}

/// Runs a ``HealthProbe`` over a TCP connection with an overall deadline.
public enum ProbeConnection {
    /// Connects to `server`, runs `probe`, and always closes the connection.
    public static func run<Probe: HealthProbe>(
        server: Endpoint, timeout: Duration, group: any EventLoopGroup, probe: Probe
    ) async -> HealthCheckResult {
        let eventLoop = group.next()
        let started = NIODeadline.now()
        let promise = eventLoop.makePromise(of: HealthCheckResult.self)
        let deadline = TimeAmount.milliseconds(timeout.milliseconds)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(deadline)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ProbeHandler(probe: probe, promise: promise))
                }
            }
        let connect: EventLoopFuture<any Channel>
        if let address = server.socketAddress {
            connect = bootstrap.connect(to: address)
        } else {
            connect = bootstrap.connect(host: server.host, port: server.port)
        }
        let timer = eventLoop.scheduleTask(in: deadline) {
            promise.fail(ProbeTimeout())
        }
        connect.whenFailure { error in promise.fail(error) }
        let outcome: HealthCheckResult
        do {
            outcome = try await promise.futureResult.get()
        } catch is ProbeTimeout {
            outcome = .failure("no answer within \(ConfigValueParser.format(timeout))")
        } catch {
            outcome = .failure(Self.describe(error))
        }
        timer.cancel()
        if let channel = try? await connect.get() {
            try? await channel.close()
        }
        var result = outcome
        result.latency = .nanoseconds((NIODeadline.now() - started).nanoseconds)
        return result
    }

    /// A short operator-readable form of a connect or I/O error.
    public static func describe(_ error: any Error) -> String {
        if let io = error as? IOError {
            switch io.errnoCode {
            case 111: return "connection refused"
            case 104: return "connection reset"
            case 113: return "no route to host"
            case 110: return "connect timed out"
            default: return "\(io)"
            }
        }
        if error is ChannelError, case .connectTimeout = error as? ChannelError {
            return "connect timed out"
        }
        if let connectError = error as? NIOConnectionError {
            if let first = connectError.connectionErrors.first { return describe(first.error) }
            return "cannot connect: \(connectError)"
        }
        return "\(error)"
    }
}

private struct ProbeTimeout: Error {}

private final class ProbeHandler<Probe: HealthProbe>: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var probe: Probe
    private let promise: EventLoopPromise<HealthCheckResult>
    private var pending: ByteBuffer?

    init(probe: Probe, promise: EventLoopPromise<HealthCheckResult>) {
        self.probe = probe
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        self.apply(self.probe.start(), context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        if var pending = self.pending {
            pending.writeBuffer(&bytes)
            bytes = pending
        }
        let step = self.probe.receive(&bytes)
        self.pending = bytes.readableBytes > 0 ? bytes : nil
        self.apply(step, context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.promise.succeed(self.probe.serverClosed())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.promise.succeed(.failure(ProbeConnection.describe(error)))
        context.close(promise: nil)
    }

    private func apply(_ step: ProbeStep, context: ChannelHandlerContext) {
        switch step {
        case .needMore:
            break
        case .send(let bytes):
            context.writeAndFlush(self.wrapOutboundOut(bytes), promise: nil)
        case .sendAndFinish(let bytes, let result):
            let promise = self.promise
            context.writeAndFlush(self.wrapOutboundOut(bytes)).whenComplete { _ in promise.succeed(result) }
        case .done(let result):
            self.promise.succeed(result)
        }
    }
}

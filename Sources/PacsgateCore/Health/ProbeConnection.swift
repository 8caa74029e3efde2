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

/// What a health check's probe runs over when it is not plain TCP: TLS to a node that only speaks TLS.
///
/// The transport's handlers sit between the socket and the probe. Once the transport is ready they fire a
/// ``ProbeTransportSecured`` event, whose detail joins the probe's result (`C-ECHO status 0x0000; TLS1.3, server
/// certificate expires …`); a failure reaches the probe as a ``ProbeTransportError`` with operator words.
public protocol ProbeTransport: Sendable {
    /// Adds the transport's handlers to a new probe channel (on its event loop, before the probe's handler).
    func addHandlers(to pipeline: ChannelPipeline.SynchronousOperations) throws
}

/// Inbound user event of a ``ProbeTransport``: the transport is ready.
public struct ProbeTransportSecured: Sendable {
    /// Words for the check's result (`TLS1.3, server certificate expires 2027-03-01 (in 96 days)`).
    public var detail: String
    /// When the server's certificate expires.
    public var certificateExpiry: WallClock.Instant?

    public init(detail: String, certificateExpiry: WallClock.Instant?) {
        self.detail = detail
        self.certificateExpiry = certificateExpiry
    }
}

/// A ``ProbeTransport`` failure, already in operator words (`TLS handshake failed: certificate verify failed`).
public struct ProbeTransportError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Runs a ``HealthProbe`` over a TCP connection with an overall deadline.
public enum ProbeConnection {
    /// Connects to `server`, runs `probe` (over `transport` when given), and always closes the connection.
    public static func run<Probe: HealthProbe>(
        server: Endpoint, timeout: Duration, group: any EventLoopGroup, probe: Probe,
        transport: (any ProbeTransport)? = nil
    ) async -> HealthCheckResult {
        await Self.run(server: server, timeout: timeout, group: group) { pipeline, promise in
            try transport?.addHandlers(to: pipeline)
            try pipeline.addHandler(ProbeHandler(probe: probe, promise: promise))
        }
    }

    /// The frame of every check that talks to its server: connects to `server` with the handlers `addHandlers` puts
    /// on the new channel, waits until one of them fulfils the promise or `timeout` passes, and always closes the
    /// connection. The result carries the latency; a connect failure or the timeout is a failure in operator words.
    public static func run(
        server: Endpoint, timeout: Duration, group: any EventLoopGroup,
        addHandlers: @escaping @Sendable (ChannelPipeline.SynchronousOperations, EventLoopPromise<HealthCheckResult>) throws -> Void
    ) async -> HealthCheckResult {
        let eventLoop = group.next()
        let started = NIODeadline.now()
        let promise = eventLoop.makePromise(of: HealthCheckResult.self)
        let deadline = TimeAmount.milliseconds(timeout.milliseconds)
        // A server with `send_proxy` expects a PROXY header first: the check's own connection sends `LOCAL`.
        let proxyHeader = ServerLegProxyHeader.healthCheckHeader
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(deadline)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try ServerLegProxyHeader.writeFirst(proxyHeader, on: channel.pipeline.syncOperations)
                    try addHandlers(channel.pipeline.syncOperations, promise)
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
            outcome = .failure(ErrorText.describe(error))
        }
        timer.cancel()
        if let channel = try? await connect.get() {
            try? await channel.close()
        }
        var result = outcome
        result.latency = .nanoseconds((NIODeadline.now() - started).nanoseconds)
        return result
    }
}

private struct ProbeTimeout: Error {}

private final class ProbeHandler<Probe: HealthProbe>: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var driver: ProbeDriver<Probe>
    private let promise: EventLoopPromise<HealthCheckResult>
    /// What the transport reported once ready (TLS version, certificate expiry).
    private var secured: ProbeTransportSecured?

    init(probe: Probe, promise: EventLoopPromise<HealthCheckResult>) {
        self.driver = ProbeDriver(probe)
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        self.apply(self.driver.start(), context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.apply(self.driver.receive(self.unwrapInboundIn(data)), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.finish(self.driver.serverClosed())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.finish(.failure(ErrorText.describe(error)))
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let secured = event as? ProbeTransportSecured {
            self.secured = secured
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func apply(_ step: ProbeStep, context: ChannelHandlerContext) {
        ProbeDriver<Probe>.perform(step, context: context, promise: self.promise, finish: self.withTransport)
    }

    private func finish(_ result: HealthCheckResult) {
        self.promise.succeed(self.withTransport(result))
    }

    /// The probe's result with the transport's words and certificate expiry (`C-ECHO status 0x0000; TLS1.3, …`).
    private func withTransport(_ result: HealthCheckResult) -> HealthCheckResult {
        guard let secured = self.secured else { return result }
        var result = result
        result.detail += "; \(secured.detail)"
        result.certificateExpiry = secured.certificateExpiry
        return result
    }
}

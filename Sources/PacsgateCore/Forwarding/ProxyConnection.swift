import Logging
public import NIOCore

/// One proxied connection: the handler of the client channel, owner of the server channel.
///
/// Both channels live on the same event loop, so the glue between them needs no synchronisation. Backpressure works
/// by withholding `read()` on one leg while the other cannot take more writes, so a peer that stops reading makes the
/// gateway buffer at most one write-buffer high-water mark plus one read per leg.
public final class ProxyConnection: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Upper bound of the peek buffer whatever the inspector says; inspectors set their own, smaller caps.
    package static let peekHardCap = 1 << 20
    /// While the server leg connects the client is read on until this much is held (then reading waits for the
    /// connect). Reading on rather than pausing at once saves withdrawing and restoring the client socket's read
    /// interest — two `epoll_ctl` calls per connection — and the protocols here send a request and wait anyway.
    static let connectHoldLimit = 64 * 1024

    private let service: ServiceRuntime
    private let snapshot: ServiceSnapshot
    private var machine = ConnectionStateMachine()
    private var inspector: (any ConnectionInspector)?
    private var upstreamHandling: StreamHandling = .passthrough
    private var observesDownstream = false
    /// No handler but ours on either leg, so a leg with nothing queued on its socket may be closed directly.
    private var closesDirectly = true

    private var clientContext: ChannelHandlerContext?
    private var clientAddress: SocketAddress?
    private var clientKey: StickKey?
    private var serverChannel: (any Channel)?
    private var server: ServerIdentity?
    private var routing = Routing.any
    /// Servers whose connect failed for this connection (allocated only on a failure).
    private var tried: [String] = []
    /// A source-port exhaustion among those failures, named in the refusal when every server failed.
    private var exhaustion: String?

    private var pendingClientRead = false
    /// Registered with the audit log's ``AuditLog/whenAccepting(_:)``; the client is not read until it calls back.
    private var waitingForAudit = false
    private var pendingServerRead = false
    private var serverFlushPending = false
    private var peekTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    private var lingerTimer: Scheduled<Void>?
    private var lastActivity = NIODeadline.now()
    private let acceptedAt = NIODeadline.now()
    private var bytesUp = 0
    private var bytesDown = 0
    private var unreportedBytes = (up: 0, down: 0)
    private var endReason = "closed"
    private var refused = false
    private var clientOpen = false
    private var serverOpen = false
    private var registered = false

    init(service: ServiceRuntime, snapshot: ServiceSnapshot) {
        self.service = service
        self.snapshot = snapshot
    }

    // MARK: client channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.clientContext = context
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.clientOpen = true
        let channel = context.channel
        // `accept_proxy`: the address a trusted PROXY header gave (``ProxyHeaderReceiver``), else the socket's.
        if self.clientAddress == nil { self.clientAddress = channel.remoteAddress }
        self.clientKey = self.clientAddress.flatMap { StickKey(clientAddress: $0) }
        let active = self.service.stats.opened()
        let perClient = self.service.connections.add(channel, client: self.limitKey)
        self.registered = true
        let configuration = self.snapshot.configuration
        if let handler = configuration.protocolHandler, let clientAddress {
            let inspector = handler.makeInspector(
                ConnectionContext(
                    service: configuration.label, client: clientAddress, eventLoop: context.eventLoop,
                    audit: self.service.audit, logger: self.service.logger, acceptedAt: WallClock.now(),
                    persistenceType: configuration.persistence.type))
            self.inspector = inspector
            self.upstreamHandling = inspector.upstreamHandling
            self.observesDownstream = inspector.downstreamHandling != .passthrough
            self.closesDirectly = !inspector.addsChannelHandlers
            do {
                try inspector.configureClientPipeline(context.pipeline.syncOperations, position: .before(self))
            } catch {
                self.refused = true
                self.endReason = "cannot set up the protocol handlers: \(error)"
                self.service.logger.error(
                    "cannot set up the protocol handlers of a connection",
                    metadata: ["conn.client": "\(self.clientDescription)", "error": "\(error)"])
                self.machine.answering()
                context.fireChannelActive()
                context.close(promise: nil)
                return
            }
        }
        context.fireChannelActive()

        if active > configuration.maxConnections {
            self.refuse(.maxConnections, context: context)
            return
        }
        if configuration.maxConnectionsPerClient > 0, perClient > configuration.maxConnectionsPerClient {
            self.refuse(.perClientLimit, context: context)
            return
        }
        switch self.machine.clientActive(peek: self.inspector != nil) {
        case .startPeek:
            self.peekTimer = context.eventLoop.assumeIsolated().scheduleTask(in: self.snapshot.peekTimeout) {
                self.peekFailed(.timeout)
            }
        case .connect:
            self.connectToServer(context: context)
        }
    }

    /// Key of the per-client-IP connection limit (only tracked when a limit is set).
    private var limitKey: StickKey? {
        self.snapshot.configuration.maxConnectionsPerClient > 0 ? self.clientKey : nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = self.unwrapInboundIn(data)
        switch self.machine.clientRead(bytes) {
        case .forward:
            self.lastActivity = .now()
            self.forwardUpstream(bytes)
        case .inspect(let all):
            self.inspect(all, context: context)
        case .held, .discard:
            break
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if self.serverFlushPending {
            self.serverFlushPending = false
            self.serverChannel?.flush()
        }
        self.reportBytesIfLarge()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            switch self.machine.clientInputClosed() {
            case .none: break
            case .peekFailed: self.peekFailed(.clientClosed)
            case .shutdownOtherOutput:
                if self.inspector?.halfClosed(by: .client) == .terminate {
                    self.endReason = "client closed its side"
                    self.legFailed(clientSide: true)
                } else if let server = self.serverChannel {
                    OutputCloser.finish(server, then: .halfClose, direct: self.closesDirectly)
                }
            case .closeBoth:
                self.endReason = "closed by both sides"
                self.closeBothAfterFlush()
            case .closeClient:
                context.close(promise: nil)
            }
        } else if let request = event as? GatewayCloseRequest {
            self.terminate(request.reason)
        } else if let proxied = event as? ProxiedClientAddress {
            self.clientAddress = proxied.address
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.clientOpen = false
        if self.serverOpen {
            switch self.machine.state {
            case .ending:
                break  // The server leg closes once its last bytes are out.
            case .forwarding(_, serverInputClosed: true):
                // The client's FIN after we passed the server's on (see serverInactive).
                _ = self.machine.clientInputClosed()
                self.endReason = "closed by both sides"
                if let server = self.serverChannel {
                    OutputCloser.finish(server, then: .fullClose, direct: self.closesDirectly)
                }
            default:
                self.endReason = "client went away"
                self.legFailed(clientSide: true)
            }
        }
        self.finishIfClosed()
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.endReason = "client error: \(ErrorText.describe(error))"
        self.legFailed(clientSide: true)
        context.close(promise: nil)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, self.pendingServerRead {
            self.pendingServerRead = false
            self.serverChannel?.read()
        }
        context.fireChannelWritabilityChanged()
    }

    public func read(context: ChannelHandlerContext) {
        if !self.service.audit.isAccepting {
            self.waitForAudit(context: context)
        } else if self.machine.isConnecting {
            if self.machine.heldBytes < Self.connectHoldLimit {
                context.read()
            } else {
                self.pendingClientRead = true
            }
        } else if self.machine.isForwarding, let server = self.serverChannel, !server.isWritable {
            self.pendingClientRead = true
        } else {
            context.read()
        }
    }

    /// The audit log has `buffer_records` records waiting to be written: read nothing more from this client (its
    /// data would make more records) until the log catches up. Server legs keep being read, so work under way ends.
    private func waitForAudit(context: ChannelHandlerContext) {
        guard !self.waitingForAudit else { return }
        self.waitingForAudit = true
        let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        self.service.audit.whenAccepting {
            eventLoop.execute {
                let connection = connection.value
                connection.waitingForAudit = false
                guard connection.clientOpen, let context = connection.clientContext else { return }
                connection.read(context: context)
            }
        }
    }

    // MARK: peek

    private func inspect(_ all: ByteBuffer, context: ChannelHandlerContext) {
        guard let inspector else { return }
        if all.readableBytes > Self.peekHardCap {
            self.peekFailed(.tooLarge(all.readableBytes))
            return
        }
        switch inspector.inspect(all) {
        case .needMore:
            break
        case .forward(let routing):
            self.peekTimer?.cancel()
            self.routing = routing
            self.machine.forwardDecided()
            self.connectToServer(context: context)
        case .reject(let rejection):
            self.peekTimer?.cancel()
            self.answer(rejection)
        }
    }

    private func peekFailed(_ failure: PeekFailure) {
        guard self.machine.isPeeking, let inspector else { return }
        self.peekTimer?.cancel()
        self.answer(inspector.peekFailed(failure))
    }

    // MARK: server selection and connect

    private func connectToServer(context: ChannelHandlerContext) {
        guard
            let selection = self.service.selectServer(
                snapshot: self.snapshot, routing: self.routing, clientKey: self.clientKey, tried: self.tried)
        else {
            self.refuse(
                ServiceRuntime.unavailable(afterTrying: self.tried.count, exhaustion: self.exhaustion),
                context: context)
            return
        }
        let identity = ServerIdentity(label: selection.label, endpoint: selection.endpoint)
        self.server = identity
        let backend = BackendHandler(connection: self)
        let bound = NIOLoopBound(backend, eventLoop: context.eventLoop)
        let source = self.snapshot.source(of: identity, client: self.clientAddress)
        let future = self.service.connector.connect(
            to: selection.endpoint, from: source, on: context.eventLoop, timeout: self.snapshot.connectTimeout,
            handler: bound)
        future.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                // First on the wire, before a re-encrypted leg's handshake (its handlers are added next).
                let client = self.clientContext?.channel
                if let header = self.snapshot.proxyHeader(
                    to: identity, client: self.clientAddress, destination: client?.localAddress,
                    inspector: self.inspector)
                {
                    channel.writeAndFlush(header, promise: nil)
                }
                guard
                    let preparing = self.inspector?.prepareServerChannel(
                        channel, server: identity, position: .before(backend))
                else {
                    self.serverConnected(channel, identity: identity)
                    return
                }
                preparing.assumeIsolated().whenComplete { prepared in
                    switch prepared {
                    case .success:
                        self.serverConnected(channel, identity: identity)
                    case .failure(let error):
                        backend.detach()
                        channel.close(promise: nil)
                        self.connectFailed(identity, error: error)
                    }
                }
            case .failure(let error):
                self.connectFailed(identity, error: error, source: source)
            }
        }
    }

    private func serverConnected(_ channel: any Channel, identity: ServerIdentity) {
        self.serverChannel = channel
        self.serverOpen = true
        if let client = self.clientContext?.channel { self.service.connections.attachServer(channel, to: client) }
        switch self.machine.connected() {
        case .closeServer:
            channel.close(promise: nil)
        case .startForwarding(let pending, let clientInputClosed):
            self.lastActivity = .now()
            self.inspector?.forwarding(to: identity)
            if let pending, pending.readableBytes > 0 {
                self.bytesUp += pending.readableBytes
                self.unreportedBytes.up += pending.readableBytes
                if self.upstreamHandling == .filter, let inspector {
                    inspector.filterUpstream(pending, sink: UpstreamSink(self))
                } else {
                    if self.upstreamHandling == .observe { self.inspector?.upstream(pending) }
                    channel.write(pending, promise: nil)
                }
                channel.flush()
            }
            if clientInputClosed {
                OutputCloser.finish(channel, then: .halfClose, direct: self.closesDirectly)
            }
            self.armIdleTimer()
            if self.pendingClientRead, let context = self.clientContext {
                self.pendingClientRead = false
                self.read(context: context)
            }
        }
    }

    private func connectFailed(_ identity: ServerIdentity, error: any Error, source: ServerLegSource? = nil) {
        self.tried.append(identity.label)
        self.server = nil
        var why = ErrorText.describe(error)
        if let source, !source.transparent, let code = (error as? IOError)?.errnoCode,
            let exhaustion = SourceBinding.exhaustion(errno: code, source: source.address.ipAddress ?? "\(source.address)")
        {
            why = exhaustion
            self.exhaustion = exhaustion
        }
        self.service.connectFailed(to: identity, why: why, client: self.clientDescription)
        guard self.machine.isConnecting, let context = self.clientContext else { return }
        self.connectToServer(context: context)
    }

    // MARK: forwarding

    private func forwardUpstream(_ bytes: ByteBuffer) {
        self.bytesUp += bytes.readableBytes
        self.unreportedBytes.up += bytes.readableBytes
        switch self.upstreamHandling {
        case .passthrough:
            self.serverChannel?.write(bytes, promise: nil)
            self.serverFlushPending = true
        case .observe:
            self.inspector?.upstream(bytes)
            self.serverChannel?.write(bytes, promise: nil)
            self.serverFlushPending = true
        case .filter:
            self.inspector?.filterUpstream(bytes, sink: UpstreamSink(self))
        }
    }

    /// Bytes from the server (called by ``BackendHandler``).
    func serverRead(_ bytes: ByteBuffer) {
        guard self.clientOpen else { return }
        self.lastActivity = .now()
        self.bytesDown += bytes.readableBytes
        self.unreportedBytes.down += bytes.readableBytes
        if self.observesDownstream { self.inspector?.downstream(bytes) }
        self.clientContext?.write(self.wrapOutboundOut(bytes), promise: nil)
    }

    func serverReadComplete() {
        self.clientContext?.flush()
        self.reportBytesIfLarge()
    }

    func serverRead(context: ChannelHandlerContext) {
        if let client = self.clientContext?.channel, !client.isWritable {
            self.pendingServerRead = true
        } else {
            context.read()
        }
    }

    func serverWritabilityChanged(_ writable: Bool) {
        if writable, self.pendingClientRead, self.machine.isForwarding, let context = self.clientContext {
            self.pendingClientRead = false
            self.read(context: context)
        }
    }

    func serverInputClosed() {
        switch self.machine.serverInputClosed() {
        case .shutdownOtherOutput:
            if self.inspector?.halfClosed(by: .server) == .terminate {
                self.endReason = "server closed its side"
                self.legFailed(clientSide: false)
            } else if let client = self.clientContext?.channel {
                OutputCloser.finish(client, then: .halfClose, direct: self.closesDirectly)
            }
        case .closeBoth:
            self.endReason = "closed by both sides"
            self.closeBothAfterFlush()
        case .none, .peekFailed, .closeClient:
            break
        }
    }

    func serverInactive() {
        self.serverOpen = false
        if self.clientOpen {
            switch self.machine.state {
            case .ending:
                break  // Both sides finished; the client leg closes once its writes are out.
            case .forwarding(clientInputClosed: true, _):
                // We had passed the client's FIN on; NIO reports the server's FIN as a full close when our output
                // to it is already shut. A clean end in both directions.
                self.serverInputClosed()
            default:
                self.endReason = "server went away"
                self.legFailed(clientSide: false)
            }
        }
        self.finishIfClosed()
    }

    func serverError(_ error: any Error) {
        self.endReason = "server error: \(ErrorText.describe(error))"
        self.legFailed(clientSide: false)
    }

    private func closeBothAfterFlush() {
        if let client = self.clientContext?.channel {
            OutputCloser.finish(client, then: .fullClose, direct: self.closesDirectly)
        }
        if let server = self.serverChannel {
            OutputCloser.finish(server, then: .fullClose, direct: self.closesDirectly)
        }
        // No linger here: both sides ended cleanly and the last bytes may take a while to reach a slow reader.
        // The idle timer still runs, so a peer that never reads them is cut off after the idle timeout.
    }

    // MARK: ending

    /// One leg failed (reset, error) or went away without a FIN: give the protocol its last words and close.
    private func legFailed(clientSide: Bool) {
        let why = self.endReason
        switch self.machine.legFailed() {
        case .none:
            break
        case .closeClient:
            self.clientContext?.close(promise: nil)
        case .terminate:
            let words = self.inspector?.closing(clientSide ? .clientFailed(why) : .serverFailed(why)) ?? ClosingWords()
            self.sayLastWordsAndClose(words)
        }
    }

    /// The gateway ends the connection (idle timeout, shutdown, removed service).
    private func terminate(_ reason: CloseReason) {
        self.endReason = reason.description
        if self.machine.isPeeking, let inspector {
            self.peekTimer?.cancel()
            self.answer(inspector.peekFailed(.timeout))
            return
        }
        switch self.machine.legFailed() {
        case .none:
            break
        case .closeClient:
            self.clientContext?.close(promise: nil)
        case .terminate:
            self.sayLastWordsAndClose(self.inspector?.closing(reason) ?? ClosingWords())
        }
    }

    private func sayLastWordsAndClose(_ words: ClosingWords) {
        if let server = self.serverChannel, self.serverOpen {
            if let bytes = words.toServer { server.write(bytes, promise: nil) }
            OutputCloser.finish(server, then: .fullClose, direct: self.closesDirectly)
        }
        if let context = self.clientContext, self.clientOpen {
            if let bytes = words.toClient { context.write(self.wrapOutboundOut(bytes), promise: nil) }
            let client = context.channel
            OutputCloser.finish(client, then: .fullClose, direct: self.closesDirectly)
        }
        self.armLinger()
    }

    /// Answers the client without forwarding (rejection, refusal, peek failure).
    private func answer(_ rejection: Rejection) {
        guard let context = self.clientContext else { return }
        self.refused = true
        self.endReason = rejection.reason
        self.service.stats.refusedOne()
        self.machine.answering()
        let client = context.channel
        if let bytes = rejection.answer {
            context.write(self.wrapOutboundOut(bytes), promise: nil)
        }
        if rejection.waitForClientClose {
            // As PS3.8 prescribes after A-ASSOCIATE-RJ / A-ABORT: half-close, let the requester close, and close
            // ourselves when the linger (ARTIM) timer expires.
            OutputCloser.finish(client, then: .halfClose, direct: self.closesDirectly)
        } else {
            OutputCloser.finish(client, then: .fullClose, direct: self.closesDirectly)
        }
        self.armLinger()
    }

    private func refuse(_ reason: UnavailableReason, context: ChannelHandlerContext) {
        if let inspector {
            self.answer(inspector.unavailable(reason))
        } else {
            self.refused = true
            self.endReason = "refused: \(reason)"
            self.service.stats.refusedOne()
            self.machine.answering()
            context.close(promise: nil)
        }
    }

    private func armLinger() {
        guard self.lingerTimer == nil, let eventLoop = self.clientContext?.eventLoop else { return }
        let client = self.clientContext?.channel
        let server = self.serverChannel
        self.lingerTimer = eventLoop.scheduleTask(in: self.snapshot.closeLinger) {
            client?.close(promise: nil)
            server?.close(promise: nil)
        }
    }

    private func armIdleTimer() {
        guard let eventLoop = self.clientContext?.eventLoop else { return }
        let deadline = self.lastActivity + self.snapshot.idleTimeout
        self.idleTimer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            guard self.machine.isForwardingOrEnding else { return }
            self.reportBytes()
            if NIODeadline.now() - self.lastActivity >= self.snapshot.idleTimeout {
                if self.machine.isForwarding {
                    self.terminate(.idleTimeout)
                } else {
                    // Ending, but a peer stopped reading the last bytes: give up on them.
                    self.endReason += "; last bytes not read within the idle timeout"
                    self.clientContext?.channel.close(promise: nil)
                    self.serverChannel?.close(promise: nil)
                }
            } else {
                self.armIdleTimer()
            }
        }
    }

    private func finishIfClosed() {
        guard !self.clientOpen, !self.serverOpen, self.machine.ended() else { return }
        self.peekTimer?.cancel()
        self.idleTimer?.cancel()
        self.lingerTimer?.cancel()
        self.reportBytes()
        let duration = Duration.nanoseconds((NIODeadline.now() - self.acceptedAt).nanoseconds)
        // The summary (and its formatted client address) is built only for an inspector; the log line formats its
        // fields only when `info` is enabled.
        let finished = self.inspector.flatMap { inspector in
            inspector.finished(
                ConnectionSummary(
                    service: self.service.label, client: self.clientDescription, server: self.server,
                    bytesUp: self.bytesUp, bytesDown: self.bytesDown, duration: duration, endReason: self.endReason,
                    refused: self.refused))
        }
        self.inspector = nil
        let release: @Sendable () -> Void = {
            [
                service = self.service, channel = self.clientContext?.channel, key = self.limitKey,
                client = self.clientAddress, server = self.server, bytes = (self.bytesUp, self.bytesDown),
                endReason = self.endReason
            ] in
            if let channel { service.connections.remove(channel, client: key) }
            service.connectionReleased(
                server: server, client: client?.logDescription ?? "?", bytesUp: bytes.0, bytesDown: bytes.1,
                duration: duration, endReason: endReason)
        }
        if let finished {
            finished.whenComplete { _ in release() }
        } else {
            release()
        }
        self.clientContext = nil
        self.serverChannel = nil
    }

    private var clientDescription: String { self.clientAddress?.logDescription ?? "?" }

    private func reportBytesIfLarge() {
        if self.unreportedBytes.up + self.unreportedBytes.down >= 1 << 16 { self.reportBytes() }
    }

    private func reportBytes() {
        self.service.stats.add(up: self.unreportedBytes.up, down: self.unreportedBytes.down)
        self.unreportedBytes = (0, 0)
    }
}

extension ProxyConnection: UpstreamSinkTarget {
    package func sinkForward(_ data: ByteBuffer) {
        self.serverChannel?.write(data, promise: nil)
        self.serverFlushPending = true
    }

    package func sinkReply(_ data: ByteBuffer) {
        self.clientContext?.writeAndFlush(self.wrapOutboundOut(data), promise: nil)
    }

    package func sinkClose(reason: String) {
        self.endReason = reason
        self.terminate(.inspectorRequested(reason))
    }
}

@available(*, unavailable)
extension ProxyConnection: Sendable {}

/// The handler of the server channel: hands everything to its ``ProxyConnection``.
public final class BackendHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private var connection: ProxyConnection?

    init(connection: ProxyConnection) {
        self.connection = connection
    }

    /// Stops handing events to the connection (the leg was given up before forwarding started).
    func detach() {
        self.connection = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.connection?.serverRead(self.unwrapInboundIn(data))
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        self.connection?.serverReadComplete()
    }

    public func read(context: ChannelHandlerContext) {
        if let connection { connection.serverRead(context: context) } else { context.read() }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.connection?.serverWritabilityChanged(context.channel.isWritable)
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            self.connection?.serverInputClosed()
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.connection?.serverError(error)
        context.close(promise: nil)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let connection = self.connection
        self.connection = nil
        connection?.serverInactive()
    }
}

@available(*, unavailable)
extension BackendHandler: Sendable {}

/// Ends a channel's output only after every byte queued on it has been written.
///
/// NIO's `close(mode: .output)` waits for queued writes — unless the peer's FIN was already seen, in which case it
/// escalates to a full close and drops them. A zero-length write completes only after the writes queued before it,
/// so it serves as the barrier in every case.
enum OutputCloser {
    enum Then {
        /// Send FIN and keep reading (the peer may still talk, or we wait for it to close).
        case halfClose
        /// Close the channel.
        case fullClose
    }

    /// Ends `channel`'s output once everything written to it is out. `direct`: no handler but the core's sits on the
    /// channel (nothing can hold bytes above the socket), so a channel with nothing queued on its socket is closed
    /// at once, without the barrier's promise and callback (the common case: the last bytes went out with their read).
    static func finish(_ channel: any Channel, then: Then, direct: Bool) {
        if direct, channel.eventLoop.inEventLoop, (try? channel.syncOptions?.getOption(.bufferedWritableBytes)) == 0 {
            switch then {
            case .halfClose: channel.close(mode: .output, promise: nil)
            case .fullClose: channel.close(promise: nil)
            }
            return
        }
        channel.writeAndFlush(ByteBuffer()).whenComplete { _ in
            switch then {
            case .halfClose: channel.close(mode: .output, promise: nil)
            case .fullClose: channel.close(promise: nil)
            }
        }
    }
}

import Logging
package import NIOCore

/// One proxied connection of the NIO engine: its client leg (through the ``ClientLegHandler``'s context), its server
/// leg (a channel whose ``BackendHandler`` reports here), the inspector, the timers and the counters.
/// ``ConnectionStateMachine`` decides; this performs the actions it returns.
///
/// Both channels live on the same event loop, so the glue between them needs no synchronisation. Backpressure works
/// by withholding `read()` on one leg while the other cannot take more writes, so a peer that stops reading makes the
/// gateway buffer at most one write-buffer high-water mark plus one read per leg.
package final class ProxyConnection {
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

    init(service: ServiceRuntime, snapshot: ServiceSnapshot) {
        self.service = service
        self.snapshot = snapshot
    }

    // MARK: client leg events (from the ClientLegHandler)

    func clientAdded(_ context: ChannelHandlerContext) {
        self.clientContext = context
    }

    func clientActive(context: ChannelHandlerContext) {
        let channel = context.channel
        // `accept_proxy`: the address a trusted PROXY header gave (``ProxyHeaderReceiver``), else the socket's.
        if self.clientAddress == nil { self.clientAddress = channel.remoteAddress }
        self.clientKey = self.clientAddress.flatMap { StickKey(clientAddress: $0) }
        let active = self.service.stats.opened()
        let perClient = self.service.connections.add(channel, client: self.limitKey)
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
                try inspector.configureClientPipeline(
                    context.pipeline.syncOperations, position: .before(context.handler))
            } catch {
                self.machine.refuse(.setupFailed("\(error)"))
                self.service.logger.error(
                    "cannot set up the protocol handlers of a connection",
                    metadata: ["conn.client": "\(self.clientDescription)", "error": "\(error)"])
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

    func clientRead(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
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

    func clientReadComplete() {
        if self.serverFlushPending {
            self.serverFlushPending = false
            self.serverChannel?.flush()
        }
        self.reportBytesIfLarge()
    }

    func clientInputClosed(context: ChannelHandlerContext) {
        switch self.machine.clientInputClosed() {
        case .none: break
        case .peekFailed: self.peekFailed(.clientClosed)
        case .shutdownOtherOutput:
            if self.inspector?.halfClosed(by: .client) == .terminate {
                self.abort(self.machine.halfCloseEnds(by: .client), failedSide: .client)
            } else if let server = self.serverChannel {
                OutputCloser.finish(server, then: .halfClose, direct: self.closesDirectly)
            }
        case .closeBoth:
            self.closeBothAfterFlush()
        case .closeClient:
            context.close(promise: nil)
        }
    }

    /// `accept_proxy`: the client's address from a trusted PROXY header, before the connection sees the leg active.
    func clientAddressProxied(_ address: SocketAddress) {
        self.clientAddress = address
    }

    /// A read or write on the `side` leg failed (from either leg's handler).
    func legFailed(_ side: ConnectionSide, _ error: any Error) {
        self.abort(self.machine.legFailed(side, error: ErrorText.describe(error)), failedSide: side)
    }

    func clientWritabilityChanged(_ writable: Bool) {
        if writable, self.pendingServerRead {
            self.pendingServerRead = false
            self.serverChannel?.read()
        }
    }

    /// The client leg's `read()`: let through, or withheld until the audit log, the connect or the server leg can
    /// take more.
    func readClient(context: ChannelHandlerContext) {
        if !self.service.audit.isAccepting {
            self.waitForAudit(context: context)
        } else if self.machine.mayReadClient(serverWritable: self.serverChannel?.isWritable ?? true) {
            context.read()
        } else {
            self.pendingClientRead = true
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
                guard connection.machine.isClientOpen, let context = connection.clientContext else { return }
                connection.readClient(context: context)
            }
        }
    }

    // MARK: peek

    private func inspect(_ all: ByteBuffer, context: ChannelHandlerContext) {
        guard let inspector else { return }
        switch self.machine.peeked(all, by: inspector) {
        case .wait:
            break
        case .connect(let routing):
            self.peekTimer?.cancel()
            self.routing = routing
            self.connectToServer(context: context)
        case .answer(let rejection):
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
                self.readClient(context: context)
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
        guard self.machine.isClientOpen else { return }
        self.lastActivity = .now()
        self.bytesDown += bytes.readableBytes
        self.unreportedBytes.down += bytes.readableBytes
        if self.observesDownstream { self.inspector?.downstream(bytes) }
        self.clientContext?.write(NIOAny(bytes), promise: nil)
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
            self.readClient(context: context)
        }
    }

    func serverInputClosed() {
        switch self.machine.serverInputClosed() {
        case .shutdownOtherOutput:
            if self.inspector?.halfClosed(by: .server) == .terminate {
                self.abort(self.machine.halfCloseEnds(by: .server), failedSide: .server)
            } else if let client = self.clientContext?.channel {
                OutputCloser.finish(client, then: .halfClose, direct: self.closesDirectly)
            }
        case .closeBoth:
            self.closeBothAfterFlush()
        case .none, .peekFailed, .closeClient:
            break
        }
    }

    /// The `side` leg's channel closed (from either leg's handler).
    func legClosed(_ side: ConnectionSide) {
        switch self.machine.legClosed(side) {
        case .none:
            break
        case .closeOtherAfterFlush:
            if let other = side == .client ? self.serverChannel : self.clientContext?.channel {
                OutputCloser.finish(other, then: .fullClose, direct: self.closesDirectly)
            }
        case .abort(let action):
            self.abort(action, failedSide: side)
        case .finish:
            self.finish()
        }
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

    /// One leg failed (reset, error, a FIN the inspector ends on) or went away without a FIN: the protocol's last
    /// words name the failed side and the machine's end reason.
    private func abort(_ action: ConnectionStateMachine.AbortAction, failedSide side: ConnectionSide) {
        let why = self.machine.endReason.description
        self.abort(action, for: side == .client ? .clientFailed(why) : .serverFailed(why))
    }

    /// Performs the legs' part of the connection's end: last words for `reason` to the legs still open, or a close.
    private func abort(_ action: ConnectionStateMachine.AbortAction, for reason: @autoclosure () -> CloseReason) {
        switch action {
        case .none:
            break
        case .closeClient:
            self.clientContext?.close(promise: nil)
        case .terminate(let client, let server):
            let words = self.inspector?.closing(reason()) ?? ClosingWords()
            self.sayLastWordsAndClose(words, client: client, server: server)
        }
    }

    /// The gateway ends the connection (idle timeout, shutdown, removed service, the inspector asked).
    func terminate(_ reason: CloseReason) {
        switch self.machine.terminate(reason) {
        case .failPeek:
            guard let inspector else { return }
            self.peekTimer?.cancel()
            self.answer(inspector.peekFailed(.timeout))
        case .abort(let action):
            self.abort(action, for: reason)
        }
    }

    /// Writes `words` to the legs still open (`client`, `server`), closes them once the words are out, and arms the
    /// linger that closes whatever is left.
    private func sayLastWordsAndClose(_ words: ClosingWords, client: Bool, server: Bool) {
        if server, let server = self.serverChannel {
            if let bytes = words.toServer { server.write(bytes, promise: nil) }
            OutputCloser.finish(server, then: .fullClose, direct: self.closesDirectly)
        }
        if client, let context = self.clientContext {
            if let bytes = words.toClient { context.write(NIOAny(bytes), promise: nil) }
            let client = context.channel
            OutputCloser.finish(client, then: .fullClose, direct: self.closesDirectly)
        }
        self.armLinger()
    }

    /// Answers the client without forwarding (rejection, refusal, peek failure).
    private func answer(_ rejection: Rejection) {
        guard let context = self.clientContext else { return }
        self.machine.refuse(.rejected(rejection.reason))
        self.service.stats.refusedOne()
        let client = context.channel
        if let bytes = rejection.answer {
            context.write(NIOAny(bytes), promise: nil)
        }
        if rejection.waitForClientClose {
            // After A-ASSOCIATE-RJ / A-ABORT PS3.8 has the requester close the transport while the acceptor waits
            // with ARTIM running: half-close (a requester reading on gets the end of the stream after the answer),
            // let it close, and close ourselves when the linger (ARTIM) timer expires.
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
            self.machine.refuse(.unavailable(reason))
            self.service.stats.refusedOne()
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
            let expired = NIODeadline.now() - self.lastActivity >= self.snapshot.idleTimeout
            let action = self.machine.idleTimerFired(expired: expired)
            if action != .stop { self.reportBytes() }
            switch action {
            case .stop:
                break
            case .rearm:
                self.armIdleTimer()
            case .abort(let action):
                self.abort(action, for: .idleTimeout)
            case .closeBoth:
                // Ending, but a peer stopped reading the last bytes: give up on them.
                self.clientContext?.channel.close(promise: nil)
                self.serverChannel?.close(promise: nil)
            }
        }
    }

    /// Both legs are closed: report the connection and release it.
    private func finish() {
        self.peekTimer?.cancel()
        self.idleTimer?.cancel()
        self.lingerTimer?.cancel()
        self.reportBytes()
        let duration = Duration.nanoseconds((NIODeadline.now() - self.acceptedAt).nanoseconds)
        let endReason = self.machine.endReason.description
        // The summary (and its formatted client address) is built only for an inspector; the log line formats its
        // fields only when `info` is enabled.
        let finished = self.inspector.flatMap { inspector in
            inspector.finished(
                ConnectionSummary(
                    service: self.service.label, client: self.clientDescription, server: self.server,
                    bytesUp: self.bytesUp, bytesDown: self.bytesDown, duration: duration, endReason: endReason,
                    refused: self.machine.refused))
        }
        self.inspector = nil
        let release: @Sendable () -> Void = {
            [
                service = self.service, channel = self.clientContext?.channel, key = self.limitKey,
                client = self.clientAddress, server = self.server, bytes = (self.bytesUp, self.bytesDown)
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
        self.clientContext?.writeAndFlush(NIOAny(data), promise: nil)
    }

    package func sinkClose(reason: String) {
        self.terminate(.inspectorRequested(reason))
    }
}

@available(*, unavailable)
extension ProxyConnection: Sendable {}

#if os(Linux)
import CPacsgateDataPlane
import Glibc
import Logging
import NIOCore
import PacsgateCore

/// One proxied connection on the native engine: a reusable slot of its reactor, holding both sockets, the
/// ``ConnectionStateMachine`` and the inspector.
///
/// It behaves as the NIO engine's ``ProxyConnection`` does — the same state machine decides, the same inspector calls
/// are made in the same order, the same words end up in logs and audit records — but reads and writes the sockets
/// itself: a read is tried only while the socket's last edge said readable, a write is tried at once and queued only
/// when the socket is full, and reading from one side pauses while the other side holds unwritten bytes
/// (backpressure: one read's worth per direction). While the server leg connects the client is not read at all: its
/// bytes wait in the kernel.
///
/// Slots are never freed, only reused (their generation changes), so a connection costs no allocation of its own;
/// the inspector of a protocol service is the only per-connection object.
final class NativeConnection {
    let index: UInt32
    private(set) var generation: UInt32 = 0
    // Unowned and unchecked: the reactor owns its slots (through its state) and outlives them, and a slot is only
    // touched on the reactor's thread. Plain unowned references would add an atomic check to every access on the hot
    // path.
    unowned(unsafe) let reactor: Reactor
    private unowned(unsafe) let state: ReactorState
    /// In the reactor's ready list.
    var queued = false
    private(set) var inUse = false

    // Set when the connection starts; cleared when the slot is freed.
    private var service: ServiceRuntime?
    private var snapshot: ServiceSnapshot?
    private var registry: NativeServiceConnections?
    private var inspector: (any ConnectionInspector)?

    private var machine = ConnectionStateMachine()
    private var upstreamHandling = StreamHandling.passthrough
    private var observesDownstream = false
    private var client = Leg()
    private var server = Leg()
    private var peer: PeerAddress?
    private var clientKey: StickKey?
    private var limitKey: StickKey?
    private var serverIdentity: ServerIdentity?
    private var serverConnecting = false
    private var routing = Routing.any
    /// Servers whose connect failed for this connection.
    private var tried: [String] = []
    /// A source-port exhaustion among those failures, named in the refusal when every server failed.
    private var exhaustion: String?
    /// The `source:` address of the server leg being opened.
    private var serverSource: PeerAddress?
    /// Per direction: splice instead of copying (bulk bytes nobody inspects), and read into large buffers.
    private var splicing = PerDirection(false)
    private var largeReads = PerDirection(false)

    // Times in monotonic nanoseconds; a deadline of 0 is unset.
    private var acceptedAt: UInt64 = 0
    private var lastActivity: UInt64 = 0
    private var peekDeadline: UInt64 = 0
    private var connectDeadline: UInt64 = 0
    private var lingerDeadline: UInt64 = 0
    private var idleArmed = false
    /// The deadline of the timer entry this slot relies on (0: none).
    private var timerAt: UInt64 = 0

    /// Bytes moved, and those not yet added to the service's counters.
    private var moved = PerDirection(0)
    private var unreported = PerDirection(0)
    private var endReason = ConnectionEndReason.closed
    private var refused = false
    /// Registered with the audit log's ``AuditLog/whenAccepting(_:)``: the client is not read until it calls back.
    private var waitingForAudit = false
    /// `accept_proxy`: the gate reading the client's first bytes, their bytes so far, and the active count at accept
    /// (for `maxconn` once the gate lets the connection in).
    private var proxyGate: ProxyHeaderGate?
    private var proxyBytes: ByteBuffer?
    private var activeAtAccept = 0

    init(index: UInt32, reactor: Reactor) {
        self.index = index
        self.reactor = reactor
        self.state = reactor.state
    }

    private var now: UInt64 { self.state.now }

    // MARK: start

    /// A client accepted on `service`'s listener: count it, make its inspector, and start peeking or connecting.
    func start(descriptor: Int32, peer: PeerAddress, service: ServiceRuntime, registry: NativeServiceConnections) {
        precondition(!self.inUse, "slot started twice")
        self.inUse = true
        self.service = service
        let snapshot = service.snapshot
        self.snapshot = snapshot
        self.registry = registry
        self.client.descriptor = descriptor
        self.client.writable = true
        self.peer = peer
        self.acceptedAt = self.now
        self.lastActivity = self.now
        let active = service.stats.opened()
        registry.opened()
        let configuration = snapshot.configuration
        if !configuration.acceptProxy.isEmpty {
            self.awaitProxyHeader(active: active)
        } else {
            self.begin(active: active, registered: false)
        }
        self.finishIfClosed()
    }

    /// Limits, inspector, then peeking or connecting: once the client address is known.
    private func begin(active: Int, registered: Bool) {
        guard let service = self.service, let snapshot = self.snapshot, let peer = self.peer else { return }
        let clientKey = peer.stickKey
        self.clientKey = clientKey
        let configuration = snapshot.configuration
        if configuration.maxConnectionsPerClient > 0 { self.limitKey = clientKey }
        let perClient = self.limitKey.map { service.connections.addClient($0) } ?? 0
        if let handler = configuration.protocolHandler {
            let inspector = handler.makeInspector(
                ConnectionContext(
                    service: configuration.label, client: peer.socketAddress, eventLoop: self.reactor,
                    audit: service.audit, logger: service.logger, acceptedAt: WallClock.now(),
                    persistenceType: configuration.persistence.type))
            self.inspector = inspector
            self.upstreamHandling = inspector.upstreamHandling
            self.observesDownstream = inspector.downstreamHandling != .passthrough
        }
        if !registered, !self.registerClient() { return }
        if active > configuration.maxConnections {
            self.refuse(.maxConnections)
        } else if configuration.maxConnectionsPerClient > 0, perClient > configuration.maxConnectionsPerClient {
            self.refuse(.perClientLimit)
        } else {
            switch self.machine.clientActive(peek: self.inspector != nil) {
            case .startPeek:
                self.peekDeadline = self.now + UInt64(snapshot.peekTimeout.nanoseconds)
                self.armTimer()
            case .connect:
                self.connectToServer()
            }
        }
    }

    /// Adds the client socket to the epoll set; on failure ends the connection and returns `false`.
    private func registerClient() -> Bool {
        guard let error = self.register(.client) else { return true }
        self.refused = true
        self.endReason = .notWatched("\(error)")
        self.machine.answering()
        self.closeLeg(.client)
        return false
    }

    // MARK: PROXY header (accept_proxy)

    /// Reads the client's first bytes for the ``ProxyHeaderGate`` before anything else (``begin(active:registered:)``
    /// waits for the client address it decides), within `peek_timeout`.
    private func awaitProxyHeader(active: Int) {
        guard let snapshot = self.snapshot, self.registerClient() else { return }
        self.proxyGate = ProxyHeaderGate(source: self.peer?.socketAddress, networks: snapshot.configuration.acceptProxy)
        self.activeAtAccept = active
        self.peekDeadline = self.now + UInt64(snapshot.peekTimeout.nanoseconds)
        self.armTimer()
    }

    private func readProxyHeader() {
        while let gate = self.proxyGate, self.client.readable, !self.client.inputDone, self.clientMayRead() {
            switch self.read(.client, large: false) {
            case .data(var bytes, let endOfFile):
                if var held = self.proxyBytes {
                    held.writeBuffer(&bytes)
                    self.state.buffers.give(bytes)
                    bytes = held
                }
                self.proxyBytes = bytes
                switch gate.examine(bytes) {
                case .needMore:
                    if endOfFile { self.proxyHeaderEnded(byClose: true) }
                case .proxied(let client, let length):
                    self.passProxyHeader(client: client, length: length)
                    if endOfFile { self.endOfFile(.client) }
                case .plain:
                    self.passProxyHeader(client: nil, length: 0)
                    if endOfFile { self.endOfFile(.client) }
                case .refuse(let reason):
                    self.refuseProxyHeader(reason)
                }
            case .endOfFile:
                self.proxyHeaderEnded(byClose: true)
            case .wouldBlock:
                return
            case .failed(let error):
                self.refuseProxyHeader("reading the PROXY protocol header failed: \(error.operatorText)")
            }
        }
    }

    /// The gate let the connection in: the header's address (if any) is the client's from now on; the bytes after
    /// the header are the client's first.
    private func passProxyHeader(client: SocketAddress?, length: Int) {
        self.proxyGate = nil
        self.peekDeadline = 0
        if let client, let address = PeerAddress(client) { self.peer = address }
        self.begin(active: self.activeAtAccept, registered: true)
        guard var rest = self.proxyBytes else { return }
        self.proxyBytes = nil
        rest.moveReaderIndex(forwardBy: length)
        guard rest.readableBytes > 0, self.client.isOpen else {
            self.state.buffers.give(rest)
            return
        }
        switch self.machine.clientRead(rest) {
        case .inspect(let all):
            self.inspect(all)
        case .forward:
            self.forwardUpstream(rest)
        case .held, .discard:
            break
        }
    }

    private func refuseProxyHeader(_ reason: String) {
        self.proxyGate = nil
        self.peekDeadline = 0
        let received = self.proxyBytes?.readableBytes ?? 0
        if let bytes = self.proxyBytes { self.state.buffers.give(bytes) }
        self.proxyBytes = nil
        self.service?.proxyHeaderRefused(client: self.peer?.socketAddress, reason: reason, received: received)
        self.refused = true
        self.endReason = .proxyHeaderRefused(reason)
        self.machine.answering()
        self.closeLeg(.client)
    }

    /// The client closed (`byClose`) or the header's deadline passed before the gate decided: the gate says whether
    /// that refuses the connection or lets it in without a header.
    private func proxyHeaderEnded(byClose: Bool) {
        guard let gate = self.proxyGate else { return }
        let received = self.proxyBytes?.readableBytes ?? 0
        if let reason = byClose ? gate.closedEarly(received: received) : gate.timedOut(received: received) {
            self.refuseProxyHeader(reason)
        } else {
            self.passProxyHeader(client: nil, length: 0)
            if byClose { self.endOfFile(.client) }
        }
    }

    /// Adds a leg's socket to the reactor's epoll set, for input and output, edge-triggered: once, until it closes.
    private func register(_ side: ConnectionSide) -> Errno? {
        let descriptor = side == .client ? self.client.descriptor : self.server.descriptor
        let tag = EventTag(side == .client ? .client : .server, index: self.index, generation: self.generation)
        return SystemCall.epollAdd(
            self.reactor.epoll, descriptor,
            events: EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue, data: tag.raw)
    }

    // MARK: events

    /// An epoll event for one of the legs (the reactor runs the connection once its batch of events is noted).
    func note(_ kind: EventTag.Kind, events: UInt32) {
        if kind == .client {
            self.client.note(events)
        } else {
            self.server.note(events)
        }
    }

    /// Makes all the progress the sockets allow.
    func run() {
        guard self.inUse else { return }
        if self.serverConnecting, self.server.writable || self.server.hungUp {
            self.checkConnect()
        }
        self.flush(.client)
        self.flush(.server)
        if self.proxyGate != nil { self.readProxyHeader() }
        switch self.machine.state {
        case .peeking:
            self.readPeek()
        case .connecting:
            // The client is read once the server leg is up; a reset client is noticed now.
            if self.client.hungUp { self.readPeek() }
        case .forwarding:
            self.forward()
        case .answering:
            self.readAndDiscard()
        case .idle, .ending, .ended:
            break
        }
        self.reportBytesIfLarge()
        self.finishIfClosed()
    }

    // MARK: reading

    private enum ReadResult {
        /// Bytes; `endOfFile` when the read came back short after the peer's FIN (nothing else can follow).
        case data(ByteBuffer, endOfFile: Bool)
        case endOfFile
        case wouldBlock
        case failed(Errno)
    }

    private func read(_ side: ConnectionSide, large: Bool) -> ReadResult {
        var buffer = self.state.buffers.take(large: large)
        let descriptor = side == .client ? self.client.descriptor : self.server.descriptor
        var outcome = IOOutcome.wouldBlock
        let capacity = buffer.writableBytes
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { bytes in
            outcome = SystemCall.read(descriptor, into: bytes)
            if case .done(let count) = outcome { return count }
            return 0
        }
        switch outcome {
        case .done(let count):
            var endOfFile = false
            if count < capacity {
                // A short read emptied the socket (HAProxy's raw_sock does the same): no read until the next edge.
                self.withLeg(side) { leg in
                    leg.readable = false
                    endOfFile = leg.peerShut
                }
            }
            return .data(buffer, endOfFile: endOfFile)
        case .closed:
            self.state.buffers.give(buffer)
            return .endOfFile
        case .wouldBlock:
            self.state.buffers.give(buffer)
            self.withLeg(side) { $0.readable = false }
            return .wouldBlock
        case .failed(let error):
            self.state.buffers.give(buffer)
            return .failed(error)
        }
    }

    /// Whether the client may be read now: not while the audit log is not accepting (``AuditLog/isAccepting``) —
    /// its bytes would make records the log cannot take yet. The connection then waits for the log's call back; the
    /// server leg keeps being read, so work under way ends. The NIO engine's `ProxyConnection` does the same.
    private func clientMayRead() -> Bool {
        guard !self.waitingForAudit else { return false }
        guard let audit = self.service?.audit, !audit.isAccepting else { return true }
        self.waitingForAudit = true
        let reactor = self.reactor
        let (index, generation) = (self.index, self.generation)
        audit.whenAccepting {
            reactor.execute { reactor.state.auditResumed(index: index, generation: generation) }
        }
        return false
    }

    /// The audit log accepts again (the reactor runs the connection next).
    func auditResumed() {
        self.waitingForAudit = false
    }

    /// The peek phase: every read is added to what the inspector sees until it decides.
    private func readPeek() {
        self.readClient(while: { (self.machine.isPeeking || self.machine.isConnecting) && self.clientMayRead() }) {
            switch self.machine.clientRead($0) {
            case .inspect(let all):
                self.inspect(all)
            case .held, .forward, .discard:
                break
            }
        }
    }

    /// While answering: the client's bytes are read and dropped until it closes.
    private func readAndDiscard() {
        self.readClient(while: { self.client.isOpen }) { self.state.buffers.give($0) }
    }

    /// Reads the client in small buffers while it has bytes and `more()` holds, handing each read to `take` (and
    /// then the end of input that came with it, if any).
    private func readClient(while more: () -> Bool, _ take: (ByteBuffer) -> Void) {
        while self.client.readable, !self.client.inputDone, more() {
            switch self.read(.client, large: false) {
            case .data(let bytes, let endOfFile):
                take(bytes)
                if endOfFile { self.endOfFile(.client) }
            case .endOfFile:
                self.endOfFile(.client)
            case .wouldBlock:
                return
            case .failed(let error):
                self.legFailed(.client, error)
            }
        }
    }

    // MARK: forwarding

    /// Most bytes moved per run before other connections get their turn.
    private static let budgetPerRun = 1 << 20

    private func forward() {
        var budget = Self.budgetPerRun
        var progress = true
        while progress, budget > 0, self.machine.isForwarding {
            progress = false
            if self.canMove(from: .client), self.clientMayRead() {
                progress = self.move(from: .client, &budget) || progress
            }
            if self.machine.isForwarding, self.canMove(from: .server) {
                progress = self.move(from: .server, &budget) || progress
            }
        }
        if budget <= 0 { self.state.requeue(self) }
    }

    /// Whether to read from `side` now: it has bytes, and the other side is open and holds nothing unwritten.
    private func canMove(from side: ConnectionSide) -> Bool {
        let readable = self.withLeg(side) { $0.readable && !$0.inputDone && $0.isOpen }
        return readable
            && self.withLeg(side.other) { $0.isOpen && !$0.outputShut && $0.afterFlush == .nothing && $0.isDrained }
    }

    /// One read (or splice) from `side` and its forwarding to the other leg.
    private func move(from side: ConnectionSide, _ budget: inout Int) -> Bool {
        if self.splicing[side] {
            return self.splice(from: side, to: side.other, budget: &budget)
        }
        switch self.read(side, large: self.largeReads[side]) {
        case .data(let bytes, let endOfFile):
            let count = bytes.readableBytes
            budget -= count
            self.lastActivity = self.now
            self.count(count, from: side)
            let passthrough = side == .client ? self.upstreamHandling == .passthrough : !self.observesDownstream
            self.adaptReads(count, capacity: bytes.capacity, passthrough: passthrough, from: side)
            if side == .client {
                self.forwardUpstream(bytes)
            } else {
                if self.observesDownstream { self.inspector?.downstream(bytes) }
                self.send(.client, bytes)
            }
            if endOfFile { self.endOfFile(side) }
        case .endOfFile:
            self.endOfFile(side)
        case .wouldBlock:
            return false
        case .failed(let error):
            self.legFailed(side, error)
        }
        return true
    }

    private func count(_ bytes: Int, from side: ConnectionSide) {
        self.moved[side] += bytes
        self.unreported[side] += bytes
    }

    /// A read that filled its buffer means a bulk transfer: bytes nobody inspects are spliced from then on, inspected
    /// ones read in large buffers; small reads go back to small buffers.
    private func adaptReads(_ count: Int, capacity: Int, passthrough: Bool, from side: ConnectionSide) {
        if count == capacity {
            if passthrough, self.state.spliceEnabled {
                self.splicing[side] = true
            } else {
                self.largeReads[side] = true
            }
        } else if count < BufferPool.smallSize / 2 {
            self.largeReads[side] = false
        }
    }

    /// Client bytes after the verdict, as the inspector asked to see them.
    private func forwardUpstream(_ bytes: ByteBuffer) {
        switch self.upstreamHandling {
        case .passthrough:
            self.send(.server, bytes)
        case .observe:
            self.inspector?.upstream(bytes)
            self.send(.server, bytes)
        case .filter:
            self.inspector?.filterUpstream(bytes, sink: UpstreamSink(self))
            self.flush(.server)
        }
    }

    /// Moves bytes from one socket to the other through a pipe of the reactor's pool, never into user space.
    private func splice(from source: ConnectionSide, to destination: ConnectionSide, budget: inout Int) -> Bool {
        var pipe: Pipe
        if let existing = self.withLeg(destination, { $0.pipe }) {
            pipe = existing
        } else if let fresh = self.state.pipes.take() {
            pipe = fresh
        } else {
            // No pipe to be had (limit, or out of descriptors): copy through buffers instead.
            self.splicing[source] = false
            return true
        }
        let sourceDescriptor = self.withLeg(source) { $0.descriptor }
        let chunk = 64 * 1024
        let outcome = SystemCall.splice(from: sourceDescriptor, to: pipe.writeEnd, count: chunk)
        var endOfFile = false
        var failure: Errno?
        switch outcome {
        case .done(let count):
            pipe.count += count
            budget -= count
            self.state.splicedBytes += count
            self.lastActivity = self.now
            self.count(count, from: source)
            if count < chunk {
                self.withLeg(source) { leg in
                    leg.readable = false
                    endOfFile = leg.peerShut
                }
            }
        case .closed:
            endOfFile = true
        case .wouldBlock:
            // An empty socket, or a full pipe: either way wait (the pipe drains as the destination takes it).
            if pipe.count == 0 { self.withLeg(source) { $0.readable = false } }
        case .failed(let error):
            failure = error
        }
        if pipe.count > 0 {
            self.withLeg(destination) { $0.pipe = pipe }
            self.flush(destination)
        } else {
            self.state.pipes.give(pipe)
            self.withLeg(destination) { $0.pipe = nil }
        }
        if let failure {
            self.legFailed(source, failure)
        } else if endOfFile {
            self.endOfFile(source)
        } else if case .wouldBlock = outcome {
            return false
        }
        return true
    }

    // MARK: writing

    /// Queues `bytes` for a leg and writes what the socket takes now.
    private func send(_ side: ConnectionSide, _ bytes: ByteBuffer) {
        self.enqueue(side, bytes)
        self.flush(side)
    }

    private func enqueue(_ side: ConnectionSide, _ bytes: ByteBuffer) {
        guard self.withLeg(side, { $0.isOpen }) else {
            self.state.buffers.give(bytes)
            return
        }
        self.withLeg(side) { $0.output.append(bytes) }
    }

    /// Writes what is queued for a leg while its socket takes it; once drained, does what was waiting for that
    /// (FIN, close).
    private func flush(_ side: ConnectionSide) {
        let (open, writable, drained, queued) = self.withLeg(side) {
            ($0.isOpen, $0.writable, $0.isDrained, !$0.output.isEmpty)
        }
        guard open else { return }
        if writable, !drained {
            let failure = queued ? self.writeQueue(side) : self.writePipe(side)
            if let failure {
                self.legFailed(side, failure)
                return
            }
        }
        let after = self.withLeg(side) { $0.isDrained ? $0.afterFlush : .nothing }
        switch after {
        case .nothing:
            break
        case .shutDownOutput:
            self.withLeg(side) { leg in
                leg.afterFlush = .nothing
                leg.outputShut = true
                _ = SystemCall.shutdownOutput(leg.descriptor)
            }
        case .close:
            self.closeLeg(side)
        }
    }

    /// Writes a leg's queued buffers; returns the failure, if any.
    private func writeQueue(_ side: ConnectionSide) -> Errno? {
        self.withLeg(side) { leg in
            switch leg.output.write(to: leg.descriptor, pool: &self.state.buffers) {
            case .done:
                if !leg.output.isEmpty { leg.writable = false }
            case .wouldBlock, .closed:
                leg.writable = false
            case .failed(let error):
                return error
            }
            return nil
        }
    }

    /// Splices a leg's pipe into its socket; returns the failure, if any.
    private func writePipe(_ side: ConnectionSide) -> Errno? {
        self.withLeg(side) { leg in
            guard var pipe = leg.pipe else { return nil }
            var failure: Errno?
            switch SystemCall.splice(from: pipe.readEnd, to: leg.descriptor, count: pipe.count) {
            case .done(let count):
                pipe.count -= count
                if pipe.count > 0 { leg.writable = false }
            case .wouldBlock, .closed:
                leg.writable = false
            case .failed(let error):
                failure = error
            }
            if pipe.count == 0 {
                self.state.pipes.give(pipe)
                leg.pipe = nil
            } else {
                leg.pipe = pipe
            }
            return failure
        }
    }

    /// Ends a leg's output once everything queued for it is written: FIN only, or close (``OutputCloser``'s two
    /// modes).
    private func finishOutput(_ side: ConnectionSide, close: Bool) {
        guard self.withLeg(side, { $0.isOpen }) else { return }
        self.withLeg(side) { leg in
            if close {
                leg.afterFlush = .close
            } else if !leg.outputShut, leg.afterFlush == .nothing {
                leg.afterFlush = .shutDownOutput
            }
        }
        self.flush(side)
    }

    // MARK: peek

    private func inspect(_ all: ByteBuffer) {
        guard let inspector = self.inspector else { return }
        switch self.machine.peeked(all, by: inspector) {
        case .wait:
            break
        case .connect(let routing):
            self.peekDeadline = 0
            self.routing = routing
            self.connectToServer()
        case .answer(let rejection):
            self.peekDeadline = 0
            self.answer(rejection)
        }
    }

    private func peekFailed(_ failure: PeekFailure) {
        guard self.machine.isPeeking, let inspector = self.inspector else { return }
        self.peekDeadline = 0
        self.answer(inspector.peekFailed(failure))
    }

    // MARK: connect

    private func connectToServer() {
        guard let service = self.service, let snapshot = self.snapshot else { return }
        guard
            let selection = service.selectServer(
                snapshot: snapshot, routing: self.routing, clientKey: self.clientKey, tried: self.tried)
        else {
            self.refuse(ServiceRuntime.unavailable(afterTrying: self.tried.count, exhaustion: self.exhaustion))
            return
        }
        self.serverIdentity = ServerIdentity(label: selection.label, endpoint: selection.endpoint)
        self.connectDeadline = self.now + UInt64(snapshot.connectTimeout.nanoseconds)
        self.armTimer()
        if let address = selection.endpoint.socketAddress.flatMap(PeerAddress.init) {
            self.openServerLeg(to: address)
        } else {
            // A host name: resolved off the reactor, then connected here (if the connection still waits for it).
            let generation = self.generation
            self.state.resolve(selection.endpoint) { [self] address in
                guard self.inUse, self.generation == generation, self.machine.isConnecting, self.connectDeadline > 0,
                    !self.server.isOpen
                else { return }
                if let address {
                    self.openServerLeg(to: address)
                } else {
                    self.connectFailed(why: "cannot resolve host name '\(selection.endpoint.host)'")
                }
                self.finishIfClosed()
            }
        }
    }

    private func openServerLeg(to address: PeerAddress) {
        let leg = self.serverIdentity.flatMap { self.snapshot?.source(of: $0, client: self.peer?.socketAddress) }
        let source = leg.flatMap { PeerAddress($0.address) }
        let transparent = leg?.transparent ?? false
        // A transparent source is the client's own address: a failed bind there is no source-port exhaustion.
        self.serverSource = transparent ? nil : source
        switch BackendSocket.open(to: address, from: source, transparent: transparent) {
        case .failure(let error):
            self.connectFailed(error)
        case .success(let (descriptor, outcome)):
            self.server.descriptor = descriptor
            if let error = self.register(.server) {
                self.closeLeg(.server)
                self.connectFailed(error)
                return
            }
            switch outcome {
            case .connected:
                self.server.writable = true
                self.serverConnected()
            case .inProgress:
                self.serverConnecting = true
            case .failed(let error):
                self.closeLeg(.server)
                self.connectFailed(error)
            }
        }
    }

    /// The server socket became writable or reported an error while connecting.
    private func checkConnect() {
        if self.server.hungUp, let error = SystemCall.pendingError(self.server.descriptor) {
            self.connectFailed(error)
            return
        }
        self.serverConnected()
    }

    private func connectFailed(_ error: Errno) {
        if let source = self.serverSource,
            let exhaustion = SourceBinding.exhaustion(errno: error.code, source: source.socketAddress.ipAddress ?? "?")
        {
            self.exhaustion = exhaustion
            self.connectFailed(why: exhaustion)
        } else {
            self.connectFailed(why: error.operatorText)
        }
    }

    private func connectFailed(why: String) {
        self.connectDeadline = 0
        if self.server.isOpen { self.closeLeg(.server) }
        self.serverConnecting = false
        guard let identity = self.serverIdentity, let service = self.service else { return }
        self.tried.append(identity.label)
        self.serverIdentity = nil
        service.connectFailed(to: identity, why: why, client: self.clientDescription)
        guard self.machine.isConnecting else { return }
        self.connectToServer()
    }

    private func serverConnected() {
        self.serverConnecting = false
        self.connectDeadline = 0
        switch self.machine.connected() {
        case .closeServer:
            self.closeLeg(.server)
        case .startForwarding(let pending, let clientInputClosed):
            self.lastActivity = self.now
            if let identity = self.serverIdentity {
                self.inspector?.forwarding(to: identity)
                let descriptor = self.client.descriptor
                if let header = self.snapshot?.proxyHeader(
                    to: identity, client: self.peer?.socketAddress,
                    destination: SystemCall.localAddress(descriptor)?.socketAddress, inspector: self.inspector)
                {
                    self.send(.server, header)
                }
            }
            if let pending, pending.readableBytes > 0 {
                self.count(pending.readableBytes, from: .client)
                self.forwardUpstream(pending)
            }
            if clientInputClosed {
                self.finishOutput(.server, close: false)
            }
            self.idleArmed = true
            self.armTimer()
        }
    }

    // MARK: ends of input

    /// `side` sent FIN (or its socket reported the end of its input).
    private func endOfFile(_ side: ConnectionSide) {
        self.withLeg(side) { leg in
            leg.inputDone = true
            leg.readable = false
        }
        switch side == .client ? self.machine.clientInputClosed() : self.machine.serverInputClosed() {
        case .none:
            break
        case .peekFailed:
            self.peekFailed(.clientClosed)
        case .shutdownOtherOutput:
            if self.inspector?.halfClosed(by: side) == .terminate {
                self.endReason = .halfClosed(by: side)
                self.abort(failedSide: side)
            } else {
                self.finishOutput(side.other, close: false)
            }
        case .closeBoth:
            self.endReason = .closedByBothSides
            self.closeBothAfterFlush()
        case .closeClient:
            self.finishOutput(.client, close: true)
        }
    }

    private func closeBothAfterFlush() {
        // No linger: both sides ended cleanly and the last bytes may take a while to reach a slow reader. The idle
        // timer still runs, so a peer that never reads them is cut off after the idle timeout.
        self.finishOutput(.client, close: true)
        self.finishOutput(.server, close: true)
    }

    // MARK: ending

    /// A read or write on a leg failed: close it and end the connection with the protocol's last words to the other.
    private func legFailed(_ side: ConnectionSide, _ error: Errno) {
        switch self.machine.state {
        case .ending, .ended:
            break  // the reason it is ending stands (a write of last words to a vanished peer fails, say)
        default:
            self.endReason = .failed(side, error.operatorText)
        }
        self.withLeg(side) { leg in
            leg.inputDone = true
            leg.readable = false
        }
        self.closeLeg(side)
        self.abort(failedSide: side)
    }

    /// One side failed or ended without the other (``ProxyConnection``'s `legFailed`).
    private func abort(failedSide side: ConnectionSide) {
        let why = self.endReason.description
        self.endEarly(closing: side == .client ? .clientFailed(why) : .serverFailed(why))
    }

    /// Ends the connection before both sides are done, as the machine says: nothing more, close the client, or close
    /// both after the inspector's last words for `reason` (an A-ABORT).
    private func endEarly(closing reason: CloseReason) {
        switch self.machine.legFailed() {
        case .none:
            break
        case .closeClient:
            self.closeLeg(.client)
        case .terminate:
            self.sayLastWordsAndClose(self.inspector?.closing(reason) ?? ClosingWords())
        }
    }

    /// The gateway ends the connection (idle timeout, shutdown, the inspector asked).
    func terminate(_ reason: CloseReason) {
        guard self.inUse else { return }
        self.endReason = .terminated(reason)
        if self.machine.isPeeking, let inspector = self.inspector {
            self.peekDeadline = 0
            self.answer(inspector.peekFailed(.timeout))
        } else {
            self.endEarly(closing: reason)
        }
        self.finishIfClosed()
    }

    /// Closes both sockets now, whatever is unwritten (the reactor is stopping).
    func abandon() {
        guard self.inUse else { return }
        self.closeLeg(.client)
        self.closeLeg(.server)
        self.finishIfClosed()
    }

    private func sayLastWordsAndClose(_ words: ClosingWords) {
        if self.server.isOpen {
            if let bytes = words.toServer { self.enqueue(.server, bytes) }
            self.finishOutput(.server, close: true)
        }
        if self.client.isOpen {
            if let bytes = words.toClient { self.enqueue(.client, bytes) }
            self.finishOutput(.client, close: true)
        }
        self.armLinger()
    }

    /// Answers the client without forwarding (rejection, refusal, peek failure).
    private func answer(_ rejection: Rejection) {
        self.refused = true
        self.endReason = .rejected(rejection.reason)
        self.service?.stats.refusedOne()
        self.machine.answering()
        if let bytes = rejection.answer { self.enqueue(.client, bytes) }
        // After A-ASSOCIATE-RJ / A-ABORT PS3.8 has the requester close the transport (the acceptor waits with ARTIM
        // running): half-close and wait for it, up to the linger.
        self.finishOutput(.client, close: !rejection.waitForClientClose)
        self.armLinger()
    }

    private func refuse(_ reason: UnavailableReason) {
        if let inspector = self.inspector {
            self.answer(inspector.unavailable(reason))
        } else {
            self.refused = true
            self.endReason = .unavailable(reason)
            self.service?.stats.refusedOne()
            self.machine.answering()
            self.closeLeg(.client)
        }
    }

    /// Closes a leg's socket now (the kernel drops it from the epoll set) and gives back what it held.
    private func closeLeg(_ side: ConnectionSide) {
        guard self.withLeg(side, { $0.isOpen }) else { return }
        self.withLeg(side) { leg in
            SystemCall.close(leg.descriptor)
            leg.descriptor = -1
            leg.readable = false
            leg.writable = false
            leg.afterFlush = .nothing
            leg.output.discard(pool: &self.state.buffers)
            if let pipe = leg.pipe {
                self.state.pipes.give(pipe)
                leg.pipe = nil
            }
        }
        if side == .server { self.serverConnecting = false }
        self.state.descriptorsReleased()
    }

    // MARK: timers

    /// Keeps one timer entry at the earliest of the connection's deadlines. Later ones wait until it fires;
    /// entries made stale by a change are ignored when they fire.
    private func armTimer() {
        var next = UInt64.max
        if self.peekDeadline > 0 { next = min(next, self.peekDeadline) }
        if self.connectDeadline > 0 { next = min(next, self.connectDeadline) }
        if self.lingerDeadline > 0 { next = min(next, self.lingerDeadline) }
        if self.idleArmed, let snapshot = self.snapshot {
            next = min(next, self.lastActivity + UInt64(snapshot.idleTimeout.nanoseconds))
        }
        guard next != .max, self.timerAt == 0 || next < self.timerAt else { return }
        self.timerAt = next
        self.state.timers.push(next, .connection(index: self.index, generation: self.generation))
    }

    /// The timer entry for `deadline` fired.
    func timerFired(deadline: UInt64) {
        guard self.inUse, deadline == self.timerAt, let snapshot = self.snapshot else { return }
        self.timerAt = 0
        let now = self.now
        if self.peekDeadline > 0, now >= self.peekDeadline {
            self.peekDeadline = 0
            if self.proxyGate != nil {
                self.proxyHeaderEnded(byClose: false)
            } else {
                self.peekFailed(.timeout)
            }
        }
        if self.connectDeadline > 0, now >= self.connectDeadline {
            self.connectFailed(Errno(code: ETIMEDOUT))
        }
        if self.lingerDeadline > 0, now >= self.lingerDeadline {
            self.lingerDeadline = 0
            self.closeLeg(.client)
            self.closeLeg(.server)
        }
        if self.idleArmed, now >= self.lastActivity + UInt64(snapshot.idleTimeout.nanoseconds) {
            self.idleExpired()
        } else if self.idleArmed {
            self.reportBytes()
        }
        if self.inUse {
            self.finishIfClosed()
        }
        if self.inUse {
            self.armTimer()
        }
    }

    private func idleExpired() {
        guard self.machine.isForwardingOrEnding else {
            self.idleArmed = false
            return
        }
        self.reportBytes()
        if self.machine.isForwarding {
            self.terminate(.idleTimeout)
        } else {
            // Ending, but a peer stopped reading the last bytes: give up on them.
            self.endReason = .lastBytesUnread(after: self.endReason)
            self.closeLeg(.client)
            self.closeLeg(.server)
        }
    }

    private func armLinger() {
        guard self.lingerDeadline == 0, let snapshot = self.snapshot else { return }
        self.lingerDeadline = self.now + UInt64(snapshot.closeLinger.nanoseconds)
        self.armTimer()
    }

    // MARK: end

    private func finishIfClosed() {
        guard self.inUse, !self.client.isOpen, !self.server.isOpen, self.machine.ended() else { return }
        guard let service = self.service, let registry = self.registry else { return }
        self.reportBytes()
        let duration = Duration.nanoseconds(Int64(self.now &- self.acceptedAt))
        let endReason = self.endReason.description
        let finished = self.inspector.flatMap { inspector in
            inspector.finished(
                ConnectionSummary(
                    service: service.label, client: self.clientDescription, server: self.serverIdentity,
                    bytesUp: self.moved.up, bytesDown: self.moved.down, duration: duration, endReason: endReason,
                    refused: self.refused))
        }
        self.inspector = nil
        let ended = EndedConnection(
            service: service, registry: registry, limitKey: self.limitKey, peer: self.peer, server: self.serverIdentity,
            bytesUp: self.moved.up, bytesDown: self.moved.down, duration: duration, endReason: endReason)
        if let finished {
            // The inspector's audit record must be durable first; its future completes on this reactor.
            finished.whenComplete { _ in ended.release() }
        } else {
            ended.release()
        }
        self.free()
    }

    /// Back to the reactor's free slots, with a new generation so stale events and timers miss it.
    private func free() {
        self.generation &+= 1
        self.inUse = false
        self.service = nil
        self.snapshot = nil
        self.registry = nil
        self.inspector = nil
        self.machine = ConnectionStateMachine()
        self.upstreamHandling = .passthrough
        self.observesDownstream = false
        self.client.reset()
        self.server.reset()
        self.peer = nil
        self.clientKey = nil
        self.limitKey = nil
        self.serverIdentity = nil
        self.serverConnecting = false
        self.routing = .any
        self.tried = []
        self.exhaustion = nil
        self.serverSource = nil
        self.splicing = PerDirection(false)
        self.largeReads = PerDirection(false)
        self.peekDeadline = 0
        self.connectDeadline = 0
        self.lingerDeadline = 0
        self.idleArmed = false
        self.timerAt = 0
        self.moved = PerDirection(0)
        self.unreported = PerDirection(0)
        self.endReason = .closed
        self.refused = false
        self.waitingForAudit = false
        self.proxyGate = nil
        if let bytes = self.proxyBytes { self.state.buffers.give(bytes) }
        self.proxyBytes = nil
        self.state.free(self)
    }

    private var clientDescription: String { self.peer?.logDescription ?? "?" }

    private func reportBytesIfLarge() {
        if self.unreported.up + self.unreported.down >= 1 << 16 { self.reportBytes() }
    }

    private func reportBytes() {
        guard self.unreported.up + self.unreported.down > 0 else { return }
        self.service?.stats.add(up: self.unreported.up, down: self.unreported.down)
        self.unreported = PerDirection(0)
    }

    /// Bytes held for this connection's sockets (the registry's backpressure check).
    var heldBytes: Int { self.client.heldBytes + self.server.heldBytes }

    /// Whether this slot serves the service `service` identifies now.
    func serves(_ service: ObjectIdentifier) -> Bool {
        self.inUse && self.service.map { ObjectIdentifier($0) == service } == true
    }

    // MARK: legs

    private func withLeg<T>(_ side: ConnectionSide, _ body: (inout Leg) -> T) -> T {
        side == .client ? body(&self.client) : body(&self.server)
    }
}

/// What is left of a connection once its sockets are closed and its slot is free: the bookkeeping done when its
/// audit records are written (``ConnectionBookkeeping``).
private struct EndedConnection: Sendable {
    let service: ServiceRuntime
    let registry: NativeServiceConnections
    let limitKey: StickKey?
    let peer: PeerAddress?
    let server: ServerIdentity?
    let bytesUp: Int
    let bytesDown: Int
    let duration: Duration
    let endReason: String

    func release() {
        if let limitKey { self.service.connections.removeClient(limitKey) }
        self.registry.closed()
        self.service.connectionReleased(
            server: self.server, client: self.peer?.logDescription ?? "?", bytesUp: self.bytesUp,
            bytesDown: self.bytesDown, duration: self.duration, endReason: self.endReason)
    }
}

extension ConnectionSide {
    /// The other leg.
    var other: ConnectionSide { self == .client ? .server : .client }
}

/// A value for each direction of a connection, named by the side its bytes are read from: `up` is read from the
/// client, `down` from the server.
struct PerDirection<Value> {
    var up: Value
    var down: Value

    init(_ value: Value) {
        self.up = value
        self.down = value
    }

    subscript(_ side: ConnectionSide) -> Value {
        get { side == .client ? self.up : self.down }
        set {
            if side == .client { self.up = newValue } else { self.down = newValue }
        }
    }
}

extension NativeConnection: UpstreamSinkTarget {
    func sinkForward(_ data: ByteBuffer) {
        self.enqueue(.server, data)
    }

    func sinkReply(_ data: ByteBuffer) {
        self.send(.client, data)
    }

    func sinkClose(reason: String) {
        self.terminate(.inspectorRequested(reason))
    }
}

@available(*, unavailable)
extension NativeConnection: Sendable {}
#endif

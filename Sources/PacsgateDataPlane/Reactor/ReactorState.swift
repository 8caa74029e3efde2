#if os(Linux)
import CPacsgateDataPlane
import Glibc
import Logging
import NIOCore
import PacsgateCore

/// What a reactor owns, touched only by its thread: connection slots, listeners, buffer and pipe pools, timers, the
/// spare descriptor.
final class ReactorState {
    /// Set when the loop starts. Unowned and unchecked: the reactor owns this state and outlives it, and the loop
    /// that reads it runs on the reactor's own thread.
    unowned(unsafe) var reactor: Reactor?
    let logger: Logger
    /// Monotonic nanoseconds, read once per loop iteration (a connection's activity is stamped with it).
    var now: UInt64 = 0
    var timers = TimerHeap()
    /// Bytes moved with splice(2) since start (tests and A/B measurements).
    var splicedBytes = 0
    var buffers = BufferPool()
    var pipes = PipePool()
    /// Splice bytes nobody inspects once a transfer fills a read buffer (on unless `PACSGATE_NATIVE_SPLICE=0`, kept
    /// for A/B measurements).
    let spliceEnabled: Bool

    private var tasks: [UInt64: ScheduledTask] = [:]
    private var slots: [NativeConnection] = []
    private var freeSlots: [UInt32] = []
    private var ready: [NativeConnection] = []
    private var listeners: [ReactorListener?] = []
    private var readyListeners: [ReactorListener] = []
    private var resolutions: [UInt64: (PeerAddress?) -> Void] = [:]
    private var nextResolution: UInt64 = 0

    /// A descriptor held in reserve: when accept fails for lack of descriptors it is closed, the waiting client
    /// accepted and closed at once, and the spare opened again.
    private var spare: Int32
    /// Accepting is paused after running out of descriptors, until this deadline (0: not paused).
    private var acceptPausedUntil: UInt64 = 0
    private var lastExhaustionLog: UInt64 = 0
    private var stopping = false
    private var refusedSinceLog = 0
    private var acceptFailuresSinceLog = 0
    /// Audit logs this reactor waits on (``AuditLog/whenAccepting(_:)``) before accepting again: their listeners
    /// stay readable and are tried once the log calls back. The log itself is held, not only its identifier: a log
    /// that stops while full never calls back, and were it freed, a new log at the same address (a reload's, or the
    /// next gateway's in one test process) would be taken for one already waited on and never be registered.
    private var auditWaits: [ObjectIdentifier: AuditLog] = [:]

    init(logger: Logger) {
        self.logger = logger
        self.spare = SystemCall.openSpare()
        if let value = getenv("PACSGATE_NATIVE_SPLICE") {
            self.spliceEnabled = String(cString: value) != "0"
        } else {
            self.spliceEnabled = true
        }
    }

    // MARK: the loop's steps

    /// How long `epoll_wait` may block: not at all while work is ready, else until the next timer.
    func pollTimeout(hasTasks: Bool) -> Int32 {
        if hasTasks || !self.ready.isEmpty || !self.readyListeners.isEmpty { return 0 }
        guard let next = self.timers.nextDeadline else { return -1 }
        if next <= self.now { return 0 }
        let milliseconds = (next - self.now + 999_999) / 1_000_000
        return Int32(clamping: milliseconds)
    }

    func connectionEvent(_ tag: EventTag, events: UInt32) {
        let index = Int(tag.index)
        guard index < self.slots.count else { return }
        let connection = self.slots[index]
        guard connection.inUse, connection.generation == tag.generation else { return }  // a stale event
        connection.note(tag.kind, events: events)
        self.requeue(connection)
    }

    /// Runs `connection` in this iteration's ready pass (once, however many events it had).
    func requeue(_ connection: NativeConnection) {
        guard !connection.queued else { return }
        connection.queued = true
        self.ready.append(connection)
    }

    func runTimers(_ reactor: Reactor) {
        while let entry = self.timers.popExpired(now: self.now) {
            switch entry.target {
            case .connection(let index, let generation):
                let connection = self.slots[Int(index)]
                if connection.generation == generation { connection.timerFired(deadline: entry.deadline) }
            case .task(let id):
                self.tasks.removeValue(forKey: id)?.run()
            case .resumeAccepting:
                self.resumeAccepting()
            }
        }
    }

    func runReady() {
        if !self.readyListeners.isEmpty, self.acceptPausedUntil == 0 {
            let listeners = self.readyListeners
            self.readyListeners.removeAll(keepingCapacity: true)
            for listener in listeners {
                listener.queued = false
                self.acceptBatch(listener)
            }
        }
        // One pass: a connection that used its budget and queued itself again waits for the next iteration (after
        // an epoll_wait that does not block), so new events are seen between its bursts.
        let batch = self.ready
        self.ready.removeAll(keepingCapacity: true)
        for connection in batch {
            connection.queued = false
            connection.run()
        }
    }

    // MARK: scheduled tasks

    func schedule(_ task: ScheduledTask, id: UInt64, deadline: NIODeadline) {
        self.tasks[id] = task
        self.timers.push(deadline.uptimeNanoseconds, .task(id))
    }

    func cancel(id: UInt64) {
        self.tasks.removeValue(forKey: id)?.cancel()
    }

    // MARK: slots

    func allocate() -> NativeConnection? {
        if let index = self.freeSlots.popLast() { return self.slots[Int(index)] }
        guard self.slots.count < 0x3FFF_FFFF, let reactor = self.reactor else { return nil }
        let connection = NativeConnection(index: UInt32(self.slots.count), reactor: reactor)
        self.slots.append(connection)
        return connection
    }

    func free(_ connection: NativeConnection) {
        self.freeSlots.append(connection.index)
    }

    /// Slots in use now.
    var openConnections: Int { self.slots.count - self.freeSlots.count }

    /// Calls `body` for every connection of the service `service` identifies.
    func forEachConnection(of service: ObjectIdentifier, _ body: (NativeConnection) -> Void) {
        for connection in self.slots where connection.serves(service) { body(connection) }
    }

    // MARK: host names

    /// Resolves a host name off the reactor (the system resolver blocks) and calls `completion` back on it.
    func resolve(_ endpoint: Endpoint, _ completion: @escaping (PeerAddress?) -> Void) {
        guard let reactor = self.reactor else { return }
        self.nextResolution &+= 1
        let id = self.nextResolution
        self.resolutions[id] = completion
        HostResolver.shared.resolve(host: endpoint.host, port: endpoint.port) { result in
            reactor.execute { reactor.state.resolutions.removeValue(forKey: id)?(result) }
        }
    }

    // MARK: listeners

    func add(_ listener: ReactorListener) -> Errno? {
        guard !self.stopping else { return Errno(code: ESHUTDOWN) }
        guard let reactor = self.reactor else { return Errno(code: EBADF) }
        let index = self.listeners.firstIndex(where: { $0 == nil }) ?? self.listeners.count
        if index == self.listeners.count { self.listeners.append(nil) }
        listener.index = UInt32(index)
        let tag = EventTag(.listener, index: UInt32(index), generation: 0)
        if let error = SystemCall.epollAdd(
            reactor.epoll, listener.descriptor, events: EPOLLIN.rawValue | EPOLLET.rawValue, data: tag.raw)
        {
            return error
        }
        self.listeners[index] = listener
        // Clients may already wait in the backlog (the socket listened before it joined the epoll set).
        self.listenerReady(UInt32(index))
        return nil
    }

    /// Closes the listener on `descriptor` (connections it accepted go on).
    func removeListener(descriptor: Int32) {
        guard let index = self.listeners.firstIndex(where: { $0?.descriptor == descriptor }) else { return }
        self.listeners[index] = nil
        self.readyListeners.removeAll { $0.descriptor == descriptor }
        SystemCall.close(descriptor)
    }

    func listenerReady(_ index: UInt32) {
        guard Int(index) < self.listeners.count, let listener = self.listeners[Int(index)] else { return }
        listener.readable = true
        guard !listener.queued else { return }
        listener.queued = true
        self.readyListeners.append(listener)
    }

    /// Most clients accepted per listener per iteration, so connections already open are served between bursts.
    private static let acceptsPerIteration = 16

    private func acceptBatch(_ listener: ReactorListener) {
        // The audit log's backpressure contract: no new connection (and so no new records) while it is not accepting.
        guard listener.service.audit.isAccepting else {
            self.waitForAudit(listener.service.audit)
            return
        }
        var accepted = 0
        while listener.readable, accepted < Self.acceptsPerIteration {
            switch SystemCall.accept(listener.descriptor) {
            case .success(let (descriptor, peer)):
                accepted += 1
                guard let connection = self.allocate() else {
                    SystemCall.close(descriptor)
                    listener.service.stats.refusedOne()
                    continue
                }
                connection.start(descriptor: descriptor, peer: peer, service: listener.service, registry: listener.registry)
            case .failure(let error):
                switch error.code {
                case EAGAIN, EWOULDBLOCK:
                    listener.readable = false
                case ECONNABORTED, EPROTO, EPERM, EINTR:
                    continue  // that client is gone; try the next
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    self.outOfDescriptors(listener, error)
                    return
                default:
                    listener.readable = false
                    listener.service.logger.error(
                        "accept failed", metadata: ["error": "\(error)", "engine": "native"])
                }
            }
        }
        if listener.readable, !listener.queued {
            listener.queued = true
            self.readyListeners.append(listener)
        }
    }

    /// Registers once per audit log with ``AuditLog/whenAccepting(_:)``; when it calls back (on its writer's
    /// thread) the reactor tries its readable listeners again.
    private func waitForAudit(_ audit: AuditLog) {
        let key = ObjectIdentifier(audit)
        guard let reactor = self.reactor, self.auditWaits[key] == nil else { return }
        self.auditWaits[key] = audit
        audit.whenAccepting {
            reactor.execute { reactor.state.auditAccepting(key) }
        }
    }

    private func auditAccepting(_ key: ObjectIdentifier) {
        self.auditWaits[key] = nil
        for listener in self.listeners.compactMap({ $0 }) where listener.readable {
            self.listenerReady(listener.index)
        }
    }

    /// Clients waiting for the audit log to accept again: the connection in `index`, if it is still `generation`,
    /// reads its client again.
    func auditResumed(index: UInt32, generation: UInt32) {
        guard Int(index) < self.slots.count else { return }
        let connection = self.slots[Int(index)]
        guard connection.inUse, connection.generation == generation else { return }
        connection.auditResumed()
        self.requeue(connection)
    }

    /// How long accepting pauses after the process ran out of descriptors.
    static let acceptPause: UInt64 = 100_000_000
    /// At most one warning this often while accepts keep failing (as the NIO engine's `ListenerGate`).
    static let warningInterval: UInt64 = 60_000_000_000

    /// `accept` failed for lack of descriptors. The client at the head of the backlog would otherwise wake this
    /// reactor again and again: close the spare, accept that client and close it (it sees the connection end
    /// rather than hang), reopen the spare, and pause every listener of this reactor for a moment (HAProxy and
    /// nginx pause too; never a busy loop). Accepting resumes after the pause, or sooner when a connection closes.
    private func outOfDescriptors(_ listener: ReactorListener, _ error: Errno) {
        var refused = 0
        if self.spare >= 0 {
            SystemCall.close(self.spare)
            self.spare = -1
            if case .success(let (descriptor, _)) = SystemCall.accept(listener.descriptor) {
                SystemCall.close(descriptor)
                listener.service.stats.refusedOne()
                refused = 1
            }
            self.spare = SystemCall.openSpare()
        }
        self.refusedSinceLog += refused
        self.acceptFailuresSinceLog += 1
        self.acceptPausedUntil = self.now + Self.acceptPause
        self.timers.push(self.acceptPausedUntil, .resumeAccepting)
        if self.lastExhaustionLog == 0 || self.now - self.lastExhaustionLog >= Self.warningInterval {
            self.lastExhaustionLog = self.now
            let hint =
                error.code == EMFILE || error.code == ENFILE
                ? "out of file descriptors: raise the limit (LimitNOFILE=, ulimit -n) or lower maxconn"
                : "the kernel is short of memory"
            listener.service.logger.warning(
                "cannot accept connections; pausing accept for 100 ms at a time (the client at the head of the backlog is closed)",
                metadata: [
                    "error": "\(error)", "hint": "\(hint)", "engine": "native",
                    "accept.failures": "\(self.acceptFailuresSinceLog)", "conn.closed_unserved": "\(self.refusedSinceLog)",
                    "conn.open": "\(self.openConnections)",
                ])
            self.refusedSinceLog = 0
            self.acceptFailuresSinceLog = 0
        }
    }

    private func resumeAccepting() {
        guard self.acceptPausedUntil > 0, self.now >= self.acceptPausedUntil else { return }
        self.acceptPausedUntil = 0
        // Edges that arrived while paused were noted; listeners whose backlog filled silently are tried once too.
        for listener in self.listeners.compactMap({ $0 }) {
            self.listenerReady(listener.index)
        }
    }

    /// A connection closed a socket: if accepting is paused for lack of descriptors, try again now.
    func descriptorsReleased() {
        if self.acceptPausedUntil > 0 {
            self.acceptPausedUntil = self.now
            self.resumeAccepting()
        }
    }

    // MARK: stop

    /// Closes everything the reactor owns (the engine is stopping).
    func shutdown() {
        self.stopping = true
        for listener in self.listeners.compactMap({ $0 }) { self.removeListener(descriptor: listener.descriptor) }
        for connection in self.slots where connection.inUse {
            connection.terminate(.shutdown)
            connection.abandon()
        }
        for task in self.tasks.values { task.cancel() }
        self.tasks.removeAll()
        self.pipes.closeFree()
        if self.spare >= 0 { SystemCall.close(self.spare) }
        self.spare = -1
    }
}

/// One service's listening socket on one reactor (each reactor has its own, all bound with SO_REUSEPORT).
final class ReactorListener {
    let descriptor: Int32
    let service: ServiceRuntime
    let registry: NativeServiceConnections
    /// Position in the reactor's listener table (the epoll tag).
    var index: UInt32 = 0
    var readable = false
    var queued = false

    init(descriptor: Int32, service: ServiceRuntime, registry: NativeServiceConnections) {
        self.descriptor = descriptor
        self.service = service
        self.registry = registry
    }
}
#endif

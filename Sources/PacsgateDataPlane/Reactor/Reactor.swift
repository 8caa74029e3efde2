#if os(Linux)
import Atomics
import CPacsgateDataPlane
import Dispatch
import Glibc
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PacsgateCore

/// One thread of the native data plane: an epoll set, the listeners, connections, buffers and pipes it owns outright,
/// and its timers. A connection is accepted, forwarded and closed on one reactor; nothing crosses threads but the
/// closures other threads hand to ``execute(_:)``.
///
/// The loop (``run()``), modelled on HAProxy's `ev_epoll.c`: every descriptor is added to the epoll set once,
/// edge-triggered for input and output together, and never modified or removed before `close` (which removes it).
/// Readiness is remembered per descriptor; reads and writes are tried first and a descriptor waits for its next edge
/// only after `EAGAIN` (or a short read). Events are tagged with a generation, so an event for a slot reused within
/// the same batch is ignored.
///
/// A reactor is also a SwiftNIO `EventLoop`: the inspectors (which schedule timers on their connection's event loop)
/// and the audit log (whose futures complete on the writer's event loop) run unchanged on it, and their callbacks run
/// on the reactor's thread.
final class Reactor: EventLoop, @unchecked Sendable {
    // Sendable: the only state touched from other threads is `inbox` (a lock), `thread` (written before the loop
    // starts and only read afterwards) and the atomics; everything in `state` is touched only by the reactor's own
    // thread, which `inEventLoop` checks in debug builds.

    /// This reactor's position among its engine's reactors.
    let index: Int
    let epoll: Int32
    private let wakeCounter: Int32
    private let inbox = NIOLockedValueBox(Inbox())
    private var thread = pthread_t()
    private let running = ManagedAtomic(true)
    private let taskIDs = ManagedAtomic<UInt64>(0)
    /// Loop-confined state.
    let state: ReactorState

    private struct Inbox {
        var tasks: [@Sendable () -> Void] = []
        /// The eventfd was written and the reactor has not drained it yet: more tasks need no second write.
        var wakePending = false
    }

    init(index: Int, logger: Logger) throws {
        self.index = index
        self.epoll = try SystemCall.epollCreate().get()
        do {
            self.wakeCounter = try SystemCall.eventCounter().get()
        } catch {
            SystemCall.close(self.epoll)
            throw error
        }
        self.state = ReactorState(logger: logger)
        // Edge-triggered: every write to the counter wakes epoll_wait once, so the counter need not be read back (one
        // system call fewer per wake-up; a 64-bit counter does not overflow in practice).
        if let error = SystemCall.epollAdd(
            self.epoll, self.wakeCounter, events: EPOLLIN.rawValue | EPOLLET.rawValue, data: EventTag.wake.raw)
        {
            SystemCall.close(self.wakeCounter)
            SystemCall.close(self.epoll)
            throw error
        }
    }

    /// Starts the reactor's thread.
    func start(name: String) throws {
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        // SAFETY: the retained reference passed as the thread argument is released by the thread exactly once
        // (`takeRetainedValue`), and the reactor outlives its thread (the engine joins it before releasing it).
        let result = pthread_create(
            &thread, nil,
            { argument in
                guard let argument else { return nil }
                let reactor = Unmanaged<Reactor>.fromOpaque(argument).takeRetainedValue()
                reactor.run()
                return nil
            }, box.toOpaque())
        guard result == 0 else {
            box.release()
            throw Errno(code: result)
        }
        self.thread = thread
        _ = String(name.prefix(15)).withCString { pacsgate_set_thread_name(thread, $0) }
    }

    /// Stops the loop after the current iteration and waits for the thread to end; closes what the reactor owns.
    func stop() {
        self.running.store(false, ordering: .releasing)
        SystemCall.signal(self.wakeCounter)
        if !self.inEventLoop {
            pthread_join(self.thread, nil)
        }
    }

    // MARK: the loop

    private func run() {
        let state = self.state
        state.reactor = self
        state.now = NIODeadline.now().uptimeNanoseconds
        let capacity = 256
        let events = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: capacity)
        // SAFETY: `events` is allocated here, used only by this thread for epoll_wait, and freed when the loop ends.
        defer { events.deallocate() }
        while self.running.load(ordering: .acquiring) {
            let timeout = state.pollTimeout(hasTasks: self.hasTasks)
            let count = SystemCall.epollWait(self.epoll, events, timeout: timeout)
            state.now = NIODeadline.now().uptimeNanoseconds
            for position in 0..<count {
                let event = events[position]
                let tag = EventTag(raw: event.data.u64)
                switch tag.kind {
                case .wake:
                    break  // the tasks run below
                case .listener:
                    state.listenerReady(tag.index)
                case .client, .server:
                    state.connectionEvent(tag, events: event.events)
                }
            }
            self.runTasks()
            state.runTimers(self)
            state.runReady()
        }
        state.shutdown()
        SystemCall.close(self.wakeCounter)
        SystemCall.close(self.epoll)
    }

    private var hasTasks: Bool { self.inbox.withLockedValue { !$0.tasks.isEmpty } }

    private func runTasks() {
        let tasks = self.inbox.withLockedValue { inbox -> [@Sendable () -> Void] in
            inbox.wakePending = false
            guard !inbox.tasks.isEmpty else { return [] }
            defer { inbox.tasks.removeAll(keepingCapacity: true) }
            return inbox.tasks
        }
        for task in tasks { task() }
    }

    // MARK: EventLoop

    var inEventLoop: Bool { pthread_equal(pthread_self(), self.thread) != 0 }

    func execute(_ task: @escaping @Sendable () -> Void) {
        let wake = self.inbox.withLockedValue { inbox -> Bool in
            inbox.tasks.append(task)
            defer { inbox.wakePending = true }
            return !inbox.wakePending
        }
        if wake, !self.inEventLoop { SystemCall.signal(self.wakeCounter) }
    }

    func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        let promise = self.makePromise(of: T.self)
        let id = self.taskIDs.loadThenWrappingIncrement(ordering: .relaxed)
        let task = ScheduledTask(
            // The value is produced and handed to the promise on the reactor's thread, its event loop.
            run: { do { promise.assumeIsolatedUnsafeUnchecked().succeed(try task()) } catch { promise.fail(error) } },
            cancel: { promise.fail(EventLoopError.cancelled) })
        if self.inEventLoop {
            self.state.schedule(task, id: id, deadline: deadline)
        } else {
            self.execute { self.state.schedule(task, id: id, deadline: deadline) }
        }
        return Scheduled(promise: promise) { [self] in
            if self.inEventLoop {
                self.state.cancel(id: id)
            } else {
                self.execute { self.state.cancel(id: id) }
            }
        }
    }

    func scheduleTask<T>(in delay: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        self.scheduleTask(deadline: .now() + delay, task)
    }

    /// NIO's promise-free timer (an HL7 connection's ACK deadline): the handler runs at the deadline, or is told of
    /// its cancellation, on this reactor's thread; no promise or future is made.
    func scheduleCallback(
        at deadline: NIODeadline, handler: some (NIOScheduledCallbackHandler & Sendable)
    ) -> NIOScheduledCallback {
        let id = self.taskIDs.loadThenWrappingIncrement(ordering: .relaxed)
        let task = ScheduledTask(
            run: { handler.handleScheduledCallback(eventLoop: self) },
            cancel: { handler.didCancelScheduledCallback(eventLoop: self) })
        if self.inEventLoop {
            self.state.schedule(task, id: id, deadline: deadline)
        } else {
            self.execute { self.state.schedule(task, id: id, deadline: deadline) }
        }
        return NIOScheduledCallback(self, id: id)
    }

    func cancelScheduledCallback(_ scheduledCallback: NIOScheduledCallback) {
        guard let id = scheduledCallback.customCallbackID else {
            preconditionFailure("a scheduled callback of another event loop cancelled on \(self)")
        }
        if self.inEventLoop {
            self.state.cancel(id: id)
        } else {
            self.execute { self.state.cancel(id: id) }
        }
    }

    /// Reactors belong to their ``NativeEngine``, which stops them; they cannot be shut down one by one.
    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        queue.async { callback(EventLoopError.unsupportedOperation) }
    }

    var description: String { "Reactor(\(self.index))" }
}

/// A task scheduled through the `EventLoop` interface: what to run at its deadline, and what to do if it is
/// cancelled first.
struct ScheduledTask: Sendable {
    let run: @Sendable () -> Void
    let cancel: @Sendable () -> Void
}

/// The 64-bit tag of every epoll registration: generation (32 bits), slot or listener index (30 bits), kind (2 bits).
struct EventTag: Equatable {
    enum Kind: UInt64 {
        case client = 0
        case server = 1
        case listener = 2
        case wake = 3
    }

    let raw: UInt64

    init(raw: UInt64) {
        self.raw = raw
    }

    init(_ kind: Kind, index: UInt32, generation: UInt32) {
        self.raw = UInt64(generation) << 32 | UInt64(index) << 2 | kind.rawValue
    }

    static let wake = EventTag(.wake, index: 0, generation: 0)

    var kind: Kind { Kind(rawValue: self.raw & 3) ?? .wake }
    var index: UInt32 { UInt32(truncatingIfNeeded: self.raw >> 2) & 0x3FFF_FFFF }
    var generation: UInt32 { UInt32(truncatingIfNeeded: self.raw >> 32) }
}
#endif

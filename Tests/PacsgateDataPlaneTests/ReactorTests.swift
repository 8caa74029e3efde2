#if os(Linux)
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import PacsgateDataPlane

/// The reactor as a SwiftNIO `EventLoop` (what the inspectors and the audit log rely on), its timer heap and the
/// epoll tags.
@Suite("Reactor")
struct ReactorTests {
    static func engine() throws -> NativeEngine {
        try NativeEngine.shared()
    }

    @Test("execute runs the task on the reactor's thread, in order, and inEventLoop is true only there")
    func execute() async throws {
        let reactor = try #require(try Self.engine().reactors.first)
        #expect(!reactor.inEventLoop)
        let seen = NIOLockedValueBox<[Int]>([])
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            for index in 0..<100 {
                reactor.execute {
                    precondition(reactor.inEventLoop)
                    seen.withLockedValue { $0.append(index) }
                    if index == 99 { continuation.resume() }
                }
            }
        }
        #expect(seen.withLockedValue { $0 } == Array(0..<100))
    }

    @Test("a promise completed on another thread runs its callbacks on the reactor")
    func futuresCompleteOnTheReactor() async throws {
        let reactor = try #require(try Self.engine().reactors.last)
        let promise = reactor.makePromise(of: Int.self)
        let onReactor = NIOLockedValueBox<Bool?>(nil)
        let done = promise.futureResult.map { value -> Int in
            onReactor.withLockedValue { $0 = reactor.inEventLoop }
            return value + 1
        }
        Thread.detachNewThread { promise.succeed(41) }
        #expect(try await done.get() == 42)
        #expect(onReactor.withLockedValue { $0 } == true)
    }

    @Test("scheduled tasks fire in deadline order; a cancelled one never runs and fails its future")
    func scheduledTasks() async throws {
        let reactor = try #require(try Self.engine().reactors.first)
        let order = NIOLockedValueBox<[String]>([])
        let late = reactor.scheduleTask(in: .milliseconds(60)) { order.withLockedValue { $0.append("late") } }
        let early = reactor.scheduleTask(in: .milliseconds(20)) { order.withLockedValue { $0.append("early") } }
        let cancelled = reactor.scheduleTask(in: .milliseconds(40)) { order.withLockedValue { $0.append("cancelled") } }
        cancelled.cancel()
        try await early.futureResult.get()
        try await late.futureResult.get()
        await #expect(throws: EventLoopError.cancelled) { try await cancelled.futureResult.get() }
        #expect(order.withLockedValue { $0 } == ["early", "late"])
    }

    @Test("scheduleTask from the reactor itself (assumeIsolated, as the HL7 inspector's ACK timer does)")
    func scheduleFromTheLoop() async throws {
        let reactor = try #require(try Self.engine().reactors.first)
        let fired = try await reactor.submit {
            reactor.assumeIsolated().scheduleTask(in: .milliseconds(5)) { reactor.inEventLoop }.futureResult
        }.flatMap { $0 }.get()
        #expect(fired)
    }

    @Test("the timer heap pops in deadline order, equal deadlines first in first out")
    func timerHeap() {
        var heap = TimerHeap()
        let deadlines: [UInt64] = [50, 10, 40, 10, 30, 20, 60, 5]
        for (index, deadline) in deadlines.enumerated() { heap.push(deadline, .task(UInt64(index))) }
        #expect(heap.popExpired(now: 4) == nil)
        var popped: [(UInt64, TimerHeap.Target)] = []
        while let entry = heap.popExpired(now: 100) { popped.append((entry.deadline, entry.target)) }
        #expect(popped.map(\.0) == [5, 10, 10, 20, 30, 40, 50, 60])
        #expect(popped[1].1 == .task(1) && popped[2].1 == .task(3), "equal deadlines keep their order")
        #expect(heap.isEmpty)
    }

    @Test("epoll tags keep kind, index and generation apart")
    func tags() {
        for kind in [EventTag.Kind.client, .server, .listener, .wake] {
            let tag = EventTag(kind, index: 0x3FFF_FFFF, generation: 0xFFFF_FFFF)
            #expect(tag.kind == kind && tag.index == 0x3FFF_FFFF && tag.generation == 0xFFFF_FFFF)
            let small = EventTag(kind, index: 7, generation: 3)
            #expect(small.kind == kind && small.index == 7 && small.generation == 3)
        }
    }
}

#endif

import NIOConcurrencyHelpers
import NIOCore
import PacsgateCore

/// Whether the parts that carry traffic still answer: every event loop runs a task, and the audit writer takes its
/// queue (``AuditLog/whenWriterAnswers(_:)``), each within a deadline. The service watchdog pings only when this
/// says yes, so a hung event loop or a writer stuck on a dead disk ends in a restart by the service manager rather
/// than a gateway that accepts nothing and records nothing.
struct LivenessProbe: Sendable {
    let group: any EventLoopGroup
    let audit: AuditLog

    /// The parts that did not answer within `timeout` (empty: all did), e.g. `["event loop 1", "audit writer"]`.
    func silentParts(within timeout: Duration) async -> [String] {
        let loops = Array(self.group.makeIterator())
        let parts = loops.indices.map { "event loop \($0)" } + ["audit writer"]
        let round = Round(parts: parts)
        for (index, loop) in loops.enumerated() {
            loop.execute { round.answered("event loop \(index)") }
        }
        self.audit.whenWriterAnswers { round.answered("audit writer") }
        return await round.wait(timeout: timeout)
    }

    /// One probe round: the parts still to answer, and the waiter resumed by the last answer or by the deadline,
    /// whichever comes first. The deadline is a task on Swift's own executor, so it fires even when every event
    /// loop is stuck.
    private final class Round: Sendable {
        private struct State {
            var silent: [String]
            var waiter: CheckedContinuation<[String], Never>?
            var done = false
        }

        private let state: NIOLockedValueBox<State>

        init(parts: [String]) {
            self.state = NIOLockedValueBox(State(silent: parts))
        }

        func answered(_ part: String) {
            let resume = self.state.withLockedValue { state -> CheckedContinuation<[String], Never>? in
                state.silent.removeAll { $0 == part }
                return state.silent.isEmpty ? Self.finish(&state) : nil
            }
            resume?.resume(returning: [])
        }

        func wait(timeout: Duration) async -> [String] {
            let deadline = Task {
                try? await Task.sleep(for: timeout)
                self.expire()
            }
            defer { deadline.cancel() }
            return await withCheckedContinuation { continuation in
                let finished = self.state.withLockedValue { state -> [String]? in
                    if state.done || state.silent.isEmpty { return state.silent }
                    state.waiter = continuation
                    return nil
                }
                if let finished { continuation.resume(returning: finished) }
            }
        }

        private func expire() {
            let (resume, silent) = self.state.withLockedValue { state in (Self.finish(&state), state.silent) }
            resume?.resume(returning: silent)
        }

        /// Marks the round done and hands out the waiter to resume (once).
        private static func finish(_ state: inout State) -> CheckedContinuation<[String], Never>? {
            state.done = true
            defer { state.waiter = nil }
            return state.waiter
        }
    }
}

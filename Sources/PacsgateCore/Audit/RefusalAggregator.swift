import NIOCore

/// Bounds how many records of refused connections one client can put into the audit log, so a flood of refused
/// connections cannot fill the disk or rotate older evidence away.
///
/// Per client address and interval, the first `limit` refusals are written in full; the rest are counted into one
/// aggregate record for that client, written when its interval ends. A pure state machine: time is passed in.
struct RefusalAggregator {
    /// The refusals of one client beyond the limit in one interval.
    struct Aggregate: Equatable {
        var client: String
        var count = 0
        var services: [String] = []
        var events: [String] = []
        var first: WallClock.Instant
        var last: WallClock.Instant

        /// The `connection.refused.aggregate` record.
        func record(interval: TimeAmount, writtenInFull: Int) -> AuditRecord {
            var line = AuditLog.record(event: .connectionRefusedAggregate, time: self.last)
            line.field("client", self.client)
            line.field("refused", self.count)
            line.field("services", self.services)
            line.field("events", self.events)
            line.field("first", self.first)
            line.field("last", self.last)
            line.field("interval_s", Int(interval.nanoseconds / 1_000_000_000))
            line.field("written_in_full", writtenInFull)
            return line
        }
    }

    private struct Window {
        var ends: NIODeadline
        var written = 0
        var suppressed: Aggregate?
    }

    /// Clients tracked at once; beyond, new clients share one window under ``othersKey``.
    static let capacity = 10_000
    static let othersKey = "(other clients)"

    let limit: Int
    let interval: TimeAmount
    private var windows: [String: Window] = [:]
    /// The earliest end of a window with suppressed refusals.
    private(set) var nextDeadline: NIODeadline?
    /// Aggregates of windows that ended when their client was refused again.
    private var ready: [(Aggregate, writtenInFull: Int)] = []

    init(limit: Int, interval: TimeAmount) {
        self.limit = max(1, limit)
        self.interval = interval
    }

    /// Whether a refusal's record is written in full (`true`) or counted into its client's aggregate.
    mutating func admit(client: String, service: String, event: String, now: NIODeadline, time: WallClock.Instant) -> Bool {
        var key = client
        if self.windows[key] == nil, self.windows.count >= Self.capacity {
            self.prune(now: now)
            if self.windows.count >= Self.capacity { key = Self.othersKey }
        }
        var window = self.windows[key] ?? Window(ends: now + self.interval)
        if now >= window.ends {
            if let aggregate = window.suppressed { self.ready.append((aggregate, window.written)) }
            window = Window(ends: now + self.interval)
        }
        if window.written < self.limit {
            window.written += 1
            self.windows[key] = window
            return true
        }
        return self.suppress(&window, key: key, service: service, event: event, time: time)
    }

    private mutating func suppress(_ window: inout Window, key: String, service: String, event: String, time: WallClock.Instant) -> Bool {
        var aggregate = window.suppressed ?? Aggregate(client: key, first: time, last: time)
        aggregate.count += 1
        aggregate.last = time
        if !aggregate.services.contains(service) { aggregate.services.append(service) }
        if !aggregate.events.contains(event) { aggregate.events.append(event) }
        if window.suppressed == nil { self.nextDeadline = min(self.nextDeadline ?? window.ends, window.ends) }
        window.suppressed = aggregate
        self.windows[key] = window
        return false
    }

    /// The aggregates of windows that have ended (each with how many of its client's records were written in full),
    /// oldest first; their windows close.
    mutating func takeDue(now: NIODeadline) -> [(Aggregate, writtenInFull: Int)] {
        var due = self.ready
        self.ready.removeAll()
        if let deadline = self.nextDeadline, now >= deadline { due += self.take { $0.ends <= now } }
        return due.sorted { $0.0.first < $1.0.first }
    }

    /// Every aggregate, ended or not (at shutdown).
    mutating func takeAll() -> [(Aggregate, writtenInFull: Int)] {
        let due = self.ready + self.take { _ in true }
        self.ready.removeAll()
        return due.sorted { $0.0.first < $1.0.first }
    }

    private mutating func take(where ended: (Window) -> Bool) -> [(Aggregate, writtenInFull: Int)] {
        var due: [(Aggregate, writtenInFull: Int)] = []
        var next: NIODeadline?
        for (key, window) in self.windows {
            guard let aggregate = window.suppressed else { continue }
            if ended(window) {
                due.append((aggregate, window.written))
                self.windows[key] = nil
            } else {
                next = min(next ?? window.ends, window.ends)
            }
        }
        self.nextDeadline = next
        return due
    }

    /// Drops ended windows that counted nothing beyond the limit.
    private mutating func prune(now: NIODeadline) {
        self.windows = self.windows.filter { $0.value.suppressed != nil || $0.value.ends > now }
    }
}

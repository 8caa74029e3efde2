/// The limits on connections to the HA port that have not authenticated yet: anyone who can reach the port can open
/// them, so each costs this unit as little as possible, their number is bounded, and none of them can keep the peer out.
public struct PreAuthLimits: Sendable, Equatable {
    /// Unauthenticated connections open at once from all addresses but the peer's (which has slots of its own).
    public var maximum: Int
    /// Unauthenticated connections open at once from one address.
    public var perSource: Int
    /// Connections one address may open in a burst before the rate applies (the peer's address is exempt).
    public var burst: Int
    /// Connections per second one address may open after its burst.
    public var perSecond: Double
    /// Failed attempts from one address are audited once at the first, then summed into one record per interval.
    public var auditInterval: Duration
    /// A connection that has not finished the handshake by then is closed (the peer's takes milliseconds).
    public var handshakeTimeout: Duration

    public init(
        maximum: Int = 16, perSource: Int = 4, burst: Int = 20, perSecond: Double = 2, auditInterval: Duration = .seconds(60),
        handshakeTimeout: Duration = .seconds(2)
    ) {
        self.maximum = maximum
        self.perSource = perSource
        self.burst = burst
        self.perSecond = perSecond
        self.auditInterval = auditInterval
        self.handshakeTimeout = handshakeTimeout
    }
}

/// Admits or refuses new connections to the HA port before any byte is read, by the limits of ``PreAuthLimits``: a
/// token bucket per address, a cap per address, and a cap overall.
///
/// Strangers cannot keep the peer off the link: connections from the peer's configured address (``reserved``) do
/// not count against the overall cap nor the rate (they have `perSource` slots of their own; when those are taken, the
/// oldest of them gives way), and when the overall cap is reached the oldest unauthenticated connection is closed to
/// make room rather than the new one refused. With the short handshake timeout, a flood holds nothing for long.
struct PreAuthAdmission {
    enum Decision: Equatable {
        /// Count the connection as `ticket` until ``release(_:)``; first close the connection `evicting`.
        case admit(ticket: Int, evicting: Eviction?)
        case refuse(String)
    }

    /// An admitted connection that must be closed to make room.
    struct Eviction: Equatable {
        var ticket: Int
        var source: String
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private struct Pending {
        var source: String
        var since: ContinuousClock.Instant
    }

    let limits: PreAuthLimits
    /// The peer's addresses (from `ha.peer`).
    let reserved: Set<String>
    private var pending: [Int: Pending] = [:]
    private var nextTicket = 1
    private var buckets: [String: Bucket] = [:]

    init(limits: PreAuthLimits, reserved: Set<String> = []) {
        self.limits = limits
        self.reserved = reserved
    }

    /// Unauthenticated connections open from `source`.
    func open(from source: String) -> Int { self.pending.values.count(where: { $0.source == source }) }

    /// A connection from `source` (an address without port) arrived.
    mutating func admit(_ source: String, now: ContinuousClock.Instant) -> Decision {
        if self.reserved.contains(source) {
            // The peer: its own slots; a stale attempt of its own gives way to the new one.
            let evicting = self.open(from: source) >= self.limits.perSource ? self.oldest { $0.source == source } : nil
            return self.add(source, now: now, evicting: evicting)
        }
        var bucket = self.buckets[source] ?? Bucket(tokens: Double(self.limits.burst), updated: now)
        let elapsed = now - bucket.updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        bucket.tokens = min(Double(self.limits.burst), bucket.tokens + max(0, seconds) * self.limits.perSecond)
        bucket.updated = now
        defer { self.buckets[source] = bucket }
        guard bucket.tokens >= 1 else {
            return .refuse("more than \(self.limits.burst) connections in a burst (then \(self.limits.perSecond)/s) from one address")
        }
        bucket.tokens -= 1
        guard self.open(from: source) < self.limits.perSource else {
            return .refuse("\(self.limits.perSource) unauthenticated connections from this address are open already")
        }
        let strangers = self.pending.values.count(where: { !self.reserved.contains($0.source) })
        let evicting = strangers >= self.limits.maximum ? self.oldest { !self.reserved.contains($0.source) } : nil
        return self.add(source, now: now, evicting: evicting)
    }

    private mutating func add(_ source: String, now: ContinuousClock.Instant, evicting: Int?) -> Decision {
        let eviction = evicting.flatMap { ticket in self.pending.removeValue(forKey: ticket).map { Eviction(ticket: ticket, source: $0.source) } }
        let ticket = self.nextTicket
        self.nextTicket += 1
        self.pending[ticket] = Pending(source: source, since: now)
        return .admit(ticket: ticket, evicting: eviction)
    }

    private func oldest(where matches: (Pending) -> Bool) -> Int? {
        self.pending.filter { matches($0.value) }.min { ($0.value.since, $0.key) < ($1.value.since, $1.key) }?.key
    }

    /// An admitted connection authenticated or closed (a ticket already evicted or released is ignored).
    mutating func release(_ ticket: Int) {
        self.pending[ticket] = nil
    }

    /// Forgets full buckets (addresses not heard from for a while), so the table does not grow without bound.
    mutating func prune(now: ContinuousClock.Instant) {
        let refill = Duration.seconds(Double(self.limits.burst) / max(self.limits.perSecond, 0.001))
        let open = Set(self.pending.values.map(\.source))
        self.buckets = self.buckets.filter { now - $0.value.updated < refill || open.contains($0.key) }
    }
}

/// Sums failed attempts on the HA port per address: the first failure of an address is written at once, the rest
/// within ``PreAuthLimits/auditInterval`` are counted and written as one record when the interval ends. A flood fills
/// the audit log with one record per address per interval, never one per attempt.
struct RejectionAggregator {
    /// What to write.
    struct Report: Equatable {
        var source: String
        var count: Int
        var reason: String
        var peer: String?
        /// `false`: the first failure of a window (written at once); `true`: the sum of those that followed it.
        var summary: Bool
    }

    private struct Window {
        var opened: ContinuousClock.Instant
        var count = 0
        var lastReason = ""
        var peer: String?
    }

    let interval: Duration
    private var windows: [String: Window] = [:]

    init(interval: Duration) {
        self.interval = interval
    }

    /// A failure from `source`; returns the report to write now (the first of a window), or nil (counted).
    mutating func failed(_ source: String, reason: String, peer: String?, now: ContinuousClock.Instant) -> Report? {
        if var window = self.windows[source], now - window.opened < self.interval {
            window.count += 1
            window.lastReason = reason
            window.peer = peer ?? window.peer
            self.windows[source] = window
            return nil
        }
        self.windows[source] = Window(opened: now)
        return Report(source: source, count: 1, reason: reason, peer: peer, summary: false)
    }

    /// Windows that ended: one summary for each that counted failures after its first. A window that counted some
    /// starts the next at once (a flood that goes on makes one record per interval); one that counted none is closed
    /// (the next failure of that address is written at once again).
    mutating func due(now: ContinuousClock.Instant) -> [Report] {
        var reports: [Report] = []
        for (source, window) in self.windows where now - window.opened >= self.interval {
            if window.count > 0 {
                reports.append(Report(source: source, count: window.count, reason: window.lastReason, peer: window.peer, summary: true))
                self.windows[source] = Window(opened: now)
            } else {
                self.windows[source] = nil
            }
        }
        return reports.sorted { $0.source < $1.source }
    }
}

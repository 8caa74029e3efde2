/// The limits on connections to the HA port that have not authenticated yet: anyone who can reach the port can open
/// them, so each costs this unit as little as possible and their number is bounded.
public struct PreAuthLimits: Sendable, Equatable {
    /// Unauthenticated connections open at once, from all addresses.
    public var maximum: Int
    /// Unauthenticated connections open at once from one address.
    public var perSource: Int
    /// Connections one address may open in a burst before the rate applies.
    public var burst: Int
    /// Connections per second one address may open after its burst.
    public var perSecond: Double
    /// Failed attempts from one address are audited once at the first, then summed into one record per interval.
    public var auditInterval: Duration

    public init(maximum: Int = 16, perSource: Int = 4, burst: Int = 20, perSecond: Double = 2, auditInterval: Duration = .seconds(60)) {
        self.maximum = maximum
        self.perSource = perSource
        self.burst = burst
        self.perSecond = perSecond
        self.auditInterval = auditInterval
    }
}

/// Admits or refuses new connections to the HA port before any byte is read, by the limits of ``PreAuthLimits``: a
/// cap on unauthenticated connections overall and per address, and a token bucket per address. The peer itself
/// dials at most every `reconnect_min` and authenticates at once, so it never meets these limits.
struct PreAuthAdmission {
    enum Decision: Equatable {
        case admit
        case refuse(String)
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    let limits: PreAuthLimits
    private var open: [String: Int] = [:]
    private var total = 0
    private var buckets: [String: Bucket] = [:]

    init(limits: PreAuthLimits) {
        self.limits = limits
    }

    /// A connection from `source` (an address without port) arrived; when admitted it counts until ``release(_:)``.
    mutating func admit(_ source: String, now: ContinuousClock.Instant) -> Decision {
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
        guard self.total < self.limits.maximum else {
            return .refuse("\(self.limits.maximum) unauthenticated connections are open already")
        }
        guard self.open[source, default: 0] < self.limits.perSource else {
            return .refuse("\(self.limits.perSource) unauthenticated connections from this address are open already")
        }
        self.open[source, default: 0] += 1
        self.total += 1
        return .admit
    }

    /// An admitted connection authenticated or closed.
    mutating func release(_ source: String) {
        guard let count = self.open[source] else { return }
        self.open[source] = count > 1 ? count - 1 : nil
        self.total -= 1
    }

    /// Forgets full buckets (addresses not heard from for a while), so the table does not grow without bound.
    mutating func prune(now: ContinuousClock.Instant) {
        let refill = Duration.seconds(Double(self.limits.burst) / max(self.limits.perSecond, 0.001))
        self.buckets = self.buckets.filter { now - $0.value.updated < refill || self.open[$0.key] != nil }
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

/// How long the dialling unit waits before its next attempt: doubling from `minimum` to `maximum` after each
/// failure, back to `minimum` once a link has been up for a while. A little jitter keeps a restarted pair from
/// dialling in lockstep.
public struct ReconnectBackoff: Sendable {
    public let minimum: Duration
    public let maximum: Duration
    /// A link that stayed up this long resets the delay.
    public let stableAfter: Duration
    public private(set) var failures = 0

    public init(minimum: Duration, maximum: Duration, stableAfter: Duration = .seconds(10)) {
        self.minimum = max(.milliseconds(1), minimum)
        self.maximum = max(self.minimum, maximum)
        self.stableAfter = stableAfter
    }

    /// An attempt failed (or a link ended after `uptime`); returns how long to wait before the next one.
    /// `jitter` is a fraction in 0...1 (random in production, fixed in tests); it adds up to 20 %.
    public mutating func next(after uptime: Duration? = nil, jitter: Double) -> Duration {
        if let uptime, uptime >= self.stableAfter { self.failures = 0 }
        var delay = self.minimum
        for _ in 0..<min(self.failures, 30) {
            delay = delay * 2
            if delay >= self.maximum { break }
        }
        delay = min(delay, self.maximum)
        self.failures += 1
        let extra = delay * (0.2 * min(1, max(0, jitter)))
        return min(delay + extra, self.maximum * 1.2)
    }
}

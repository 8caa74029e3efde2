import NIOConcurrencyHelpers
public import PacsgateCore

/// Connections per second and bytes per second of one service, one point per sample, for the overview's graphs.
///
/// A pure value: fed the service's running totals at each sample time, it keeps the rates between consecutive
/// samples, at most `capacity` of them (an hour at the default 5-second interval).
public struct TrafficSeries: Sendable {
    /// One sample.
    public struct Point: Sendable, Equatable {
        /// Wall-clock time of the sample.
        public var time: WallClock.Instant
        public var connectionsPerSecond: Double
        public var bytesPerSecond: Double
    }

    public let capacity: Int
    public private(set) var points: [Point] = []
    private var last: (at: ContinuousClock.Instant, connections: Int, bytes: Int)?

    public init(capacity: Int) {
        self.capacity = max(2, capacity)
    }

    /// Records the totals at `at`; the first call only sets the baseline. A total that went down (a counter
    /// restarted) counts from zero.
    public mutating func record(connections: Int, bytes: Int, at: ContinuousClock.Instant, wall: WallClock.Instant) {
        defer { self.last = (at, connections, bytes) }
        guard let last = self.last else { return }
        let elapsed = Double((at - last.at).components.seconds) + Double((at - last.at).components.attoseconds) / 1e18
        guard elapsed > 0 else { return }
        let newConnections = connections >= last.connections ? connections - last.connections : connections
        let newBytes = bytes >= last.bytes ? bytes - last.bytes : bytes
        self.points.append(
            Point(time: wall, connectionsPerSecond: Double(newConnections) / elapsed, bytesPerSecond: Double(newBytes) / elapsed))
        if self.points.count > self.capacity { self.points.removeFirst(self.points.count - self.capacity) }
    }
}

/// The graphs' data for every service, sampled from ``ServiceStats`` every few seconds and kept in memory.
public final class TrafficHistory: Sendable {
    /// Time between samples.
    public let interval: Duration
    /// How far back the graphs go.
    public let span: Duration
    private let series = NIOLockedValueBox<[String: TrafficSeries]>([:])

    public init(interval: Duration = .seconds(5), span: Duration = .seconds(3600)) {
        self.interval = interval
        self.span = span
    }

    private var capacity: Int {
        let ratio = Double(self.span.components.seconds) / max(0.001, Double(self.interval.components.seconds) + Double(self.interval.components.attoseconds) / 1e18)
        return max(2, Int(ratio.rounded()))
    }

    /// Takes one sample of every running service; services no longer running are forgotten.
    public func sample(_ services: [ServiceRuntime], at now: ContinuousClock.Instant = .now, wall: WallClock.Instant = WallClock.now()) {
        let capacity = self.capacity
        self.series.withLockedValue { series in
            var next: [String: TrafficSeries] = [:]
            for service in services {
                var entry = series[service.label] ?? TrafficSeries(capacity: capacity)
                entry.record(
                    connections: service.stats.totalConnections,
                    bytes: service.stats.bytesUpstream &+ service.stats.bytesDownstream, at: now, wall: wall)
                next[service.label] = entry
            }
            series = next
        }
    }

    /// The points of one service, oldest first.
    public func points(of service: String) -> [TrafficSeries.Point] {
        self.series.withLockedValue { $0[service]?.points ?? [] }
    }

    /// Samples `gateway` every ``interval`` until the task is cancelled.
    public func run(gateway: Gateway) async {
        let clock = ContinuousClock()
        var next = clock.now
        while !Task.isCancelled {
            self.sample(await gateway.services)
            next += self.interval
            if next < clock.now { next = clock.now }
            try? await Task.sleep(until: next, clock: clock)
        }
    }
}

import Atomics
import CoreMetrics

/// Live counters of one service, read by the overview and `/metrics`.
///
/// Updated once per connection (at accept and at close), never per read, so the data path stays free of shared
/// writes. Bytes of long-lived connections are added when they close and at every idle-timer tick.
public final class ServiceStats: Sendable {
    private let active = ManagedAtomic<Int>(0)
    private let total = ManagedAtomic<Int>(0)
    private let refused = ManagedAtomic<Int>(0)
    private let bytesUp = ManagedAtomic<Int>(0)
    private let bytesDown = ManagedAtomic<Int>(0)

    private let connectionsCounter: Counter
    private let refusedCounter: Counter
    private let bytesUpCounter: Counter
    private let bytesDownCounter: Counter
    private let activeGauge: Gauge

    public init(service: String) {
        let dimensions = [("service", service)]
        self.connectionsCounter = Counter(label: "pacsgate_connections_total", dimensions: dimensions)
        self.refusedCounter = Counter(label: "pacsgate_connections_refused_total", dimensions: dimensions)
        self.bytesUpCounter = Counter(label: "pacsgate_bytes_up_total", dimensions: dimensions)
        self.bytesDownCounter = Counter(label: "pacsgate_bytes_down_total", dimensions: dimensions)
        self.activeGauge = Gauge(label: "pacsgate_connections_active", dimensions: dimensions)
    }

    /// A client connection was accepted; returns the number now active.
    package func opened() -> Int {
        self.total.wrappingIncrement(ordering: .relaxed)
        self.connectionsCounter.increment()
        let now = self.active.wrappingIncrementThenLoad(ordering: .relaxed)
        self.activeGauge.record(now)
        return now
    }

    /// A client connection ended.
    package func closed() {
        let now = self.active.wrappingDecrementThenLoad(ordering: .relaxed)
        self.activeGauge.record(now)
    }

    /// The gateway refused a connection (maxconn, no server, policy).
    package func refusedOne() {
        self.refused.wrappingIncrement(ordering: .relaxed)
        self.refusedCounter.increment()
    }

    /// Adds forwarded bytes.
    package func add(up: Int, down: Int) {
        if up > 0 {
            self.bytesUp.wrappingIncrement(by: up, ordering: .relaxed)
            self.bytesUpCounter.increment(by: up)
        }
        if down > 0 {
            self.bytesDown.wrappingIncrement(by: down, ordering: .relaxed)
            self.bytesDownCounter.increment(by: down)
        }
    }

    /// Client connections open now.
    public var activeConnections: Int { self.active.load(ordering: .relaxed) }
    /// Client connections accepted since start.
    public var totalConnections: Int { self.total.load(ordering: .relaxed) }
    /// Connections refused by the gateway since start.
    public var refusedConnections: Int { self.refused.load(ordering: .relaxed) }
    /// Bytes forwarded client → server.
    public var bytesUpstream: Int { self.bytesUp.load(ordering: .relaxed) }
    /// Bytes forwarded server → client.
    public var bytesDownstream: Int { self.bytesDown.load(ordering: .relaxed) }
}

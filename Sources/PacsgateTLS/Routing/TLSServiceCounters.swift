import Synchronization

/// Counts of one TLS service's refused connections by reason, for the overview and metrics.
///
/// Updated once per refused connection, never per read. One instance per service label for the life of the process,
/// so the counts survive configuration reloads.
public final class TLSServiceCounters: Sendable {
    private struct Counts {
        var refusals: [TLSRefusalKind: Int] = [:]
        var serverHandshakeFailures = 0
        var fallbackPages = 0
    }

    private let counts = Mutex(Counts())

    init() {}

    /// The counters of service `label`.
    public static func forService(_ label: String) -> TLSServiceCounters {
        registry.withLock { counters in
            if let existing = counters[label] { return existing }
            let created = TLSServiceCounters()
            counters[label] = created
            return created
        }
    }

    private static let registry = Mutex<[String: TLSServiceCounters]>([:])

    /// Connections refused for `kind`.
    public func refused(_ kind: TLSRefusalKind) -> Int {
        self.counts.withLock { $0.refusals[kind, default: 0] }
    }

    /// TLS handshakes with a server that failed (re-encrypting services).
    public var serverHandshakeFailures: Int { self.counts.withLock { $0.serverHandshakeFailures } }

    /// Fallback pages served.
    public var fallbackPages: Int { self.counts.withLock { $0.fallbackPages } }

    func count(_ kind: TLSRefusalKind) {
        self.counts.withLock { $0.refusals[kind, default: 0] += 1 }
    }

    func countServerHandshakeFailure() {
        self.counts.withLock { $0.serverHandshakeFailures += 1 }
    }

    func countFallbackPage() {
        self.counts.withLock { $0.fallbackPages += 1 }
    }
}

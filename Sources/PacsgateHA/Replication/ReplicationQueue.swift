import NIOCore
public import PacsgateCore

/// The persistence changes waiting to be sent to the peer: bounded, coalescing, and disabled while the link is down.
///
/// A key refreshed ten times before the next send is sent once, with its latest server and expiry. While the link is
/// down nothing is queued: the link's next session starts with a full snapshot anyway. When more than `limit` keys
/// wait (the peer or the network is slower than the traffic), the queue is dropped and a full snapshot replaces it,
/// so an overflow costs bandwidth, never an entry.
public struct ReplicationQueue: Sendable {
    /// A queued key.
    public struct Key: Hashable, Sendable {
        public var service: String
        public var key: StickKey
    }

    /// What the sender should do next.
    public enum Work: Sendable, Equatable {
        case nothing
        /// Send every live entry of every table (and then whatever is queued after this point).
        case snapshot
        /// Send these entries.
        case entries([Key: StickTable.Entry])

        public static func == (lhs: Work, rhs: Work) -> Bool {
            switch (lhs, rhs) {
            case (.nothing, .nothing), (.snapshot, .snapshot): return true
            case (.entries(let a), .entries(let b)): return a == b
            default: return false
            }
        }
    }

    public let limit: Int
    private var pending: [Key: StickTable.Entry] = [:]
    private var enabled = false
    private var snapshotDue = false
    /// Times the queue overflowed and was replaced by a snapshot.
    public private(set) var overflows = 0
    /// Changes accepted into the queue (coalesced ones included).
    public private(set) var accepted = 0

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Keys waiting.
    public var count: Int { self.pending.count }
    public var isEnabled: Bool { self.enabled }

    /// A session started: queue from now on, and send a snapshot first.
    public mutating func linkUp() {
        self.pending.removeAll(keepingCapacity: true)
        self.enabled = true
        self.snapshotDue = true
    }

    /// The session ended: stop queueing and forget what was queued (the next session starts with a snapshot).
    public mutating func linkDown() {
        self.pending.removeAll()
        self.enabled = false
        self.snapshotDue = false
    }

    /// A table reported a new or refreshed entry. Returns `true` when the sender should be woken (the queue was
    /// empty and had nothing due).
    public mutating func enqueue(service: String, entry: StickTable.Entry) -> Bool {
        // While a snapshot is due it has not been read yet: it will include this change.
        guard self.enabled, !self.snapshotDue else { return false }
        let wasIdle = self.pending.isEmpty
        self.accepted += 1
        let key = Key(service: service, key: entry.key)
        if self.pending[key] == nil, self.pending.count >= self.limit {
            self.pending.removeAll()
            self.snapshotDue = true
            self.overflows += 1
            return true
        }
        self.pending[key] = entry
        return wasIdle
    }

    /// Takes the next piece of work for the sender.
    public mutating func take() -> Work {
        guard self.enabled else { return .nothing }
        if self.snapshotDue {
            self.snapshotDue = false
            return .snapshot
        }
        if self.pending.isEmpty { return .nothing }
        let taken = self.pending
        self.pending = [:]
        self.pending.reserveCapacity(min(taken.count, 1024))
        return .entries(taken)
    }
}

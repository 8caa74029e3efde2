import NIOConcurrencyHelpers
public import NIOCore

/// The persistence ("stick") table of one service: which server a client key was sent to, until when.
///
/// Entries expire `timeout` after their last use; a use refreshes the expiry. The table is bounded: when full,
/// expired entries are purged and, if it is still full, the entry closest to expiry is evicted. Thread-safe: every
/// event loop of the gateway shares it. Changes can be observed (the HA link replicates them to the peer).
public final class StickTable: Sendable {
    /// One entry.
    public struct Entry: Sendable, Equatable {
        public var key: StickKey
        public var server: String
        public var expires: NIODeadline

        public init(key: StickKey, server: String, expires: NIODeadline) {
            self.key = key
            self.server = server
            self.expires = expires
        }
    }

    /// A new or refreshed entry, as handed to the change observer.
    public typealias ChangeObserver = @Sendable (Entry) -> Void

    private struct Storage {
        var entries: [StickKey: (server: String, expires: NIODeadline)] = [:]
        /// Every expiry ever set, smallest first; entries whose expiry changed since are stale and skipped. Lets a
        /// full table find its expired and oldest entries in O(log n) instead of scanning all of them.
        var expiries = ExpiryHeap()
        var timeout: TimeAmount
        var capacity: Int
        var observer: ChangeObserver?
        var evictions = 0

        mutating func set(_ key: StickKey, server: String, expires: NIODeadline) {
            self.entries[key] = (server, expires)
            self.expiries.push(key: key, expires: expires)
            // Stale heap nodes (refreshed or removed keys) are dropped by rebuilding once they outnumber the live
            // ones: O(n) every n updates.
            if self.expiries.count > 2 * self.entries.count + 64 {
                self.rebuildExpiries()
            }
        }

        mutating func rebuildExpiries() {
            self.expiries = ExpiryHeap(self.entries.map { (key: $0.key, expires: $0.value.expires) })
        }
    }

    private let storage: NIOLockedValueBox<Storage>

    /// - Parameters:
    ///   - timeout: how long an unused entry lives.
    ///   - capacity: most entries kept.
    public init(timeout: TimeAmount, capacity: Int) {
        self.storage = NIOLockedValueBox(Storage(timeout: timeout, capacity: max(1, capacity)))
    }

    /// Changes the timeout and capacity (reload); existing entries keep their expiry.
    public func reconfigure(timeout: TimeAmount, capacity: Int) {
        self.storage.withLockedValue {
            $0.timeout = timeout
            $0.capacity = max(1, capacity)
        }
    }

    /// Sets the observer told about every new or refreshed entry (replication).
    public func setObserver(_ observer: ChangeObserver?) {
        self.storage.withLockedValue { $0.observer = observer }
    }

    /// The server `key` is stuck to, if the entry is live; does not refresh it.
    public func lookup(_ key: StickKey, now: NIODeadline = .now()) -> String? {
        self.storage.withLockedValue { storage in
            guard let entry = storage.entries[key] else { return nil }
            if entry.expires <= now {
                storage.entries[key] = nil
                return nil
            }
            return entry.server
        }
    }

    /// Sticks `key` to `server` (new or refreshed), expiring `timeout` from `now`.
    public func stick(_ key: StickKey, to server: String, now: NIODeadline = .now()) {
        let (observer, entry) = self.storage.withLockedValue { storage -> (ChangeObserver?, Entry) in
            let expires = now + storage.timeout
            if storage.entries[key] == nil, storage.entries.count >= storage.capacity {
                Self.makeRoom(&storage, now: now)
            }
            storage.set(key, server: server, expires: expires)
            return (storage.observer, Entry(key: key, server: server, expires: expires))
        }
        observer?(entry)
    }

    /// Inserts an entry received from the HA peer with its own expiry (not reported to the observer).
    public func merge(_ entry: Entry, now: NIODeadline = .now()) {
        guard entry.expires > now else { return }
        self.storage.withLockedValue { storage in
            if storage.entries[entry.key] == nil, storage.entries.count >= storage.capacity {
                Self.makeRoom(&storage, now: now)
            }
            storage.set(entry.key, server: entry.server, expires: entry.expires)
        }
    }

    /// Inserts an entry received from the HA peer unless this table holds a later-expiring entry for the same key
    /// (the more recent use wins on both units, so a pair whose link was cut converges when it is restored). Not
    /// reported to the observer. Returns whether the entry was taken.
    @discardableResult
    public func mergeIfLater(_ entry: Entry, now: NIODeadline = .now()) -> Bool {
        guard entry.expires > now else { return false }
        return self.storage.withLockedValue { storage in
            if let existing = storage.entries[entry.key] {
                if existing.expires > now, existing.expires >= entry.expires { return false }
            } else if storage.entries.count >= storage.capacity {
                Self.makeRoom(&storage, now: now)
            }
            storage.set(entry.key, server: entry.server, expires: entry.expires)
            return true
        }
    }

    /// Removes the entry of `key`.
    public func remove(_ key: StickKey) {
        self.storage.withLockedValue { _ = $0.entries.removeValue(forKey: key) }
    }

    /// Drops expired entries; returns how many were removed.
    @discardableResult
    public func purgeExpired(now: NIODeadline = .now()) -> Int {
        self.storage.withLockedValue { storage in
            let before = storage.entries.count
            storage.entries = storage.entries.filter { $0.value.expires > now }
            storage.rebuildExpiries()
            return before - storage.entries.count
        }
    }

    /// Live entries (for the overview and the replication snapshot).
    public func snapshot(now: NIODeadline = .now()) -> [Entry] {
        self.storage.withLockedValue { storage in
            storage.entries.compactMap { key, value in
                value.expires > now ? Entry(key: key, server: value.server, expires: value.expires) : nil
            }
        }
    }

    /// Number of entries (including expired ones not purged yet).
    public var count: Int { self.storage.withLockedValue { $0.entries.count } }

    /// Entries evicted because the table was full.
    public var evictions: Int { self.storage.withLockedValue { $0.evictions } }

    /// Makes room in a full table: drops the expired entries, and if it is still full evicts the live entry closest
    /// to expiry (the least recently used). Both come off the top of the expiry heap, so this costs O(log n) per
    /// dropped entry instead of a scan of the table (0.2 ms per new client at 100,000 entries before).
    private static func makeRoom(_ storage: inout Storage, now: NIODeadline) {
        while let top = storage.expiries.peek() {
            guard let entry = storage.entries[top.key], entry.expires == top.expires else {
                _ = storage.expiries.pop()  // stale: the key was refreshed or removed since
                continue
            }
            if top.expires <= now {
                _ = storage.expiries.pop()
                storage.entries[top.key] = nil
                continue
            }
            guard storage.entries.count >= storage.capacity else { return }
            // Still full of live entries: evict the one closest to expiry.
            _ = storage.expiries.pop()
            storage.entries[top.key] = nil
            storage.evictions += 1
            return
        }
    }
}

/// A binary min-heap of (expiry, key).
struct ExpiryHeap {
    private var nodes: [(expires: NIODeadline, key: StickKey)] = []

    init() {}

    init(_ items: [(key: StickKey, expires: NIODeadline)]) {
        self.nodes = items.map { (expires: $0.expires, key: $0.key) }
        var index = self.nodes.count / 2
        while index > 0 {
            index -= 1
            self.siftDown(index)
        }
    }

    var count: Int { self.nodes.count }

    func peek() -> (key: StickKey, expires: NIODeadline)? {
        self.nodes.first.map { (key: $0.key, expires: $0.expires) }
    }

    mutating func push(key: StickKey, expires: NIODeadline) {
        self.nodes.append((expires: expires, key: key))
        var child = self.nodes.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard self.nodes[child].expires < self.nodes[parent].expires else { break }
            self.nodes.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (key: StickKey, expires: NIODeadline)? {
        guard let first = self.nodes.first else { return nil }
        let last = self.nodes.removeLast()
        if !self.nodes.isEmpty {
            self.nodes[0] = last
            self.siftDown(0)
        }
        return (key: first.key, expires: first.expires)
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < self.nodes.count else { return }
            let right = left + 1
            var smallest = left
            if right < self.nodes.count, self.nodes[right].expires < self.nodes[left].expires { smallest = right }
            guard self.nodes[smallest].expires < self.nodes[parent].expires else { return }
            self.nodes.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

import NIOConcurrencyHelpers
import NIOCore
import PacsgateCore
import PacsgateHA
import Testing

@Suite("HA replication queue and reconnect backoff")
struct QueueAndBackoffTests {
    static func entry(_ text: String, _ server: String = "s1") -> StickTable.Entry {
        StickTable.Entry(key: StickKey(text: text)!, server: server, expires: .uptimeNanoseconds(1_000_000_000_000))
    }

    @Test("nothing is queued while the link is down; link up asks for a snapshot first")
    func linkStates() {
        var queue = ReplicationQueue(limit: 10)
        let result1 = queue.enqueue(service: "S", entry: Self.entry("a"))
        #expect(!result1)
        let result2 = queue.take()
        #expect(result2 == .nothing)
        queue.linkUp()
        let result3 = queue.enqueue(service: "S", entry: Self.entry("a"))
        #expect(!result3, "a change before the snapshot is read is in it")
        let result4 = queue.take()
        #expect(result4 == .snapshot)
        let result5 = queue.enqueue(service: "S", entry: Self.entry("b"))
        #expect(result5, "the first change after the snapshot wakes the sender")
        let result6 = queue.enqueue(service: "S", entry: Self.entry("c"))
        #expect(!result6)
        #expect(queue.count == 2)
        queue.linkDown()
        #expect(queue.count == 0)
        let result7 = queue.take()
        #expect(result7 == .nothing)
    }

    @Test("a key refreshed many times is sent once, with its latest server")
    func coalesces() {
        var queue = ReplicationQueue(limit: 10)
        queue.linkUp()
        _ = queue.take()
        for server in ["s1", "s2", "s3"] { _ = queue.enqueue(service: "S", entry: Self.entry("a", server)) }
        guard case .entries(let entries) = queue.take() else {
            Issue.record("no entries")
            return
        }
        #expect(entries.count == 1)
        #expect(entries.values.first?.server == "s3")
    }

    @Test("an overflow drops the queue and asks for a snapshot, so nothing is lost")
    func overflow() {
        var queue = ReplicationQueue(limit: 3)
        queue.linkUp()
        _ = queue.take()
        for index in 0..<3 { _ = queue.enqueue(service: "S", entry: Self.entry("k\(index)")) }
        let result8 = queue.enqueue(service: "S", entry: Self.entry("k3"))
        #expect(result8)
        #expect(queue.overflows == 1)
        #expect(queue.count == 0)
        let result9 = queue.take()
        #expect(result9 == .snapshot)
    }

    @Test("backoff doubles from the minimum to the maximum and resets after a stable link")
    func backoff() {
        var backoff = ReconnectBackoff(minimum: .milliseconds(500), maximum: .seconds(10), stableAfter: .seconds(10))
        let delays = (0..<7).map { _ in backoff.next(jitter: 0) }
        #expect(delays == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(10), .seconds(10)])
        let result10 = backoff.next(after: .seconds(60), jitter: 0)
        #expect(result10 == .milliseconds(500))
        let result11 = backoff.next(jitter: 1)
        #expect(result11 == .milliseconds(1200))
    }
}

@Suite("Stick table merge of peer entries")
struct MergeTests {
    @Test("the later expiry wins; an expired entry is not taken; merging does not call the observer")
    func mergeIfLater() {
        let table = StickTable(timeout: .minutes(30), capacity: 10)
        let observed = NIOLockedValueBox(0)
        table.setObserver { _ in observed.withLockedValue { $0 += 1 } }
        let key = StickKey(text: "client")!
        let now = NIODeadline.now()
        #expect(table.mergeIfLater(.init(key: key, server: "s1", expires: now + .minutes(10)), now: now))
        #expect(!table.mergeIfLater(.init(key: key, server: "s2", expires: now + .minutes(5)), now: now), "an older use replaced a newer one")
        #expect(table.lookup(key, now: now) == "s1")
        #expect(table.mergeIfLater(.init(key: key, server: "s2", expires: now + .minutes(20)), now: now))
        #expect(table.lookup(key, now: now) == "s2")
        #expect(!table.mergeIfLater(.init(key: StickKey(text: "old")!, server: "s1", expires: now - .seconds(1)), now: now))
        #expect(observed.withLockedValue { $0 } == 0)
    }
}

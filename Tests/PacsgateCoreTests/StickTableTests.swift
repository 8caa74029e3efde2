import NIOCore
import Synchronization
import Testing

@testable import PacsgateCore

@Suite struct StickTableTests {
    private static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    private func key(_ text: String) -> StickKey { StickKey(text: text)! }

    @Test func entryExpiresAfterTheTimeoutAndIsPurgedOnLookup() {
        let table = StickTable(timeout: .seconds(30), capacity: 10)
        table.stick(key("MODALITY1"), to: "A", now: Self.t0)
        #expect(table.lookup(key("MODALITY1"), now: Self.t0) == "A")
        #expect(table.lookup(key("MODALITY1"), now: Self.t0 + .seconds(29)) == "A")
        #expect(table.lookup(key("MODALITY1"), now: Self.t0 + .nanoseconds(29_999_999_999)) == "A")
        #expect(table.count == 1)
        #expect(table.lookup(key("MODALITY1"), now: Self.t0 + .seconds(30)) == nil)
        #expect(table.count == 0, "the expired entry is removed by the lookup")
        #expect(table.lookup(key("OTHER"), now: Self.t0) == nil)
    }

    @Test func lookupDoesNotRefreshButStickDoes() {
        let table = StickTable(timeout: .seconds(30), capacity: 10)
        table.stick(key("A1"), to: "A", now: Self.t0)
        #expect(table.lookup(key("A1"), now: Self.t0 + .seconds(20)) == "A")
        #expect(table.lookup(key("A1"), now: Self.t0 + .seconds(31)) == nil)

        table.stick(key("B1"), to: "B", now: Self.t0)
        table.stick(key("B1"), to: "B", now: Self.t0 + .seconds(20))
        #expect(table.lookup(key("B1"), now: Self.t0 + .seconds(49)) == "B")
        #expect(table.lookup(key("B1"), now: Self.t0 + .seconds(50)) == nil)
    }

    @Test func stickMovesAKeyToAnotherServer() {
        let table = StickTable(timeout: .seconds(30), capacity: 10)
        table.stick(key("K"), to: "A", now: Self.t0)
        table.stick(key("K"), to: "B", now: Self.t0 + .seconds(1))
        #expect(table.lookup(key("K"), now: Self.t0 + .seconds(2)) == "B")
        #expect(table.count == 1)
    }

    @Test func fullTableEvictsTheEntryClosestToExpiry() {
        let table = StickTable(timeout: .seconds(30), capacity: 2)
        table.stick(key("K1"), to: "A", now: Self.t0)
        table.stick(key("K2"), to: "B", now: Self.t0 + .seconds(1))
        table.stick(key("K3"), to: "C", now: Self.t0 + .seconds(2))
        #expect(table.count == 2)
        #expect(table.evictions == 1)
        let now = Self.t0 + .seconds(3)
        #expect(table.lookup(key("K1"), now: now) == nil)
        #expect(table.lookup(key("K2"), now: now) == "B")
        #expect(table.lookup(key("K3"), now: now) == "C")

        // Refreshing K2 makes K3 the oldest.
        table.stick(key("K2"), to: "B", now: Self.t0 + .seconds(4))
        #expect(table.evictions == 1, "refreshing a key already in a full table evicts nothing")
        table.stick(key("K4"), to: "D", now: Self.t0 + .seconds(5))
        #expect(table.evictions == 2)
        #expect(table.lookup(key("K3"), now: Self.t0 + .seconds(6)) == nil)
        #expect(table.lookup(key("K2"), now: Self.t0 + .seconds(6)) == "B")
        #expect(table.lookup(key("K4"), now: Self.t0 + .seconds(6)) == "D")
    }

    @Test func fullTableDropsExpiredEntriesBeforeEvicting() {
        let table = StickTable(timeout: .seconds(30), capacity: 2)
        table.stick(key("K1"), to: "A", now: Self.t0)
        table.stick(key("K2"), to: "B", now: Self.t0 + .seconds(20))
        // K1 has expired by now: it makes the room, nothing live is evicted.
        table.stick(key("K3"), to: "C", now: Self.t0 + .seconds(31))
        #expect(table.evictions == 0)
        #expect(table.count == 2)
        #expect(table.lookup(key("K2"), now: Self.t0 + .seconds(32)) == "B")
        #expect(table.lookup(key("K3"), now: Self.t0 + .seconds(32)) == "C")
    }

    @Test func capacityIsAtLeastOne() {
        let table = StickTable(timeout: .seconds(30), capacity: 0)
        table.stick(key("K1"), to: "A", now: Self.t0)
        #expect(table.count == 1)
        table.stick(key("K2"), to: "B", now: Self.t0)
        #expect(table.count == 1)
        #expect(table.lookup(key("K2"), now: Self.t0) == "B")
    }

    @Test func purgeExpired() {
        let table = StickTable(timeout: .seconds(30), capacity: 10)
        table.stick(key("K1"), to: "A", now: Self.t0)
        table.stick(key("K2"), to: "A", now: Self.t0 + .seconds(10))
        table.stick(key("K3"), to: "B", now: Self.t0 + .seconds(20))
        #expect(table.purgeExpired(now: Self.t0 + .seconds(29)) == 0)
        #expect(table.purgeExpired(now: Self.t0 + .seconds(40)) == 2)
        #expect(table.count == 1)
        #expect(
            table.snapshot(now: Self.t0 + .seconds(40)) == [
                StickTable.Entry(key: key("K3"), server: "B", expires: Self.t0 + .seconds(50))
            ]
        )
        #expect(table.purgeExpired(now: Self.t0 + .seconds(50)) == 1)
        #expect(table.count == 0)
    }

    @Test func snapshotListsOnlyLiveEntries() {
        let table = StickTable(timeout: .seconds(30), capacity: 10)
        table.stick(key("K1"), to: "A", now: Self.t0)
        table.stick(key("K2"), to: "B", now: Self.t0 + .seconds(10))
        let live = table.snapshot(now: Self.t0 + .seconds(35))
        #expect(live == [StickTable.Entry(key: key("K2"), server: "B", expires: Self.t0 + .seconds(40))])
        #expect(table.count == 2, "a snapshot purges nothing")
    }

    @Test func observerSeesSticksButNotMerges() {
        let table = StickTable(timeout: .seconds(30), capacity: 10)
        let seen = Mutex<[StickTable.Entry]>([])
        table.setObserver { entry in seen.withLock { $0.append(entry) } }
        table.stick(key("K1"), to: "A", now: Self.t0)
        table.stick(key("K1"), to: "A", now: Self.t0 + .seconds(5))
        table.merge(StickTable.Entry(key: key("K2"), server: "B", expires: Self.t0 + .seconds(60)), now: Self.t0)
        #expect(
            seen.withLock { $0 } == [
                StickTable.Entry(key: key("K1"), server: "A", expires: Self.t0 + .seconds(30)),
                StickTable.Entry(key: key("K1"), server: "A", expires: Self.t0 + .seconds(35)),
            ]
        )
        table.setObserver(nil)
        table.stick(key("K3"), to: "C", now: Self.t0)
        #expect(seen.withLock { $0.count } == 2)
    }

    @Test func mergeKeepsThePeersExpiryAndIgnoresExpiredEntries() {
        let table = StickTable(timeout: .seconds(30), capacity: 10)
        table.merge(StickTable.Entry(key: key("OLD"), server: "A", expires: Self.t0), now: Self.t0)
        table.merge(StickTable.Entry(key: key("OLDER"), server: "A", expires: Self.t0 - .seconds(1)), now: Self.t0)
        #expect(table.count == 0)

        table.merge(StickTable.Entry(key: key("NEW"), server: "B", expires: Self.t0 + .seconds(5)), now: Self.t0)
        #expect(table.lookup(key("NEW"), now: Self.t0 + .seconds(4)) == "B")
        #expect(table.lookup(key("NEW"), now: Self.t0 + .seconds(5)) == nil, "the peer's expiry, not now + timeout")

        // A merge into a full table makes room like a stick.
        let full = StickTable(timeout: .seconds(30), capacity: 1)
        full.stick(key("LOCAL"), to: "A", now: Self.t0)
        full.merge(StickTable.Entry(key: key("PEER"), server: "B", expires: Self.t0 + .seconds(60)), now: Self.t0)
        #expect(full.count == 1)
        #expect(full.evictions == 1)
        #expect(full.lookup(key("PEER"), now: Self.t0) == "B")
    }

    @Test func remove() {
        let table = StickTable(timeout: .seconds(30), capacity: 10)
        table.stick(key("K1"), to: "A", now: Self.t0)
        table.remove(key("K1"))
        table.remove(key("NEVER"))
        #expect(table.lookup(key("K1"), now: Self.t0) == nil)
        #expect(table.count == 0)
    }

    @Test func reconfigureAppliesToNewSticksOnly() {
        let table = StickTable(timeout: .seconds(30), capacity: 10)
        table.stick(key("K1"), to: "A", now: Self.t0)
        table.reconfigure(timeout: .seconds(5), capacity: 1)
        #expect(table.lookup(key("K1"), now: Self.t0 + .seconds(29)) == "A", "existing entries keep their expiry")
        table.stick(key("K2"), to: "B", now: Self.t0 + .seconds(1))
        #expect(table.count == 1)
        #expect(table.evictions == 1)
        #expect(table.lookup(key("K2"), now: Self.t0 + .seconds(5)) == "B")
        #expect(table.lookup(key("K2"), now: Self.t0 + .seconds(6)) == nil)
    }

    @Test func fullTableEvictsTheLeastRecentlyStuckAmongManyAfterRefreshes() {
        let table = StickTable(timeout: .seconds(60), capacity: 1000)
        for index in 0..<1000 {
            table.stick(StickKey(kind: .ipv4, words: (0, UInt64(index), 4)), to: "A", now: Self.t0 + .milliseconds(Int64(index)))
        }
        // Refresh key 0 (many times, leaving stale expiries behind): key 1 is now the least recently stuck.
        for step in 1...3000 {
            table.stick(StickKey(kind: .ipv4, words: (0, 0, 4)), to: "A", now: Self.t0 + .milliseconds(Int64(1000 + step)))
        }
        let now = Self.t0 + .seconds(5)
        table.stick(StickKey(kind: .ipv4, words: (0, 5000, 4)), to: "B", now: now)
        #expect(table.count == 1000)
        #expect(table.evictions == 1)
        #expect(table.lookup(StickKey(kind: .ipv4, words: (0, 0, 4)), now: now) == "A")
        #expect(table.lookup(StickKey(kind: .ipv4, words: (0, 1, 4)), now: now) == nil)
        #expect(table.lookup(StickKey(kind: .ipv4, words: (0, 2, 4)), now: now) == "A")
    }

    @Test func agreesWithAScanningModelUnderRandomOperations() {
        // A reference model with the original algorithm: drop every expired entry, then evict the earliest expiry.
        var model: [UInt64: (server: String, expires: NIODeadline)] = [:]
        var modelEvictions = 0
        let capacity = 50
        let table = StickTable(timeout: .seconds(10), capacity: capacity)
        var random = SplitMix64(seed: 42)
        var now = Self.t0
        for _ in 0..<20_000 {
            now = now + .milliseconds(Int64(1 + random.next() % 400))  // distinct instants: no expiry ties
            let id = random.next() % 120
            let key = StickKey(kind: .ipv4, words: (0, id, 4))
            switch random.next() % 10 {
            case 0..<6:
                let server = random.next() % 2 == 0 ? "A" : "B"
                if model[id] == nil, model.count >= capacity {
                    model = model.filter { $0.value.expires > now }
                    if model.count >= capacity, let oldest = model.min(by: { $0.value.expires < $1.value.expires }) {
                        model[oldest.key] = nil
                        modelEvictions += 1
                    }
                }
                model[id] = (server, now + .seconds(10))
                table.stick(key, to: server, now: now)
            case 6..<9:
                var expected: String?
                if let entry = model[id] {
                    if entry.expires <= now { model[id] = nil } else { expected = entry.server }
                }
                #expect(table.lookup(key, now: now) == expected)
            default:
                model[id] = nil
                table.remove(key)
            }
        }
        #expect(table.evictions == modelEvictions)
        #expect(table.count == model.count)
    }

    @Test("entries merged from the HA peer count against the bound like local ones")
    func mergedEntriesAreBounded() throws {
        let table = StickTable(timeout: .minutes(30), capacity: 2)
        let now = NIODeadline.now()
        let a = try #require(StickKey(text: "10.0.0.1")), b = try #require(StickKey(text: "10.0.0.2"))
        let c = try #require(StickKey(text: "10.0.0.3"))
        #expect(table.mergeIfLater(.init(key: a, server: "S1", expires: now + .minutes(5)), now: now))
        #expect(table.mergeIfLater(.init(key: b, server: "S2", expires: now + .minutes(10)), now: now))
        table.stick(c, to: "S1", now: now)
        #expect(table.count == 2, "the table grew past its capacity")
        #expect(table.lookup(a, now: now) == nil, "the entry closest to expiry is the one evicted")
        #expect(table.lookup(c, now: now) == "S1")
    }
}

/// A small deterministic random number generator for repeatable tests.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

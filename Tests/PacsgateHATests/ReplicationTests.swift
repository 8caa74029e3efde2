import Foundation
import NIOCore
import NIOPosix
import PacsgateCore
import PacsgateHA
import Testing
import PacsgateTestSupport

/// Persistence replication between two in-process units (each a real `Gateway` with its own stick tables and its own
/// `PairController`) over a real TCP link on loopback.
@Suite("HA persistence replication", .serialized)
struct ReplicationTests {
    /// A secondary, then a primary dialling it through a relay the test can cut.
    static func pair() async throws -> (primary: TestUnit, secondary: TestUnit, relay: CuttableRelay) {
        let secondary = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1)
        let relay = try await CuttableRelay.start(to: { [secondary] in secondary.haPort })
        let primary = try await TestUnit.start(role: .primary, node: "gw-a", peerPort: relay.port)
        return (primary, secondary, relay)
    }

    static func key(_ index: Int) -> StickKey {
        // 16 bytes at most: "c" and the index.
        StickKey(text: "c\(index)") ?? StickKey(text: "?")!
    }

    /// Every entry of `source` is in `target` with the same server and an expiry within `tolerance`.
    static func mismatches(_ source: StickTable, _ target: StickTable, tolerance: TimeAmount = .seconds(2)) -> Int {
        let theirs = Dictionary(uniqueKeysWithValues: target.snapshot().map { ($0.key, $0) })
        var wrong = 0
        for entry in source.snapshot() {
            guard let other = theirs[entry.key], other.server == entry.server,
                abs((other.expires - entry.expires).nanoseconds) <= tolerance.nanoseconds
            else {
                wrong += 1
                continue
            }
        }
        return wrong
    }

    @Test("10,000 entries made on the primary appear on the secondary with the same servers and expiries")
    func tenThousandEntries() async throws {
        let (primary, secondary, relay) = try await Self.pair()
        defer { Task { await relay.stop() } }
        let up = await eventually(timeout: .seconds(20)) {
            let a = await primary.controller.status().link
            let b = await secondary.controller.status().link
            return a == .up && b == .up
        }
        #expect(up, "link did not come up: \(primary.log.rendered)")
        let source = try await primary.table()
        let target = try await secondary.table()
        // Different ages, so expiries differ: entry i was last used i/10 seconds before entry 0. The table's clock is
        // the uptime (NIODeadline), which a machine booted minutes ago cannot go back 1,000 s on (it stops at zero):
        // entry 0 is stamped 1,000 s ahead instead, so entry i is used at now + 1000 - i/10 s.
        let latest = NIODeadline.now() + .seconds(1_000)
        for index in 0..<10_000 {
            source.stick(Self.key(index), to: index % 3 == 0 ? "s2" : "s1", now: latest - .milliseconds(Int64(index * 100)))
        }
        let arrived = await eventually(timeout: .seconds(60)) { target.snapshot().count == 10_000 }
        #expect(arrived, "secondary has \(target.snapshot().count) of 10000 entries")
        #expect(Self.mismatches(source, target) == 0)
        // Spot checks: the expiry is the primary's, not "now + timeout" on arrival.
        let sample = Self.key(9_998)
        let sourceEntry = source.snapshot().first { $0.key == sample }
        let targetEntry = target.snapshot().first { $0.key == sample }
        #expect(sourceEntry?.server == "s1" && targetEntry?.server == "s1")
        if let sourceEntry, let targetEntry {
            #expect(abs((sourceEntry.expires - targetEntry.expires).nanoseconds) < TimeAmount.seconds(2).nanoseconds)
            // 30 min timeout, used 999.8 s before entry 0 (0.2 s from when the entries were made): about 1,800 s
            // left on both, less the time replication took.
            let left = (targetEntry.expires - NIODeadline.now()).nanoseconds / 1_000_000_000
            #expect((1_740...1_801).contains(left), "entry has \(left) s left")
            let first = target.snapshot().first { $0.key == Self.key(0) }
            let apart = first.map { ($0.expires - targetEntry.expires).nanoseconds / 1_000_000 } ?? 0
            #expect(abs(apart - 999_800) <= 2_000, "entry 0 expires \(apart) ms after entry 9,998, not 999,800")
        }
        let status = await primary.controller.status()
        #expect(status.entriesSent >= 10_000)
        let peerStatus = await secondary.controller.status()
        #expect(peerStatus.entriesReceived >= 10_000)
        await primary.stop()
        await secondary.stop()
    }

    @Test("replication runs both ways, and a pair whose link was cut converges when it is restored")
    func cutAndRestore() async throws {
        let (primary, secondary, relay) = try await Self.pair()
        let a = try await primary.table()
        let b = try await secondary.table()
        #expect(await eventually(timeout: .seconds(20)) { await primary.controller.status().link == .up })
        for index in 0..<200 { a.stick(Self.key(index), to: "s1") }
        for index in 200..<300 { b.stick(Self.key(index), to: "s2") }
        #expect(await eventually(timeout: .seconds(20)) { a.snapshot().count == 300 && b.snapshot().count == 300 })

        relay.cut()
        #expect(await eventually(timeout: .seconds(20)) {
            let a = await primary.controller.status().link
            let b = await secondary.controller.status().link
            return a != .up && b != .up
        })
        // While cut: new entries on both sides, and on the primary 50 clients move to another server.
        for index in 300..<800 { a.stick(Self.key(index), to: "s1") }
        for index in 800..<1_100 { b.stick(Self.key(index), to: "s2") }
        for index in 0..<50 { a.stick(Self.key(index), to: "s2") }
        #expect(b.lookup(Self.key(300)) == nil, "the cut relay still carried entries")

        relay.restore()
        let converged = await eventually(timeout: .seconds(30)) {
            a.snapshot().count == 1_100 && b.snapshot().count == 1_100 && Self.mismatches(a, b) == 0 && Self.mismatches(b, a) == 0
        }
        #expect(converged, "a \(a.snapshot().count), b \(b.snapshot().count), mismatches \(Self.mismatches(a, b))/\(Self.mismatches(b, a))")
        #expect(b.lookup(Self.key(10)) == "s2", "the move made while cut did not reach the secondary")
        #expect(a.lookup(Self.key(900)) == "s2")
        let status = await secondary.controller.status()
        #expect(status.lastSnapshotReceived != nil)
        #expect(!(await primary.awaitAudit("ha.link.down")).isEmpty, "link loss not audited")
        #expect(await eventually(timeout: .seconds(10)) { primary.auditRecords("ha.link.up").count >= 2 })
        await relay.stop()
        await primary.stop()
        await secondary.stop()
    }

    @Test("a burst larger than the queue limit loses nothing (overflow turns into a snapshot)")
    func overflowBecomesSnapshot() async throws {
        let secondary = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1)
        let primary = try await TestUnit.start(role: .primary, node: "gw-a", peerPort: secondary.haPort, queueLimit: 100)
        #expect(await eventually(timeout: .seconds(20)) { await primary.controller.status().link == .up })
        let a = try await primary.table()
        let b = try await secondary.table()
        for index in 0..<3_000 { a.stick(Self.key(index), to: "s1") }
        #expect(await eventually(timeout: .seconds(30)) { b.snapshot().count == 3_000 && Self.mismatches(a, b) == 0 })
        await primary.stop()
        await secondary.stop()
    }
}

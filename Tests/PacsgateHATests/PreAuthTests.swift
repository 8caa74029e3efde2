import Foundation
import NIOCore
import NIOPosix
import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateHA

/// The HA port before authentication: anyone who can reach it can connect, so it listens only where the peer is,
/// holds strangers to small frames, caps and rate-limits their connections, and sums their failures in the audit.
@Suite("HA link before authentication", .serialized)
struct PreAuthTests {
    /// A raw TCP connection from `source` (a loopback address) to `port`.
    static func raw(from source: String, to port: Int) async throws -> any Channel {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(to: try SocketAddress(ipAddress: source, port: 0))
            .connect(host: "127.0.0.1", port: port).get()
    }

    @Test("without ha.listen the link listens on the peer-facing address, not on every address")
    func peerFacingListen() async throws {
        let port = try Ports.free()
        // The peer 127.0.0.2 is reached from 127.0.0.1 (the loopback route's source); the port is the peer's.
        let unit = try await TestUnit.start(role: .secondary, node: "gw-b", listen: nil, peerHost: "127.0.0.2", peerPort: port)
        defer { Task { await unit.stop() } }
        let address = try #require(unit.controller.listeningAddress)
        #expect(address.ipAddress == "127.0.0.1", "listening on \(address)")
        #expect(address.port == port)
        #expect(unit.logs(containing: "HA link listening").first?.contains("127.0.0.1:\(port)") == true)
        await unit.stop()
    }

    @Test("before the session is up a frame may announce only a small body: the connection is closed at the header")
    func smallFramesFirst() async throws {
        // A long handshake timeout: only the size limit can close the connection within the test's wait.
        let unit = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1, limits: PreAuthLimits(handshakeTimeout: .seconds(600)))
        let channel = try await Self.raw(from: "127.0.0.1", to: unit.haPort)
        // A session frame (ENTRIES) announcing 100 000 bytes, from someone who never authenticated.
        var header = ByteBuffer(bytes: HAFrame.header(type: HAFrameType.entries.rawValue, sequence: 0, bodyLength: 100_000))
        header.writeBytes([UInt8](repeating: 0, count: 64))
        try await channel.writeAndFlush(header)
        #expect(await eventually(timeout: .seconds(10)) { !channel.isActive }, "the connection stayed open waiting for 100 000 bytes")
        let audited = await unit.awaitAudit("ha.link.rejected")
        #expect((audited.first?["reason"] as? String)?.contains("announces 100000 bytes (limit \(HAFrame.handshakeBodyLimit))") == true, "\(audited)")
        await unit.stop()
    }

    @Test("unauthenticated connections are capped per address; a flood from one address does not keep the peer out")
    func cap() async throws {
        let limits = PreAuthLimits(maximum: 16, perSource: 4, burst: 100, perSecond: 100, handshakeTimeout: .seconds(600))
        let secondary = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1, limits: limits)
        // 40 idle connections from 127.0.0.2: four are held (the handshake timeout is long), the rest closed at once.
        var flood: [any Channel] = []
        for _ in 0..<40 { flood.append(try await Self.raw(from: "127.0.0.2", to: secondary.haPort)) }
        #expect(await eventually(timeout: .seconds(10)) { flood.filter(\.isActive).count == limits.perSource },
            "\(flood.filter(\.isActive).count) of 40 unauthenticated connections still open")
        #expect(await secondary.controller.status().rejected == 36)
        // The peer, from another address, still links.
        let primary = try await TestUnit.start(role: .primary, node: "gw-a", peerPort: secondary.haPort)
        #expect(await eventually(timeout: .seconds(10)) { await secondary.controller.status().link == .up })
        for channel in flood { try? await channel.close() }
        await primary.stop()
        await secondary.stop()
    }

    @Test("strangers filling every unauthenticated slot, and some from the peer's own address, cannot keep ha.peer off the link")
    func peerSlotReserved() async throws {
        // ha.peer is 127.0.0.1 (TestUnit's default): the primary dials from there. The handshake timeout is long, so
        // only the reserved slots can let the peer in while the strangers hold on.
        let limits = PreAuthLimits(maximum: 4, perSource: 4, burst: 100, perSecond: 100, handshakeTimeout: .seconds(600))
        let secondary = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1, limits: limits)
        var strangers: [any Channel] = []
        for source in ["127.0.0.2", "127.0.0.3"] {
            for _ in 0..<4 { strangers.append(try await Self.raw(from: source, to: secondary.haPort)) }
        }
        // The overall cap holds four: each stranger past it closes the oldest, never one from the peer's address.
        #expect(await eventually(timeout: .seconds(10)) { strangers.filter(\.isActive).count == limits.maximum })
        // Someone also holds every slot of the peer's own address (as a spoofer on the peer's segment could).
        var squatters: [any Channel] = []
        for _ in 0..<limits.perSource { squatters.append(try await Self.raw(from: "127.0.0.1", to: secondary.haPort)) }
        #expect(await eventually(timeout: .seconds(10)) {
            secondary.controller.state.withLockedValue { $0.admission.open(from: "127.0.0.1") } == limits.perSource
        })
        let primary = try await TestUnit.start(role: .primary, node: "gw-a", peerPort: secondary.haPort)
        #expect(await eventually(timeout: .seconds(10)) { await secondary.controller.status().link == .up },
            "\(secondary.log.rendered.suffix(10))")
        #expect(squatters.contains { !$0.isActive }, "the peer's newest attempt took the slot of its oldest")
        let audited = secondary.auditRecords("ha.link.rejected").compactMap { $0["reason"] as? String }
        #expect(audited.contains { $0.contains("to make room") }, "\(audited)")
        for channel in strangers + squatters { try? await channel.close() }
        await primary.stop()
        await secondary.stop()
    }

    @Test("a connection that does not finish the handshake within the pre-authentication timeout is closed and audited")
    func handshakeTimeout() async throws {
        let limits = PreAuthLimits(handshakeTimeout: .milliseconds(300))
        let unit = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1, limits: limits)
        // Connected, and then silent: a slow-loris holding a slot.
        let channel = try await Self.raw(from: "127.0.0.5", to: unit.haPort)
        #expect(await eventually(timeout: .seconds(10)) { !channel.isActive }, "the silent connection was never closed")
        let audited = await unit.awaitAudit("ha.link.rejected")
        #expect((audited.first?["reason"] as? String)?.contains("no handshake within 300 ms") == true, "\(audited)")
        #expect(unit.controller.state.withLockedValue { $0.admission.open(from: "127.0.0.5") } == 0, "its slot is free again")
        await unit.stop()
    }

    @Test("connections from one address beyond its burst are closed before any work is done")
    func rate() async throws {
        let limits = PreAuthLimits(maximum: 16, perSource: 4, burst: 5, perSecond: 0.01)
        let unit = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1, limits: limits)
        // 30 diallers in a row from 127.0.0.3, each sending a hello (which costs the unit a key agreement).
        var welcomes = 0
        for _ in 0..<30 {
            let channel = try await RejectionTests.connect(unit.haPort, from: "127.0.0.3")
            let answered = try? await channel.executeThenClose { inbound, outbound in
                var machine = HandshakeStateMachine(
                    side: .initiator, secret: TestSecrets.secret(TestSecrets.other), role: .primary, node: "x", software: "x")
                guard let hello = machine.start() else { return false }
                try await outbound.write(hello)
                var frames = inbound.makeAsyncIterator()
                return try await frames.next() != nil
            }
            if answered == true { welcomes += 1 }
        }
        // At most the burst, plus what 0.01/s adds while the test runs.
        #expect(welcomes <= limits.burst + 1, "\(welcomes) hellos answered")
        #expect(welcomes >= 1)
        await unit.stop()
    }

    @Test("repeated failures from one address make one audit record at once and one summary per interval")
    func aggregatedAudit() async throws {
        // An hour's interval: the test ends it by moving the clock of the flush, not by waiting.
        let limits = PreAuthLimits(burst: 100, perSecond: 100, auditInterval: .seconds(3600))
        let unit = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1, limits: limits)
        for _ in 0..<25 {
            let channel = try await Self.raw(from: "127.0.0.4", to: unit.haPort)
            try await channel.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
            try? await channel.closeFuture.get()
        }
        #expect(await eventually(timeout: .seconds(10)) { await unit.controller.status().rejected == 25 })
        #expect(await eventually(timeout: .seconds(10)) { unit.auditRecords("ha.link.rejected").count == 1 })
        unit.controller.flushRejections(now: .now + .seconds(3601))
        #expect(await eventually(timeout: .seconds(10)) { unit.auditRecords("ha.link.rejected").count == 2 })
        let records = unit.auditRecords("ha.link.rejected").filter { $0["remote"] as? String == "127.0.0.4" }
        #expect(records.count == 2, "\(records)")
        #expect(records.map { $0["count"] as? Int } == [1, 24], "\(records)")
        #expect((records.last?["reason"] as? String)?.contains("not a pacsgate HA link") == true)
        #expect(unit.logs(containing: "HA link rejected").count == 2)
        await unit.stop()
    }

    @Test("HELLOs refused before the dialler proved anything (same role) are audited, a flood summed into one record per interval")
    func refusedHellosAudited() async throws {
        let limits = PreAuthLimits(burst: 100, perSecond: 100, auditInterval: .seconds(3600))
        let unit = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1, limits: limits)
        for _ in 0..<10 {
            let channel = try await RejectionTests.connect(unit.haPort, from: "127.0.0.6")
            // A stranger with any secret claiming to be the secondary too: refused on its claim alone.
            try? await channel.executeThenClose { inbound, outbound in
                var machine = HandshakeStateMachine(
                    side: .initiator, secret: TestSecrets.secret(TestSecrets.other), role: .secondary, node: "intruder", software: "x")
                guard let hello = machine.start() else { return }
                try await outbound.write(hello)
                for try await _ in inbound {}
            }
        }
        #expect(await eventually(timeout: .seconds(10)) { await unit.controller.status().rejected == 10 })
        #expect(await eventually(timeout: .seconds(10)) { unit.auditRecords("ha.link.rejected").count == 1 })
        unit.controller.flushRejections(now: .now + .seconds(3601))
        #expect(await eventually(timeout: .seconds(10)) { unit.auditRecords("ha.link.rejected").count == 2 })
        let records = unit.auditRecords("ha.link.rejected")
        #expect(records.map { $0["count"] as? Int } == [1, 9], "\(records)")
        #expect(records.allSatisfy { $0["remote"] as? String == "127.0.0.6" })
        let reason = records.first?["reason"] as? String ?? ""
        #expect(reason.contains("has not proven the secret") && reason.contains("'intruder'"), "\(reason)")
        // Never logged as the pair being misconfigured: a stranger's claim proves nothing.
        #expect(unit.logs(containing: "misconfigured").isEmpty)
        await unit.stop()
    }
}

/// The admission and audit rules as pure state machines, on a clock the test moves.
@Suite("HA pre-authentication rules")
struct PreAuthRuleTests {
    static let start = ContinuousClock.now

    @Test("a flood that goes on makes one audit record at its start and then one per interval")
    func aggregation() {
        var aggregator = RejectionAggregator(interval: .seconds(60))
        var written: [RejectionAggregator.Report] = []
        // One failure a second from one address for 200 s, one from another address once.
        for second in 0..<200 {
            let now = Self.start + .seconds(second)
            written += aggregator.due(now: now)
            if let report = aggregator.failed("10.0.0.9", reason: "bad", peer: nil, now: now) { written.append(report) }
            if second == 30, let report = aggregator.failed("10.0.0.7", reason: "once", peer: nil, now: now) { written.append(report) }
        }
        written += aggregator.due(now: Self.start + .seconds(400))
        let flood = written.filter { $0.source == "10.0.0.9" }
        #expect(flood.map(\.count) == [1, 59, 60, 60, 20], "\(flood.map(\.count))")
        #expect(flood.map(\.summary) == [false, true, true, true, true])
        #expect(flood.reduce(0) { $0 + $1.count } == 200, "every failure is counted once")
        #expect(written.filter { $0.source == "10.0.0.7" }.map(\.count) == [1], "a single failure is one record, no empty summary")
    }

    @Test("admission: a cap per address, a burst then a rate per address; at the overall cap the oldest stranger makes room")
    func admission() {
        var admission = PreAuthAdmission(limits: PreAuthLimits(maximum: 3, perSource: 2, burst: 4, perSecond: 1))
        #expect(admission.admit("a", now: Self.start) == .admit(ticket: 1, evicting: nil))
        #expect(admission.admit("a", now: Self.start + .milliseconds(1)) == .admit(ticket: 2, evicting: nil))
        guard case .refuse(let perSource) = admission.admit("a", now: Self.start) else { Issue.record("a third from one address"); return }
        #expect(perSource.contains("from this address"))
        #expect(admission.admit("b", now: Self.start + .milliseconds(2)) == .admit(ticket: 3, evicting: nil))
        // Over the overall cap: the oldest (ticket 1, from "a") is closed to make room for the new one.
        #expect(admission.admit("c", now: Self.start + .milliseconds(3)) == .admit(ticket: 4, evicting: .init(ticket: 1, source: "a")))
        #expect(admission.open(from: "a") == 1)
        admission.release(1)  // the evicted connection's own release later changes nothing
        #expect(admission.open(from: "a") == 1)
        admission.release(2)
        // Three attempts from "a" so far (the refused one counts): the fourth spends its burst.
        #expect(admission.admit("a", now: Self.start + .milliseconds(4)) == .admit(ticket: 5, evicting: nil))
        admission.release(5)
        // One more token a second.
        guard case .refuse(let rate) = admission.admit("a", now: Self.start + .milliseconds(5)) else { Issue.record("over the burst"); return }
        #expect(rate.contains("burst"))
        guard case .admit = admission.admit("a", now: Self.start + .seconds(2)) else { Issue.record("a token came back"); return }
    }

    @Test("the peer's address has slots of its own: no rate, not counted against the strangers' cap, its oldest attempt gives way")
    func reservedForPeer() {
        var admission = PreAuthAdmission(limits: PreAuthLimits(maximum: 2, perSource: 2, burst: 1, perSecond: 0.001), reserved: ["10.0.0.2"])
        // Strangers fill the overall cap.
        #expect(admission.admit("10.9.0.1", now: Self.start) == .admit(ticket: 1, evicting: nil))
        #expect(admission.admit("10.9.0.2", now: Self.start) == .admit(ticket: 2, evicting: nil))
        // The peer still gets in, repeatedly (no burst or rate), and evicts no stranger.
        #expect(admission.admit("10.0.0.2", now: Self.start) == .admit(ticket: 3, evicting: nil))
        #expect(admission.admit("10.0.0.2", now: Self.start + .milliseconds(1)) == .admit(ticket: 4, evicting: nil))
        // Its slots full (a spoofer, or stale attempts): the oldest of them gives way, not the new one.
        #expect(admission.admit("10.0.0.2", now: Self.start + .milliseconds(2)) == .admit(ticket: 5, evicting: .init(ticket: 3, source: "10.0.0.2")))
        // A new stranger evicts the oldest stranger, never one of the peer's.
        #expect(admission.admit("10.9.0.3", now: Self.start + .milliseconds(3)) == .admit(ticket: 6, evicting: .init(ticket: 1, source: "10.9.0.1")))
        #expect(admission.open(from: "10.0.0.2") == 2)
    }
}

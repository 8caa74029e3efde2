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
        let unit = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1, statusInterval: .seconds(20))
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
        let limits = PreAuthLimits(maximum: 16, perSource: 4, burst: 100, perSecond: 100)
        let secondary = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1, statusInterval: .seconds(20), limits: limits)
        // 40 idle connections from 127.0.0.2: four are held (until the handshake timeout), the rest closed at once.
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
        let limits = PreAuthLimits(burst: 100, perSecond: 100, auditInterval: .seconds(1))
        let unit = try await TestUnit.start(role: .secondary, node: "gw-b", peerPort: 1, limits: limits)
        for _ in 0..<25 {
            let channel = try await Self.raw(from: "127.0.0.4", to: unit.haPort)
            try await channel.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
            try? await channel.closeFuture.get()
        }
        #expect(await eventually(timeout: .seconds(10)) { await unit.controller.status().rejected == 25 })
        // The summary comes when the interval has ended.
        #expect(await eventually(timeout: .seconds(10)) { unit.auditRecords("ha.link.rejected").count == 2 })
        let records = unit.auditRecords("ha.link.rejected").filter { $0["remote"] as? String == "127.0.0.4" }
        #expect(records.count == 2, "\(records)")
        #expect(records.map { $0["count"] as? Int } == [1, 24], "\(records)")
        #expect((records.last?["reason"] as? String)?.contains("not a pacsgate HA link") == true)
        #expect(unit.logs(containing: "HA link rejected").count == 2)
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

    @Test("admission: a cap overall and per address, a burst then a rate per address; releases free the slot")
    func admission() {
        var admission = PreAuthAdmission(limits: PreAuthLimits(maximum: 3, perSource: 2, burst: 4, perSecond: 1))
        #expect(admission.admit("a", now: Self.start) == .admit)
        #expect(admission.admit("a", now: Self.start) == .admit)
        guard case .refuse(let perSource) = admission.admit("a", now: Self.start) else { Issue.record("a third from one address"); return }
        #expect(perSource.contains("from this address"))
        #expect(admission.admit("b", now: Self.start) == .admit)
        guard case .refuse(let overall) = admission.admit("c", now: Self.start) else { Issue.record("over the cap"); return }
        #expect(overall.contains("3 unauthenticated connections"))
        admission.release("a")
        #expect(admission.admit("a", now: Self.start) == .admit, "a released slot is free again")
        // Four attempts from "a" so far: its burst is spent; one more token a second.
        admission.release("a")
        guard case .refuse(let rate) = admission.admit("a", now: Self.start) else { Issue.record("over the burst"); return }
        #expect(rate.contains("burst"))
        #expect(admission.admit("a", now: Self.start + .seconds(1)) == .admit)
    }
}

import Foundation
import PacsgateCore
@testable import PacsgateHA
import PacsgateTestSupport
import Testing

/// This unit's say in keepalived's election (the track file) and the reasons it records for each takeover.
@Suite("HA election: readiness, track file, takeover reasons")
struct ElectionTests {
    static let now = WallClock.now()

    @Test("a unit is not ready before the peer's snapshot; leaving drops out at once; standby stays below a ready peer")
    func trackValues() {
        var election = Election(role: .primary)
        #expect(election.readiness == .starting && election.trackValue == VRRPTrackFile.notReady)
        election.linkUp(peer: "gw-b")
        #expect(election.trackValue == VRRPTrackFile.notReady, "the link alone does not make a unit ready")
        let changed1 = election.snapshotReceived()
        #expect(changed1)
        #expect(election.readiness == .ready && election.trackValue == VRRPTrackFile.ready)
        let changed2 = election.snapshotReceived()
        #expect(!changed2, "ready once; later snapshots change nothing")
        election.leave()
        #expect(election.trackValue == VRRPTrackFile.leaving)
        election.standBy()
        #expect(election.readiness == .standby && election.trackValue == VRRPTrackFile.notReady)
        // Holding the VIP again (the peer handed it back, or it was the only unit left) makes it ready.
        _ = election.vrrpChanged(to: .master, now: Self.now)
        #expect(election.readiness == .ready)
    }

    @Test("the handover rule may pass packets on only to a peer known alive: a planned handover or a preempted ready peer, never after the link was lost")
    func passesOnlyToLivePeer() {
        var election = Election(role: .primary)
        #expect(!election.passesPeerConnections, "no peer yet")
        election.linkUp(peer: "gw-b")
        _ = election.snapshotReceived()
        // The primary preempting a linked secondary, whether or not the secondary's first STATUS is in yet.
        #expect(election.passesPeerConnections)
        election.peerReported(.ready)
        #expect(election.passesPeerConnections)
        // The link is lost without a goodbye: the peer's host may be dead.
        election.linkDown(reason: "timed out", planned: false)
        #expect(!election.passesPeerConnections)
        _ = election.peerConfirmedGone("its HA port refuses connections")
        #expect(!election.passesPeerConnections)
        // A planned handover: the peer announced it and is alive to serve its connections.
        var secondary = Election(role: .secondary)
        secondary.linkUp(peer: "gw-a")
        _ = secondary.snapshotReceived()
        secondary.peerReported(.ready)
        secondary.peerHandingOver(HandoverNotice(kind: .stopping, reason: "SIGTERM", number: 1))
        #expect(secondary.passesPeerConnections)
        secondary.linkDown(reason: "the peer said goodbye", planned: true)
        #expect(secondary.passesPeerConnections, "a goodbye after the notice keeps the handover planned")
        secondary.linkDown(reason: "reset", planned: false)
        #expect(!secondary.passesPeerConnections)
    }

    @Test("once stopping, nothing brings a unit back into the election: standing by, holding the VIP, a snapshot")
    func stoppingStaysOut() {
        var election = Election(role: .primary)
        election.linkUp(peer: "gw-b")
        _ = election.snapshotReceived()
        election.leave()  // a switchover under way
        election.stopRequested()
        election.standBy()  // the switchover ends
        #expect(election.trackValue == VRRPTrackFile.leaving)
        _ = election.vrrpChanged(to: .master, now: Self.now)
        #expect(election.trackValue == VRRPTrackFile.leaving)
        let madeReady = election.snapshotReceived()
        #expect(!madeReady)
        #expect(!election.passesPeerConnections)
        // Stopping while the peer cannot take over: the VIP is kept (not leaving), and the unit is still stopping.
        var keeping = Election(role: .primary)
        _ = keeping.vrrpChanged(to: .master, now: Self.now)
        keeping.stop(releasing: false)
        #expect(keeping.trackValue == VRRPTrackFile.ready && keeping.stopping)
    }

    @Test("a unit that holds the VIP is ready even without a peer (it is the one serving)")
    func aloneIsReady() {
        var election = Election(role: .primary)
        let takeover = election.vrrpChanged(to: .master, now: Self.now)
        #expect(takeover?.kind == "alone")
        #expect(election.trackValue == VRRPTrackFile.ready)
    }

    @Test("each takeover says why: planned, peer stopped, peer unreachable, preempt")
    func reasons() {
        var planned = Election(role: .primary)
        planned.linkUp(peer: "gw-a")
        _ = planned.snapshotReceived()
        planned.peerHandingOver(HandoverNotice(kind: .stopping, reason: "pacsgate on gw-a is stopping"))
        planned.linkDown(reason: "the peer said goodbye", planned: true)
        let first = planned.vrrpChanged(to: .master, now: Self.now)
        #expect(first?.kind == "planned")
        #expect(first?.reason.contains("gw-a handed over (stopping: pacsgate on gw-a is stopping)") == true, "\(String(describing: first))")
        #expect(planned.vrrpChanged(to: .master, now: Self.now) == nil, "no second takeover without a change")

        var crashed = Election(role: .primary)
        crashed.linkUp(peer: "gw-a")
        let changed3 = crashed.peerConfirmedGone("early")
        #expect(!changed3, "a linked peer is not gone")
        crashed.linkDown(reason: "the peer closed the link", planned: false)
        #expect(crashed.trackValue == VRRPTrackFile.notReady)
        let changed4 = crashed.peerConfirmedGone("its HA port refuses connections")
        #expect(changed4)
        #expect(crashed.trackValue == VRRPTrackFile.takeOver, "the survivor asks to take over")
        #expect(crashed.vrrpChanged(to: .master, now: Self.now)?.kind == "peer-stopped")
        crashed.linkUp(peer: "gw-a")
        #expect(crashed.peerGone == nil && crashed.trackValue == VRRPTrackFile.ready, "the boost ends when the peer is back")

        var unreachable = Election(role: .primary)
        unreachable.linkUp(peer: "gw-a")
        unreachable.linkDown(reason: "peer silent", planned: false)
        #expect(unreachable.vrrpChanged(to: .master, now: Self.now)?.kind == "peer-unreachable")

        var preempt = Election(role: .primary)
        preempt.linkUp(peer: "gw-b")
        preempt.peerReported(.ready)
        _ = preempt.snapshotReceived()
        _ = preempt.vrrpChanged(to: .backup, now: Self.now)
        #expect(preempt.vrrpChanged(to: .master, now: Self.now)?.kind == "preempt")
        #expect(preempt.takeovers == 1)
    }

    @Test("a switchover needs a linked peer that is in sync")
    func peerCanTakeOver() {
        var election = Election(role: .primary)
        #expect(!election.peerCanTakeOver)
        election.linkUp(peer: "gw-b")
        election.peerReported(.starting)
        #expect(!election.peerCanTakeOver)
        election.peerReported(.ready)
        #expect(election.peerCanTakeOver)
        election.linkDown(reason: "x", planned: false)
        #expect(!election.peerCanTakeOver)
    }
}

/// Two in-process units with keepalived's files; the test plays keepalived (it writes the state file the notify
/// script would write and reads the track file keepalived would read).
@Suite("HA handover between in-process units", .serialized)
struct HandoverTests {
    /// A linked pair, both ready; the primary holds the VIP.
    static func pair() async throws -> (TestUnit, TestUnit) {
        let (portA, portB) = (try Ports.free(), try Ports.free())
        let a = try await TestUnit.start(
            role: .primary, node: "gw-a", listen: Endpoint(host: "127.0.0.1", port: portA), peerPort: portB, vrrpFiles: true)
        let b = try await TestUnit.start(
            role: .secondary, node: "gw-b", listen: Endpoint(host: "127.0.0.1", port: portB), peerPort: portA, vrrpFiles: true)
        try a.setVRRP("MASTER")
        try b.setVRRP("BACKUP")
        let ready = await eventually(timeout: .seconds(15)) {
            let (sa, sb) = (await a.controller.status(), await b.controller.status())
            return sa.readiness == .ready && sb.readiness == .ready && sa.peerReadiness == .ready && sb.peerReadiness == .ready
        }
        if !ready { throw HATestFailure("pair not ready: \(a.log.rendered) \(b.log.rendered)") }
        return (a, b)
    }

    @Test("a returning unit writes 'not ready' until the peer's snapshot is in, then 'ready'")
    func readyAfterSnapshot() async throws {
        let (portA, portB) = (try Ports.free(), try Ports.free())
        let a = try await TestUnit.start(
            role: .primary, node: "gw-a", listen: Endpoint(host: "127.0.0.1", port: portA), peerPort: portB, vrrpFiles: true)
        try a.setVRRP("BACKUP")
        #expect(await eventually(timeout: .seconds(10)) { a.trackValue == VRRPTrackFile.notReady })
        // No peer yet: it keeps dialling and stays below a ready peer.
        #expect(await eventually(timeout: .seconds(10)) { !a.logs(containing: "HA peer unreachable").isEmpty })
        #expect(a.trackValue == VRRPTrackFile.notReady)
        let b = try await TestUnit.start(
            role: .secondary, node: "gw-b", listen: Endpoint(host: "127.0.0.1", port: portB), peerPort: portA, vrrpFiles: true)
        try b.setVRRP("MASTER")
        // (The track file is written first, then the log line.)
        #expect(await eventually(timeout: .seconds(15)) {
            a.trackValue == VRRPTrackFile.ready && !a.logs(containing: "HA ready to hold the virtual IPs").isEmpty
        })
        let lines = a.log.rendered
        let snapshot = lines.firstIndex { $0.contains("HA snapshot received") }
        let ready = lines.firstIndex { $0.contains("HA ready to hold the virtual IPs") }
        #expect(snapshot != nil && ready != nil && snapshot! < ready!, "\(lines)")
        #expect((await a.awaitAudit("ha.ready").first?["reason"] as? String)?.contains("the snapshot of gw-b is in") == true)
        await a.stop()
        await b.stop()
    }

    @Test("a switchover: the VIP is released through the track file, the peer records a planned takeover, this unit stands by")
    func switchover() async throws {
        let (a, b) = try await Self.pair()
        // On the unit without the VIP there is nothing to hand over.
        #expect(await b.controller.switchover(requestedBy: "alice") == .notHolding(.backup))
        let result = Task { await a.controller.switchover(requestedBy: "alice") }
        // keepalived: the track file says -254 → FAULT here, MASTER on the peer.
        #expect(await eventually(timeout: .seconds(10)) { a.trackValue == VRRPTrackFile.leaving })
        #expect(await eventually(timeout: .seconds(10)) { await b.controller.status().peerReadiness == .leaving || !b.logs(containing: "hands the virtual IPs over").isEmpty })
        // The peer acknowledged notice 1 after writing that its notify script must turn the handover rule on.
        #expect(await eventually(timeout: .seconds(10)) { b.handoverText == "copy 900" }, "\(String(describing: b.handoverText))")
        #expect(await eventually(timeout: .seconds(10)) { a.controller.state.withLockedValue { $0.acknowledgedNotice } == 1 })
        try a.setVRRP("FAULT")
        try b.setVRRP("MASTER")
        guard case .handedOver = await result.value else {
            Issue.record("switchover: \(await result.value)")
            return
        }
        #expect(a.trackValue == VRRPTrackFile.notReady, "a unit that handed over stands by below its peer")
        #expect(await a.controller.status().readiness == .standby)
        let takeover = await b.awaitAudit("ha.takeover").last
        #expect(takeover?["kind"] as? String == "planned", "\(String(describing: takeover))")
        #expect((takeover?["reason"] as? String)?.contains("gw-a handed over (switchover: requested by alice)") == true)
        #expect(await a.awaitAudit("ha.switchover").first?["user"] as? String == "alice")
        // Standing by and linked: should it take the VIP from the live peer, it would pass the peer's connections on.
        #expect(a.handoverText == "copy 900")
        // A switchover back, once the peer has heard that this unit stands by: the peer's own notice 1.
        #expect(await eventually(timeout: .seconds(10)) { await b.controller.status().peerReadiness == .standby })
        let back = Task { await b.controller.switchover(requestedBy: "bob") }
        #expect(await eventually(timeout: .seconds(10)) { b.controller.state.withLockedValue { $0.acknowledgedNotice } == 1 && b.trackValue == VRRPTrackFile.leaving })
        try b.setVRRP("FAULT")
        try a.setVRRP("MASTER")
        guard case .handedOver = await back.value else {
            Issue.record("switchover back: \(await back.value)")
            return
        }
        await a.stop()
        await b.stop()
    }

    @Test("a switchover cancelled while keepalived still holds the VIP returns at once as cancelled, not after spinning to its timeout")
    func cancelledSwitchover() async throws {
        let (a, b) = try await Self.pair()
        let switchover = Task { await a.controller.switchover(requestedBy: "alice") }
        // The VIP is never released here (the test plays keepalived and does nothing): the handover waits.
        #expect(await eventually(timeout: .seconds(10)) { a.trackValue == VRRPTrackFile.leaving })
        switchover.cancel()
        #expect(await switchover.value == .cancelled)
        #expect(await a.controller.status().readiness == .standby, "a cancelled switchover leaves the unit standing by, not out for good")
        await a.stop()
        await b.stop()
    }

    @Test("a stop while the peer cannot take over keeps the VIP through the drain, and no switchover starts once stopping")
    func stopKeepsVIPWithoutPeer() async throws {
        let a = try await TestUnit.start(role: .primary, node: "gw-a", peerPort: try Ports.free(), vrrpFiles: true)
        try a.setVRRP("MASTER")
        #expect(await eventually(timeout: .seconds(10)) { await a.controller.status().vrrp == .master })
        guard case .kept(let why) = await a.controller.handOverForStop(reason: "SIGTERM") else {
            Issue.record("a stop with no peer released the VIP")
            return
        }
        #expect(why.contains("the link to the peer is down"))
        #expect(a.trackValue != VRRPTrackFile.leaving, "keepalived would release the VIP with nobody to take it")
        #expect(!a.logs(containing: "keeping the virtual IPs through the drain").isEmpty)
        guard case .refused(let reason) = await a.controller.switchover(requestedBy: "alice") else {
            Issue.record("a switchover started while stopping")
            return
        }
        #expect(reason.contains("stopping"))
        await a.stop()
    }

    @Test("a unit that stops without holding the VIP still drops out of the election at once")
    func stopWhileBackup() async throws {
        let (a, b) = try await Self.pair()
        #expect(await b.controller.handOverForStop(reason: "test") == .notHolding(.backup))
        #expect(b.trackValue == VRRPTrackFile.leaving, "keepalived could give the VIP to a unit that is going")
        await a.stop()
        await b.stop()
    }

    @Test("a switchover is refused while the peer is not linked")
    func switchoverRefused() async throws {
        let a = try await TestUnit.start(role: .primary, node: "gw-a", peerPort: try Ports.free(), vrrpFiles: true)
        try a.setVRRP("MASTER")
        #expect(await eventually(timeout: .seconds(10)) { await a.controller.status().vrrp == .master })
        guard case .refused(let why) = await a.controller.switchover(requestedBy: "alice") else {
            Issue.record("a switchover with no peer was not refused")
            return
        }
        #expect(why.contains("the link to the peer is down"))
        #expect(a.trackValue != VRRPTrackFile.leaving)
        await a.stop()
    }

    @Test("the link ends without a goodbye and the peer's port refuses: the survivor asks to take over and says why")
    func peerGone() async throws {
        let (a, b) = try await Self.pair()
        #expect(b.trackValue == VRRPTrackFile.ready)
        await a.stop()  // no goodbye: the task is cancelled, the listener closes with it
        #expect(await eventually(timeout: .seconds(10)) { b.trackValue == VRRPTrackFile.takeOver })
        #expect(!b.logs(containing: "peer's pacsgate is gone").isEmpty)
        // Taking over from a peer that vanished: the handover rule stays off (its host may be dead).
        #expect(b.handoverText == "none")
        try b.setVRRP("MASTER")
        #expect(await eventually(timeout: .seconds(10)) { b.auditRecords("ha.takeover").contains { $0["kind"] as? String == "peer-stopped" } })
        let overview = await b.controller.status()
        #expect(overview.lastTakeover?.kind == "peer-stopped" && overview.takeovers == 1)
        await b.stop()
    }
}

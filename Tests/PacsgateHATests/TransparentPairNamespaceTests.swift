import Foundation
import PacsgateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// docs/operations.md, "Transparent mode", "On an HA pair", tried with real packets (issue 20). Two units run
/// `pacsgate run` with a `transparent: true` DICOM service and the `ha:` section, and keepalived with the samples as
/// ``HALab`` runs them; the same VRRP instance moves the services' VIP (modalities' side) and a second VIP on the
/// nodes' side (`$EXTRA_VIPS`). The node's route back to the modalities goes via that second VIP:
///
/// ```
///   modality 10.77.0.10 ─┐ br0                    br1 ┌─ node 10.79.0.11 (dcmtk storescp),
///   unit A   10.77.0.2  ─┤  VIP 10.77.0.100           ├─ 10.79.0.2 (A)      route to 10.77.0.0/24
///   unit B   10.77.0.3  ─┘  node-side VIP 10.79.0.100 └─ 10.79.0.3 (B)      via 10.79.0.100
/// ```
///
/// Each unit has the single unit's policy routing (``TransparentRouting``), `ip_forward` 0 and strict `rp_filter`:
/// the nodes' answers are delivered to the gateway's own sockets, nothing is forwarded. One engine per run, as
/// TransparentNamespaceTests: `native`, or `nio` with `PACSGATE_TEST_ENGINE=nio` (scripts/test.sh runs both).
@Suite("transparent mode on an HA pair: the node-side VIP moves with the services' VIP", .serialized)
struct TransparentPairNamespaceTests {
    static let modality = "10.77.0.10"
    static let node = "10.79.0.11"
    static let nodeSideVIP = "10.79.0.100"

    /// The configuration's top: the engine of this run, one transparent DICOM service in front of storescp.
    static var services: String {
        let engine = TestEngine.configurationLine.isEmpty ? "engine: native\n" : TestEngine.configurationLine
        return """
            \(engine)services:
              - label: DICOM
                listen: "\(HALab.vip):\(HALab.dicomPort)"
                protocol: dicom
                transparent: true
                servers: [{ label: N, address: "\(Self.node):11112" }]

            """
    }

    @Test(
        "an association through the VIP holder reaches storescp from the modality's own address; after the holder's pacsgate is killed (-9) a new one goes through the other unit, and again after the unit returns and takes both VIPs back",
        .enabled(if: HALab.available, Comment(rawValue: FailoverNamespaceTests.disabled)), .timeLimit(.minutes(5)))
    func failoverAndReturn() async throws {
        let began = HALab.monotonic()
        let lab = try HALab(prefix: "pg20t", services: Self.services, extraVIPs: "\(Self.nodeSideVIP)/24 dev eth1")
        defer { lab.cleanUp() }
        // storescp does not end on the SIGTERM of the clean-up (which would wait 25 s for it); it has nothing to keep.
        defer { if let storescp = lab.process("storescp") { kill(storescp.processIdentifier, SIGKILL) } }
        try await Self.build(lab)
        guard await lab.waitForPair(holder: "gw-a", timeout: .seconds(90)), await Self.bothVIPs(on: "a", lab) else {
            Issue.record("the pair did not come up with both VIPs on A\n\(lab.diagnostics())")
            return
        }
        try await Self.associate(lab, through: "gw-a", number: 1)

        // The holder fails: B takes both VIPs (the peer's pacsgate is gone, so B's track file lifts it above A).
        guard let primary = lab.process("gw-a") else { return }
        let killed = HALab.monotonic()
        kill(primary.processIdentifier, SIGKILL)
        guard await Self.bothVIPs(on: "b", lab) else {
            Issue.record("B did not take both VIPs after the kill\n\(lab.diagnostics())")
            return
        }
        let moved = HALab.monotonic()
        try await Self.associate(lab, through: "gw-b", number: 2)

        // A returns, and takes both VIPs back once it has B's snapshot.
        try lab.startPacsgate("gw-a")
        guard await lab.waitForPair(holder: "gw-a", timeout: .seconds(90)), await Self.bothVIPs(on: "a", lab) else {
            Issue.record("A did not take both VIPs back\n\(lab.diagnostics())")
            return
        }
        try await Self.associate(lab, through: "gw-a", number: 3)
        print(
            "HA transparent (\(Self.services.prefix { $0 != "\n" })): both VIPs on B \(Int(((moved - killed) * 1000).rounded())) ms after kill -9; "
                + "the test took \(Int((HALab.monotonic() - began).rounded())) s")
    }

    /// The network, storescp, the transparent routing on both units, then the units with their keepalived.
    static func build(_ lab: HALab) async throws {
        let ip = HALab.ip
        try lab.makeSwitch(bridges: ["br0", "br1"])
        for (role, address) in [("c", Self.modality), ("a", "10.77.0.2"), ("b", "10.77.0.3")] {
            try lab.attach(role, address: address)
        }
        try lab.attach("a", "eth1", address: "10.79.0.2", bridge: "br1")
        try lab.attach("b", "eth1", address: "10.79.0.3", bridge: "br1")
        try lab.attach("n", address: Self.node, bridge: "br1")
        // The node's way back to the modalities: the address that moves with the VIP, never one unit's own.
        try lab.run(ip, ["-n", lab.ns("n"), "route", "add", "10.77.0.0/24", "via", Self.nodeSideVIP])
        let ruleset = lab.directory.appendingPathComponent("transparent.nft").path
        try TransparentRouting.ruleset.write(toFile: ruleset, atomically: true, encoding: .utf8)
        for role in ["a", "b"] {
            for command in TransparentRouting.commands(ip: ip, namespace: lab.ns(role), rulesetFile: ruleset) {
                try lab.run(command[0], Array(command.dropFirst()))
            }
            try lab.run(ip, ["netns", "exec", lab.ns(role), "sysctl", "-qw", "net.ipv4.ip_forward=0", "net.ipv4.conf.all.rp_filter=1"])
        }
        try lab.spawn("storescp", in: lab.ns("n"), [Peers.storescp, "-d", "-dhl", "-aet", "MACH7", "-od", lab.directory.path, "11112"])
        let listening = await eventually(timeout: .seconds(30), poll: .milliseconds(100)) {
            (try? await ExternalTools.run(ip, ["netns", "exec", lab.ns("n"), "ss", "-Hltn"]))?.standardOutput.contains(":11112 ") == true
        }
        guard listening else { throw HATestFailure("storescp did not start: \(lab.log("storescp"))") }
        try lab.startUnits(secret: TestSecrets.pair)
    }

    /// Whether, within 90 s, the unit of `role` is MASTER with the VIP and the node-side VIP, and the other unit has
    /// neither.
    static func bothVIPs(on role: String, _ lab: HALab) async -> Bool {
        let (node, other) = role == "a" ? ("gw-a", "b") : ("gw-b", "a")
        return await eventually(timeout: .seconds(90), poll: .milliseconds(100)) {
            guard lab.vrrp(node) == "MASTER", await lab.holdsVIP(role), await lab.holdsVIP(role, Self.nodeSideVIP, on: "eth1") else { return false }
            let elsewhere = await lab.holdsVIP(other)
            let nodeSideElsewhere = await lab.holdsVIP(other, Self.nodeSideVIP, on: "eth1")
            return !elsewhere && !nodeSideElsewhere
        }
    }

    /// One association from the modality (dcmtk echoscu through the VIP): it succeeds; it is storescp's `number`th,
    /// from the modality's own address like every one before; the unit `unit` audits it, released, with the modality
    /// as its client, and the other unit nothing more.
    static func associate(_ lab: HALab, through unit: String, number: Int) async throws {
        let other = unit == "gw-a" ? "gw-b" : "gw-a"
        let (before, otherBefore) = (lab.audit(unit, "dicom.association").count, lab.audit(other, "dicom.association").count)
        let echo = try await ExternalTools.run(
            HALab.ip,
            ["netns", "exec", lab.ns("c"), Peers.echoscu, "-aet", "MODALITY1", "-aec", "MACH7", HALab.vip, "\(HALab.dicomPort)"])
        #expect(echo.status == 0, "association \(number) through \(unit): \(echo.standardOutput) \(echo.standardError)\n\(lab.diagnostics())")
        let received = { lab.log("storescp").split(separator: "\n").filter { $0.contains("Association Received: ") } }
        #expect(await eventually(timeout: .seconds(30)) { received().count == number }, "association \(number): \(lab.log("storescp").suffix(3000))")
        let peers = received().map { String($0.split(separator: " ").last ?? "") }
        #expect(peers == Array(repeating: Self.modality, count: number), "association \(number): storescp saw \(peers)")
        let audited = await eventually(timeout: .seconds(30)) { lab.audit(unit, "dicom.association").count == before + 1 }
        #expect(audited, "association \(number): \(unit) audited no association\n\(lab.diagnostics())")
        let record = lab.audit(unit, "dicom.association").last
        #expect(
            (record?["client"] as? String)?.hasPrefix("\(Self.modality):") == true && record?["outcome"] as? String == "released",
            "association \(number) on \(unit): \(String(describing: record))")
        #expect(lab.audit(other, "dicom.association").count == otherBefore, "association \(number) was also audited by \(other)")
    }
}

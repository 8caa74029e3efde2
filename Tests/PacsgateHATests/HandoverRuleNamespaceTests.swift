import Foundation
import PacsgateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The samples' handover rule (pacsgate-handover-net.sh, pacsgate-handover.nft, notify-pacsgate.sh) with real
/// packets, in network namespaces of its own:
///
/// ```
///   client  10.78.0.10 ─┐
///   unit A  10.78.0.2  ─┤  bridge in a "switch" namespace; the VIP 10.78.0.100 moves from A to B
///   unit B  10.78.0.3  ─┘
/// ```
///
/// A serves a TCP connection of the client (an echo server) while B stands by: keepalived's notify script (the sample,
/// run as keepalived runs it) has made B BACKUP. The VIP then moves to B, and the client's next packet reaches B, which
/// knows no such connection — before or after the notify script made B MASTER, with pacsgate's handover file saying
/// `copy` (planned) or `none` (a takeover from a peer that stopped answering).
@Suite("HA handover rule with real packets in network namespaces", .serialized)
struct HandoverRuleNamespaceTests {
    static let vip = "10.78.0.100"

    /// A connection to the VIP: one echo, then (once the flag file exists) a second; prints what the second got.
    static let clientProgram = """
        import json, os, socket, sys, time
        vip, port, flag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        for attempt in range(100):  # until the echo server listens
            try: s = socket.create_connection((vip, port), timeout=5); break
            except ConnectionRefusedError: time.sleep(0.1)
        s.sendall(b"1"); first = s.recv(16)
        print(json.dumps({"ready": first == b"1"}), flush=True)
        while not os.path.exists(flag): time.sleep(0.05)
        s.settimeout(20)
        try:
            s.sendall(b"2"); second = s.recv(16)
            result = "echo" if second == b"2" else "closed"
        except ConnectionResetError: result = "reset"
        except socket.timeout: result = "timeout"
        print(json.dumps({"second": result}), flush=True)
        """

    static let echoProgram = """
        import socket, threading
        server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", 7000)); server.listen(8)
        def serve(c):
            while True:
                data = c.recv(16)
                if not data: return
                c.sendall(data)
        while True:
            c, _ = server.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
        """

    /// The peer's host sending TCP to this unit (as its HA link does): a SYN to B every 0.2 s.
    static let heartbeatProgram = """
        import socket, time
        while True:
            try: socket.create_connection(("10.78.0.3", 7778), timeout=0.2).close()
            except OSError: pass
            time.sleep(0.2)
        """

    /// What keepalived's notify script has done on B when the client's packet after the move arrives there.
    enum Takeover {
        /// Nothing yet: B was BACKUP until a moment ago (keepalived sends its gratuitous ARPs as it forks the script).
        case masterNotYetNotified
        /// B is MASTER and pacsgate's handover file says `copy 60`: a planned takeover.
        case planned
        /// B is MASTER and pacsgate's handover file says `none`: a takeover from a peer that stopped answering.
        case unplanned
    }

    /// Builds the network with B standing by (BACKUP), moves the VIP from A to B with A's host alive or dead, and
    /// returns what the client's packet after the move got: `echo` (passed to A, which answered), `reset` (B answered
    /// it has no such connection), `timeout` (dropped: passed into the void).
    static func moveVIP(peerAlive: Bool, _ takeover: Takeover) async throws -> String {
        let lab = try HALab()
        defer { lab.cleanUp() }
        let ip = HALab.ip
        let hosts = [("c", "10.78.0.10"), ("a", "10.78.0.2"), ("b", "10.78.0.3")]
        let switchNS = lab.ns("r")
        try lab.run(ip, ["netns", "add", switchNS])
        lab.adopt(switchNS)
        try lab.run(ip, ["-n", switchNS, "link", "add", "br0", "type", "bridge"])
        try lab.run(ip, ["-n", switchNS, "link", "set", "br0", "up"])
        for (role, address) in hosts {
            let namespace = lab.ns("r" + role)
            try lab.run(ip, ["netns", "add", namespace])
            lab.adopt(namespace)
            try lab.run(ip, ["-n", switchNS, "link", "add", "p\(role)", "type", "veth", "peer", "name", "eth0", "netns", namespace])
            try lab.run(ip, ["-n", switchNS, "link", "set", "p\(role)", "master", "br0", "up"])
            try lab.run(ip, ["-n", namespace, "link", "set", "lo", "up"])
            try lab.run(ip, ["-n", namespace, "addr", "add", "\(address)/24", "dev", "eth0"])
            try lab.run(ip, ["-n", namespace, "link", "set", "eth0", "up"])
        }
        let (a, b, c) = (lab.ns("ra"), lab.ns("rb"), lab.ns("rc"))
        // The sample's handover networking on both units, the peer's host counted alive 1 s after its last packet.
        for (namespace, peer) in [(a, "10.78.0.3"), (b, "10.78.0.2")] {
            try lab.run(ip, ["netns", "exec", namespace, "\(HALab.samples)/pacsgate-handover-net.sh", "-t", "1s", "eth0", peer, Self.vip])
        }
        try lab.run(ip, ["-n", a, "addr", "add", "\(Self.vip)/24", "dev", "eth0"])
        // keepalived makes B BACKUP: the rule is on there, with no time limit, before B takes the VIP.
        let state = lab.directory.appendingPathComponent("vrrp-state").path
        let handover = lab.directory.appendingPathComponent("vrrp-handover").path
        try "copy 60\n".write(toFile: handover, atomically: true, encoding: .utf8)
        try Self.notify(lab, b, "BACKUP", state: state, handover: handover)
        guard let standingBy = await Self.elements(lab, b, "copying"), standingBy.hasPrefix("tcp"), !standingBy.contains("expires") else {
            throw HATestFailure("the notify script did not turn the rule on at BACKUP, with no time limit")
        }
        try lab.spawn("echo", in: a, [Peers.env, "python3", "-u", "-c", Self.echoProgram])
        let flag = lab.directory.appendingPathComponent("moved").path
        try lab.spawn("client", in: c, [Peers.env, "python3", "-u", "-c", Self.clientProgram, Self.vip, "7000", flag])
        guard await eventually(timeout: .seconds(20), { lab.log("client").contains("\"ready\": true") }) else {
            throw HATestFailure("the client never got its first echo: \(lab.log("client"))")
        }
        if peerAlive {
            try lab.spawn("heartbeat", in: a, [Peers.env, "python3", "-u", "-c", Self.heartbeatProgram])
            guard await eventually(timeout: .seconds(10), { await Self.holds(lab, b, "peer_alive") }) else {
                throw HATestFailure("B never saw A's packets")
            }
        } else {
            // A's host dies: not a packet more from it.
            try lab.run(ip, ["-n", a, "link", "set", "eth0", "down"])
        }
        // keepalived moves the VIP (the address, and the client's ARP entry as the gratuitous ARP sets it).
        _ = HALab.runSync(ip, ["-n", a, "addr", "del", "\(Self.vip)/24", "dev", "eth0"])
        try lab.run(ip, ["-n", b, "addr", "add", "\(Self.vip)/24", "dev", "eth0"])
        let mac = try await ExternalTools.run(ip, ["-n", b, "-br", "link", "show", "dev", "eth0"]).standardOutput
            .split(separator: " ", omittingEmptySubsequences: true).dropFirst(2).first.map(String.init) ?? ""
        try lab.run(ip, ["-n", c, "neigh", "replace", Self.vip, "lladdr", mac, "dev", "eth0", "nud", "permanent"])
        // ...and runs its notify script on B, where pacsgate says whether the takeover is planned.
        switch takeover {
        case .masterNotYetNotified:
            break
        case .planned:
            try Self.notify(lab, b, "MASTER", state: state, handover: handover)
            guard let on = await Self.elements(lab, b, "copying"), on.contains("expires") else {
                throw HATestFailure("the notify script did not keep the rule on for the handover window at MASTER")
            }
        case .unplanned:
            try "none\n".write(toFile: handover, atomically: true, encoding: .utf8)
            try Self.notify(lab, b, "MASTER", state: state, handover: handover)
            guard await Self.elements(lab, b, "copying") == "" else { throw HATestFailure("the notify script did not turn the rule off") }
        }
        if !peerAlive {
            // Once A's last packet is older than the peer timeout, B no longer counts its host alive.
            guard await eventually(timeout: .seconds(10), { !(await Self.holds(lab, b, "peer_alive")) }) else {
                throw HATestFailure("peer_alive never expired")
            }
        }
        _ = FileManager.default.createFile(atPath: flag, contents: nil)
        guard await eventually(timeout: .seconds(40), { lab.log("client").contains("\"second\"") }) else {
            throw HATestFailure("the client never finished: \(lab.log("client"))")
        }
        let line = lab.log("client").split(separator: "\n").last { $0.contains("\"second\"") } ?? ""
        let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        return object?["second"] as? String ?? "unreadable: \(line)"
    }

    /// keepalived's notify call on `namespace`: the sample with keepalived's arguments.
    static func notify(_ lab: HALab, _ namespace: String, _ vrrp: String, state: String, handover: String) throws {
        try lab.run(HALab.ip, ["netns", "exec", namespace, "\(HALab.samples)/notify-pacsgate.sh", state, handover, "INSTANCE", "PACSGATE", vrrp, "100"])
    }

    /// The elements of set `name` of the handover table in `namespace` ("" when empty), or nil if it cannot be read.
    static func elements(_ lab: HALab, _ namespace: String, _ name: String) async -> String? {
        guard let output = try? await ExternalTools.run(HALab.ip, ["netns", "exec", namespace, "nft", "list", "set", "ip", "pacsgate_handover", name]),
            output.status == 0
        else { return nil }
        guard let range = output.standardOutput.range(of: "elements = { ") else { return "" }
        return String(output.standardOutput[range.upperBound...].prefix { $0 != "}" }).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether set `name` of the handover table in `namespace` holds its element.
    static func holds(_ lab: HALab, _ namespace: String, _ name: String) async -> Bool {
        await Self.elements(lab, namespace, name)?.hasPrefix("tcp") == true
    }

    @Test(
        "a planned move while the peer's host is alive: the client's packet is passed to the old holder, which answers",
        .enabled(if: HALab.available, Comment(rawValue: FailoverNamespaceTests.disabled)), .timeLimit(.minutes(3)))
    func peerAlive() async throws {
        #expect(try await Self.moveVIP(peerAlive: true, .planned) == "echo")
    }

    @Test(
        "the rule is on while the unit stands by (BACKUP): a packet that arrives after the VIP moved but before keepalived's MASTER notification has run is passed to the old holder, not reset",
        .enabled(if: HALab.available, Comment(rawValue: FailoverNamespaceTests.disabled)), .timeLimit(.minutes(3)))
    func armedAtBackup() async throws {
        #expect(try await Self.moveVIP(peerAlive: true, .masterNotYetNotified) == "echo")
    }

    @Test(
        "an unplanned takeover (pacsgate says none): the MASTER notification turns the rule off, and the client gets a reset at once although the peer's host is alive",
        .enabled(if: HALab.available, Comment(rawValue: FailoverNamespaceTests.disabled)), .timeLimit(.minutes(3)))
    func unplannedTakeoverTurnsOff() async throws {
        #expect(try await Self.moveVIP(peerAlive: true, .unplanned) == "reset")
    }

    @Test(
        "the peer's host died: even with the rule turned on, nothing is passed into the void; the client gets a reset at once",
        .enabled(if: HALab.available, Comment(rawValue: FailoverNamespaceTests.disabled)), .timeLimit(.minutes(3)))
    func peerHostDead() async throws {
        #expect(try await Self.moveVIP(peerAlive: false, .planned) == "reset")
    }
}

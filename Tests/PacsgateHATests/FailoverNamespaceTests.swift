import Foundation
import Testing

#if canImport(Glibc)
import Glibc
import PacsgateTestSupport
#endif

/// Must show 1: a pair of real `pacsgate` processes with real keepalived in network namespaces made by the test.
///
/// ```
///   client ns (10.77.0.10, .20) ─┐
///   gateway A ns (10.77.0.2) ────┤  bridge in a "switch" ns; VIP 10.77.0.100 held by keepalived
///   gateway B ns (10.77.0.3) ────┤
///   backend X ns (10.77.0.11) ───┤
///   backend Y ns (10.77.0.12) ───┘
/// ```
/// A client sticks to backend Y through the primary; the primary's pacsgate is killed (SIGKILL); keepalived's
/// track_script fails, the VIP moves to the secondary, whose pacsgate (already bound to the VIP with IP_FREEBIND)
/// sends the client to Y again from the replicated entry. The time from the kill to the first successful connection
/// is printed.
@Suite("HA failover with keepalived in network namespaces", .serialized)
struct FailoverNamespaceTests {
    /// Whether this machine lets the test create network namespaces (root and iproute2). The only reason to skip.
    static let namespacesAvailable: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip")
        else { return false }
        let probe = "pgprobe\(getpid())"
        guard Self.runSync(Self.ip, ["netns", "add", probe]) == 0 else { return false }
        _ = Self.runSync(Self.ip, ["netns", "del", probe])
        return true
    }()

    static var ip: String { FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip" }

    @discardableResult
    static func runSync(_ executable: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    static let backendProgram = """
        import socket, sys
        name, port = sys.argv[1], int(sys.argv[2])
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port)); s.listen(64)
        while True:
            c, _ = s.accept()
            try: c.sendall(name.encode())
            finally: c.close()
        """

    static let clientProgram = """
        import socket, sys
        source, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
        s = socket.socket(); s.settimeout(1.0); s.bind((source, 0)); s.connect((host, port))
        data = b""
        while True:
            chunk = s.recv(64)
            if not chunk: break
            data += chunk
        print(data.decode())
        """

    /// Everything the test made, removed by `cleanUp()` whatever happened.
    final class Lab: @unchecked Sendable {
        let id: String
        let directory: URL
        var namespaces: [String] = []
        var processes: [Process] = []

        init() throws {
            self.id = String(getpid() % 100_000)
            self.directory = try makeTemporaryDirectory("pacsgate-failover")
        }

        func ns(_ role: String) -> String { "pg\(role)\(self.id)" }

        func ip(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: FailoverNamespaceTests.ip)
            process.arguments = arguments
            let error = Pipe()
            process.standardError = error
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                let message = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                throw HATestFailure("ip \(arguments.joined(separator: " ")): \(message)")
            }
        }

        /// Starts `arguments` inside namespace `namespace` in the background, output to `log`.
        @discardableResult
        func spawn(in namespace: String, _ arguments: [String], log: String) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: FailoverNamespaceTests.ip)
            process.arguments = ["netns", "exec", namespace] + arguments
            let path = self.directory.appendingPathComponent(log).path
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            self.processes.append(process)
            return process
        }

        func log(_ name: String) -> String {
            (try? String(contentsOf: self.directory.appendingPathComponent(name), encoding: .utf8)) ?? ""
        }

        func cleanUp() {
            for process in self.processes where process.isRunning {
                kill(process.processIdentifier, SIGTERM)
            }
            for process in self.processes where process.isRunning {
                let deadline = Date().addingTimeInterval(5)
                while process.isRunning, Date() < deadline { usleep(50_000) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
            for namespace in self.namespaces.reversed() {
                _ = FailoverNamespaceTests.runSync(FailoverNamespaceTests.ip, ["netns", "del", namespace])
            }
            try? FileManager.default.removeItem(at: self.directory)
        }
    }

    static func pacsgateYAML(lab: Lab, node: String, role: String, address: String, peer: String) -> String {
        let unit = lab.directory.appendingPathComponent(node).path
        return """
            services:
              - label: WEB
                listen: "10.77.0.100:11000"
                protocol: tcp
                balance: roundrobin
                persistence: { type: source-ip, timeout: 30m }
                health_check: { interval: 1s }
                servers:
                  - { label: X, address: "10.77.0.11:9000" }
                  - { label: Y, address: "10.77.0.12:9000" }
            audit: { path: "\(unit)/audit.jsonl" }
            state_dir: "\(unit)"
            ha:
              node: \(node)
              role: \(role)
              listen: "\(address):7778"
              peer: "\(peer):7778"
              secret_file: "\(lab.directory.appendingPathComponent("ha.secret").path)"
              status_interval: 1s
              reconnect_min: 200ms
              reconnect_max: 1s
              health_file: "\(unit)/ha-health"
              vrrp_state_file: "\(unit)/vrrp-state"

            """
    }

    /// The keepalived configuration of one unit, in the shape of Samples/keepalived.
    static func keepalivedConf(lab: Lab, node: String, state: String, priority: Int) -> String {
        let unit = lab.directory.appendingPathComponent(node).path
        return """
            global_defs {
                router_id \(node)
                script_user root
            }
            vrrp_script chk_pacsgate {
                script "\(Self.samples)/check-pacsgate.sh \(unit)/ha-health 2"
                interval 1
                timeout 1
                fall 1
                rise 2
            }
            vrrp_instance PACS {
                state \(state)
                interface eth0
                virtual_router_id 77
                priority \(priority)
                advert_int 1
                authentication {
                    auth_type PASS
                    auth_pass pgtest
                }
                virtual_ipaddress {
                    10.77.0.100/24 dev eth0
                }
                track_script {
                    chk_pacsgate
                }
                notify "\(Self.samples)/notify-pacsgate.sh \(unit)/vrrp-state"
            }

            """
    }

    static var samples: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Samples/keepalived").path
    }

    /// What the backend said to a client at `source` in the client namespace connecting to the VIP; nil on failure.
    static func connect(_ lab: Lab, from source: String) async -> String? {
        guard let output = try? await ExternalTools.run(
            Self.ip, ["netns", "exec", lab.ns("c"), "/usr/bin/python3", "-c", Self.clientProgram, source, "10.77.0.100", "11000"])
        else { return nil }
        let text = output.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        return output.status == 0 && !text.isEmpty ? text : nil
    }

    static func holdsVIP(_ lab: Lab, _ role: String) async -> Bool {
        let output = try? await ExternalTools.run(Self.ip, ["-n", lab.ns(role), "-4", "addr", "show", "dev", "eth0"])
        return output?.standardOutput.contains("10.77.0.100/") == true
    }

    @Test(
        "the primary is killed, the VIP moves, and the client's next connection reaches the same backend",
        .enabled(if: FailoverNamespaceTests.namespacesAvailable, "network namespaces cannot be created here (needs root and iproute2's `ip netns add`)"),
        .timeLimit(.minutes(3)))
    func failover() async throws {
        let keepalived = try ExternalTools.tool("keepalived", ["/usr/sbin/keepalived", "/sbin/keepalived"])
        _ = try ExternalTools.tool("python3", ["/usr/bin/python3"])
        let pacsgate = try ExternalTools.pacsgate
        let lab = try Lab()
        defer { lab.cleanUp() }

        // The network: a bridge in a switch namespace, one veth per namespace.
        let hosts: [(role: String, addresses: [String])] = [
            ("c", ["10.77.0.10", "10.77.0.20"]), ("a", ["10.77.0.2"]), ("b", ["10.77.0.3"]), ("x", ["10.77.0.11"]), ("y", ["10.77.0.12"]),
        ]
        let switchNS = lab.ns("s")
        try lab.ip(["netns", "add", switchNS])
        lab.namespaces.append(switchNS)
        try lab.ip(["-n", switchNS, "link", "add", "br0", "type", "bridge"])
        try lab.ip(["-n", switchNS, "link", "set", "br0", "up"])
        for host in hosts {
            let namespace = lab.ns(host.role)
            try lab.ip(["netns", "add", namespace])
            lab.namespaces.append(namespace)
            let port = "p\(host.role)"
            try lab.ip(["-n", switchNS, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", namespace])
            try lab.ip(["-n", switchNS, "link", "set", port, "master", "br0", "up"])
            try lab.ip(["-n", namespace, "link", "set", "lo", "up"])
            for address in host.addresses { try lab.ip(["-n", namespace, "addr", "add", "\(address)/24", "dev", "eth0"]) }
            try lab.ip(["-n", namespace, "link", "set", "eth0", "up"])
        }

        // Backends X and Y answer with their name.
        try lab.spawn(in: lab.ns("x"), ["/usr/bin/python3", "-u", "-c", Self.backendProgram, "X", "9000"], log: "x.log")
        try lab.spawn(in: lab.ns("y"), ["/usr/bin/python3", "-u", "-c", Self.backendProgram, "Y", "9000"], log: "y.log")

        // The pair: pacsgate and keepalived in each gateway namespace.
        guard FileManager.default.createFile(
            atPath: lab.directory.appendingPathComponent("ha.secret").path, contents: Data("failover-test-secret-0123456789ab\n".utf8),
            attributes: [.posixPermissions: 0o600])
        else { throw HATestFailure("cannot write the secret") }
        var gateways: [String: Process] = [:]
        for (node, role, ns, address, peer, state, priority) in [
            ("gw-a", "primary", "a", "10.77.0.2", "10.77.0.3", "MASTER", 150), ("gw-b", "secondary", "b", "10.77.0.3", "10.77.0.2", "BACKUP", 100),
        ] {
            let unit = lab.directory.appendingPathComponent(node)
            try FileManager.default.createDirectory(at: unit, withIntermediateDirectories: true)
            let config = unit.appendingPathComponent("pacsgate.yaml").path
            try Self.pacsgateYAML(lab: lab, node: node, role: role, address: address, peer: peer).write(toFile: config, atomically: true, encoding: .utf8)
            gateways[node] = try lab.spawn(in: lab.ns(ns), [pacsgate, "run", "--config", config], log: "\(node).log")
            let keepalivedConf = unit.appendingPathComponent("keepalived.conf").path
            try Self.keepalivedConf(lab: lab, node: node, state: state, priority: priority)
                .write(toFile: keepalivedConf, atomically: true, encoding: .utf8)
            try lab.spawn(
                in: lab.ns(ns),
                [
                    keepalived, "--dont-fork", "--log-console", "--vrrp", "-f", keepalivedConf, "-p", unit.appendingPathComponent("k.pid").path,
                    "-r", unit.appendingPathComponent("v.pid").path, "-c", unit.appendingPathComponent("c.pid").path,
                ], log: "keepalived-\(node).log")
        }

        let ready = await eventually(timeout: .seconds(60)) {
            let vip = await Self.holdsVIP(lab, "a")
            return vip && lab.log("gw-b.log").contains("HA link up") && lab.log("gw-a.log").contains("HA snapshot received")
        }
        #expect(ready, "pair not ready. gw-a: \(lab.log("gw-a.log").suffix(1500))\nkeepalived-a: \(lab.log("keepalived-gw-a.log").suffix(1500))")
        guard ready else { return }

        // Two clients through the primary: round robin sends the first to one backend, the second to the other.
        var first: String?
        _ = await eventually(timeout: .seconds(20)) {
            first = await Self.connect(lab, from: "10.77.0.10")
            return first != nil
        }
        let stuck = await Self.connect(lab, from: "10.77.0.20")
        #expect(first != nil && stuck != nil && first != stuck, "first \(first ?? "-"), second \(stuck ?? "-")")
        guard let stuck else { return }
        #expect(await Self.connect(lab, from: "10.77.0.20") == stuck, "not sticky on the primary")
        // Replication takes milliseconds; give it a moment (no assertion on time).
        try await Task.sleep(for: .seconds(2))
        #expect(await Self.holdsVIP(lab, "b") == false)

        // Kill the primary's pacsgate.
        guard let primary = gateways["gw-a"] else { return }
        let killed = ContinuousClock.now
        kill(primary.processIdentifier, SIGKILL)
        var after: String?
        let recovered = await eventually(timeout: .seconds(60)) {
            after = await Self.connect(lab, from: "10.77.0.20")
            return after != nil
        }
        let elapsed = ContinuousClock.now - killed
        print("HA failover: kill of the primary's pacsgate → first successful client connection through the VIP: \(elapsed.formatted(.units(allowed: [.seconds, .milliseconds])))")
        #expect(recovered, "no connection after failover. keepalived-b: \(lab.log("keepalived-gw-b.log").suffix(1500))")
        #expect(after == stuck, "after failover the client reached \(after ?? "-"), before \(stuck)")
        #expect(await Self.holdsVIP(lab, "b"), "the VIP did not move to the secondary")
        let state = (try? String(contentsOf: lab.directory.appendingPathComponent("gw-b/vrrp-state"), encoding: .utf8)) ?? ""
        #expect(state.hasPrefix("MASTER"), "notify script wrote '\(state)'")
    }
}

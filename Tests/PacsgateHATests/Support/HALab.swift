import Crypto
import Foundation
import NIOConcurrencyHelpers
import PacsgateTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A pair of real `pacsgate` processes with real keepalived, in network namespaces the lab makes and removes:
///
/// ```
///   client ns   10.77.0.10 ─┐
///   gateway A   10.77.0.2  ─┤  bridge in a "switch" namespace; the VIP 10.77.0.100 is held by keepalived
///   gateway B   10.77.0.3  ─┤  (DICOM on VIP:11112), the VIP also on each gateway's lo for the handover rules
///   node X      10.77.0.11 ─┤  real DICOM SCPs (pynetdicom) that name themselves in their implementation version
///   node Y      10.77.0.12 ─┘
/// ```
///
/// keepalived runs the samples themselves: Samples/keepalived/pacsgate-vrrp.conf, included from a site file that
/// sets the same parameters as keepalived-primary.conf / keepalived-secondary.conf with the lab's values, started with
/// `--config-id pacsgate-netns-lab` (track_process needs the host's network namespace; the lab relies on the track
/// file and the health check). Each gateway runs Samples/keepalived/pacsgate-handover-net.sh first.
final class HALab: @unchecked Sendable {
    static let vip = "10.77.0.100"
    static let dicomPort = 11112
    static let token = "lab-switchover-token-0123456789abcdef"
    /// The config id under which keepalived leaves out the sample's track_process lines.
    static let configID = "pacsgate-netns-lab"

    /// Whether this machine lets tests create network namespaces (root, iproute2, nft). The only reason to skip.
    static let available: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: ip), FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft")
        else { return false }
        let probe = "pg18probe\(getpid())"
        guard runSync(ip, ["netns", "add", probe]) == 0 else { return false }
        _ = runSync(ip, ["netns", "del", probe])
        return true
    }()

    static var ip: String { FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip" }

    static var samples: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Samples/keepalived").path
    }

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

    /// CLOCK_MONOTONIC in seconds: the clock Python's `time.monotonic()` reads, so the test and the client's records
    /// share a time line.
    static func monotonic() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    // MARK: the programs

    /// A DICOM SCP (Verification) that names itself NODE_<name> in its A-ASSOCIATE-AC.
    static let scpProgram = """
        import sys
        from pynetdicom import AE
        from pynetdicom.sop_class import Verification
        name, port = sys.argv[1], int(sys.argv[2])
        ae = AE(ae_title="MACH7")
        ae.implementation_version_name = "NODE_" + name
        ae.add_supported_context(Verification)
        ae.maximum_associations = 64
        ae.start_server(("0.0.0.0", port), block=True)
        """

    /// The modality: every 0.2 s (start to start) one association through the VIP — associate as MODALITY1, C-ECHO,
    /// release — until the stop file appears; one JSON line per try (CLOCK_MONOTONIC times).
    static let modalityProgram = """
        import json, os, sys, time
        from pynetdicom import AE
        from pynetdicom.sop_class import Verification
        host, port, out, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
        ae = AE(ae_title="MODALITY1")
        ae.add_requested_context(Verification)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 3
        ae.connection_timeout = 2
        with open(out, "a", buffering=1) as log:
            while not os.path.exists(stop):
                start = time.monotonic()
                record = {"start": start, "ok": False}
                try:
                    assoc = ae.associate(host, port, ae_title="PACS")
                    if assoc.is_established:
                        record["node"] = assoc.acceptor.implementation_version_name
                        status = assoc.send_c_echo()
                        echoed = bool(status) and status.Status == 0
                        assoc.release()
                        record["ok"] = echoed and assoc.is_released
                        if not record["ok"]:
                            record["error"] = "echo failed" if not echoed else "not released"
                    else:
                        record["error"] = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "not established"
                except Exception as error:
                    record["error"] = repr(error)
                record["end"] = time.monotonic()
                log.write(json.dumps(record) + "\\n")
                time.sleep(max(0.0, 0.2 - (time.monotonic() - start)))
        """

    /// One long association: associate as MODALITY1, C-ECHO every 0.1 s for DURATION seconds, release; prints JSON.
    /// Creates the file OPEN once five echoes have been answered (the association is open and carrying traffic).
    static let longAssociationProgram = """
        import json, sys, time
        from pynetdicom import AE
        from pynetdicom.sop_class import Verification
        host, port, duration, opened = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
        ae = AE(ae_title="MODALITY1")
        ae.add_requested_context(Verification)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        result = {"established": False, "echoes": 0, "failed": 0}
        assoc = ae.associate(host, port, ae_title="PACS")
        if assoc.is_established:
            result["established"] = True
            result["node"] = assoc.acceptor.implementation_version_name
            end = time.monotonic() + duration
            while time.monotonic() < end and assoc.is_established:
                status = assoc.send_c_echo()
                if bool(status) and status.Status == 0:
                    result["echoes"] += 1
                    if result["echoes"] == 5: open(opened, "w").close()
                else:
                    result["failed"] += 1
                time.sleep(0.1)
            assoc.release()
            result["closed"] = time.monotonic()
            result["released"] = assoc.is_released
            result["aborted"] = assoc.is_aborted
        print(json.dumps(result))
        """

    // MARK: the lab

    /// The lab's services: two pynetdicom nodes behind the VIP, the modality stuck to one by its calling AE title.
    static let dicomServices = """
        services:
          - label: DICOM
            listen: "\(HALab.vip):\(HALab.dicomPort)"
            protocol: dicom
            balance: roundrobin
            persistence: { type: calling-ae, timeout: 30m }
            health_check: { type: connect, interval: 1s }
            servers:
              - { label: X, address: "10.77.0.11:\(HALab.dicomPort)" }
              - { label: Y, address: "10.77.0.12:\(HALab.dicomPort)" }

        """

    let id: String
    let directory: URL
    /// The start of every namespace name of this lab.
    let prefix: String
    /// What pacsgate.yaml has before its `audit:` line: the `services:` section (and top-level keys such as `engine:`).
    let services: String
    /// keepalived's `$EXTRA_VIPS` (Samples/keepalived/pacsgate-vrrp.conf): more VIPs of the same instance, or "".
    let extraVIPs: String
    private(set) var namespaces: [String] = []
    private var processes: [String: Process] = [:]
    private static let counter = NIOLockedValueBox(0)

    /// A lab whose namespaces are named `prefix` + role + a number unique to this lab; the units serve `services`,
    /// and keepalived moves `extraVIPs` with the VIP.
    init(prefix: String = "pg18", services: String = HALab.dicomServices, extraVIPs: String = "") throws {
        let serial = Self.counter.withLockedValue { value -> Int in
            value += 1
            return value
        }
        self.id = "\(getpid() % 100_000)x\(serial)"
        self.prefix = prefix
        self.services = services
        self.extraVIPs = extraVIPs
        self.directory = try makeTemporaryDirectory("pacsgate-halab")
    }

    /// The namespace of `role` (s, c, a, b, x, y): the lab's prefix + role + this lab's id, unique to these tests.
    func ns(_ role: String) -> String { "\(self.prefix)\(role)\(self.id)" }

    func unit(_ node: String) -> URL { self.directory.appendingPathComponent(node) }

    /// Removes `namespace` with the lab's own at clean-up (for tests that build a network of their own).
    func adopt(_ namespace: String) { self.namespaces.append(namespace) }

    func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let error = Pipe()
        process.standardError = error
        process.standardOutput = error
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw HATestFailure("\(executable) \(arguments.joined(separator: " ")): \(message)")
        }
    }

    /// Starts `arguments` in namespace `namespace` as `name` (its output in `name.log`); a name already running is
    /// an error.
    @discardableResult
    func spawn(_ name: String, in namespace: String, _ arguments: [String]) throws -> Process {
        if let running = self.processes[name], running.isRunning { throw HATestFailure("\(name) is running already") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.ip)
        process.arguments = ["netns", "exec", namespace] + arguments
        let path = self.directory.appendingPathComponent("\(name).log").path
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.processes[name] = process
        return process
    }

    func process(_ name: String) -> Process? { self.processes[name] }

    func log(_ name: String) -> String {
        (try? String(contentsOf: self.directory.appendingPathComponent("\(name).log"), encoding: .utf8)) ?? ""
    }

    /// The audit records of `event` on unit `node`, in file order.
    func audit(_ node: String, _ event: String) -> [[String: Any]] {
        let text = (try? String(contentsOf: self.unit(node).appendingPathComponent("audit.jsonl"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            .filter { $0["event"] as? String == event }
    }

    /// keepalived's state on `node`, as its notify script (the sample's) last wrote it.
    func vrrp(_ node: String) -> String {
        let text = (try? String(contentsOf: self.unit(node).appendingPathComponent("vrrp-state"), encoding: .utf8)) ?? ""
        return String(text.split(separator: " ").first ?? "")
    }

    /// Whether the unit of `role` has `address` (the VIP unless said) on `device` (where keepalived puts it).
    func holdsVIP(_ role: String, _ address: String = HALab.vip, on device: String = "eth0") async -> Bool {
        let output = try? await ExternalTools.run(Self.ip, ["-n", self.ns(role), "-4", "addr", "show", "dev", device])
        return output?.standardOutput.contains(" \(address)/") == true
    }

    // MARK: building it

    /// The network, the two DICOM nodes, and both gateways with their keepalived.
    func build(secret: String) async throws {
        try self.makeSwitch(bridges: ["br0"])
        for (role, address) in [("c", "10.77.0.10"), ("a", "10.77.0.2"), ("b", "10.77.0.3"), ("x", "10.77.0.11"), ("y", "10.77.0.12")] {
            try self.attach(role, address: address)
        }
        for (role, name) in [("x", "X"), ("y", "Y")] {
            try self.spawn("scp-\(name)", in: self.ns(role), [Peers.env, "python3", "-u", "-c", Self.scpProgram, name, "\(Self.dicomPort)"])
        }
        try self.startUnits(secret: secret)
    }

    /// The lab's switch: a namespace (role `s`) with one bridge for each network segment.
    func makeSwitch(bridges: [String]) throws {
        let switchNS = self.ns("s")
        try self.run(Self.ip, ["netns", "add", switchNS])
        self.namespaces.append(switchNS)
        for bridge in bridges {
            try self.run(Self.ip, ["-n", switchNS, "link", "add", bridge, "type", "bridge"])
            try self.run(Self.ip, ["-n", switchNS, "link", "set", bridge, "up"])
        }
    }

    /// Plugs the host of `role` into `bridge` of the switch as `interface` with `address`/24 (its namespace is made
    /// with its first interface).
    func attach(_ role: String, _ interface: String = "eth0", address: String, bridge: String = "br0") throws {
        let (switchNS, namespace) = (self.ns("s"), self.ns(role))
        if !self.namespaces.contains(namespace) {
            try self.run(Self.ip, ["netns", "add", namespace])
            self.namespaces.append(namespace)
            try self.run(Self.ip, ["-n", namespace, "link", "set", "lo", "up"])
        }
        let port = "p\(role)\(interface)"
        try self.run(Self.ip, ["-n", switchNS, "link", "add", port, "type", "veth", "peer", "name", interface, "netns", namespace])
        try self.run(Self.ip, ["-n", switchNS, "link", "set", port, "master", bridge, "up"])
        try self.run(Self.ip, ["-n", namespace, "addr", "add", "\(address)/24", "dev", interface])
        try self.run(Self.ip, ["-n", namespace, "link", "set", interface, "up"])
    }

    /// Both gateways (roles `a` and `b`, at 10.77.0.2 and 10.77.0.3 on eth0) as an operator sets them up: the shared
    /// secret, pacsgate.yaml, keepalived.conf, the sample's handover networking, pacsgate, then keepalived.
    func startUnits(secret: String) throws {
        let secretFile = self.directory.appendingPathComponent("ha.secret").path
        guard FileManager.default.createFile(atPath: secretFile, contents: Data((secret + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw HATestFailure("cannot write the secret") }
        for (node, role, ns, peer) in [("gw-a", "primary", "a", "10.77.0.3"), ("gw-b", "secondary", "b", "10.77.0.2")] {
            try FileManager.default.createDirectory(at: self.unit(node), withIntermediateDirectories: true)
            try self.pacsgateYAML(node: node, role: role, peer: peer, secretFile: secretFile)
                .write(to: self.unit(node).appendingPathComponent("pacsgate.yaml"), atomically: true, encoding: .utf8)
            try self.keepalivedSite(node: node).write(to: self.unit(node).appendingPathComponent("keepalived.conf"), atomically: true, encoding: .utf8)
            // The sample's handover networking, as an operator runs it at boot.
            try self.run(Self.ip, ["netns", "exec", self.ns(ns), "\(Self.samples)/pacsgate-handover-net.sh", "eth0", peer, Self.vip])
            try self.startPacsgate(node)
            try self.spawn(
                "keepalived-\(node)", in: self.ns(ns),
                [
                    try ExternalTools.tool("keepalived", ["/usr/sbin/keepalived", "/sbin/keepalived"]), "--dont-fork", "--log-console",
                    "--vrrp", "--config-id", Self.configID, "-f", self.unit(node).appendingPathComponent("keepalived.conf").path,
                    "-p", self.unit(node).appendingPathComponent("k.pid").path, "-r", self.unit(node).appendingPathComponent("v.pid").path,
                ])
        }
    }

    func startPacsgate(_ node: String) throws {
        try self.spawn(
            node, in: self.ns(node == "gw-a" ? "a" : "b"),
            [try GatewayUnderTest.executable, "run", "--config", self.unit(node).appendingPathComponent("pacsgate.yaml").path])
    }

    func pacsgateYAML(node: String, role: String, peer: String, secretFile: String) -> String {
        let unit = self.unit(node).path
        let digest = SHA256.hash(data: Array(Self.token.utf8)).map { String(format: "%02x", $0) }.joined()
        return """
            \(self.services)audit: { path: "\(unit)/audit.jsonl" }
            state_dir: "\(unit)"
            shutdown_grace: 20s
            admin:
              listen: "127.0.0.1:9443"
              tokens:
                - { name: lab, token_hash: "sha256:\(digest)", scope: operate }
            ha:
              node: \(node)
              role: \(role)
              peer: "\(peer):7778"
              secret_file: "\(secretFile)"
              status_interval: 1s
              reconnect_min: 200ms
              reconnect_max: 1s

            """
    }

    /// The unit's keepalived.conf: the parameters keepalived-primary.conf / keepalived-secondary.conf set, with the
    /// lab's values, then the sample's shared part.
    func keepalivedSite(node: String) -> String {
        let primary = node == "gw-a"
        return """
            $UNIT=\(node)
            $PRIORITY=\(primary ? 100 : 90)
            $INTERFACE=eth0
            $VIP=\(Self.vip)/24
            $EXTRA_VIPS=\(self.extraVIPs)
            $VRID=77
            $STATE_DIR=\(self.unit(node).path)
            $SCRIPTS=\(Self.samples)

            include \(Self.samples)/pacsgate-vrrp.conf

            """
    }

    /// The parameter names a site file sets (to compare the lab's with the samples').
    static func parameterNames(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("$"), let equals = line.firstIndex(of: "=") else { return nil }
            return String(line[line.index(after: line.startIndex)..<equals])
        }
    }

    // MARK: clients

    /// Starts the modality loop; its records land in `modality.jsonl`.
    func startModality() throws {
        try? FileManager.default.removeItem(at: self.directory.appendingPathComponent("modality.stop"))
        try self.spawn(
            "modality", in: self.ns("c"),
            [
                Peers.env, "python3", "-u", "-c", Self.modalityProgram, Self.vip, "\(Self.dicomPort)",
                self.directory.appendingPathComponent("modality.jsonl").path, self.directory.appendingPathComponent("modality.stop").path,
            ])
    }

    /// Stops the modality loop after its current try.
    func stopModality() async {
        _ = FileManager.default.createFile(atPath: self.directory.appendingPathComponent("modality.stop").path, contents: nil)
        guard let process = self.processes["modality"] else { return }
        _ = await eventually(timeout: .seconds(15)) { !process.isRunning }
    }

    /// One try of the modality loop.
    struct Try {
        var start: Double
        var end: Double
        var ok: Bool
        var node: String?
        var error: String?
    }

    func tries() -> [Try] {
        let text = (try? String(contentsOf: self.directory.appendingPathComponent("modality.jsonl"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                let start = object["start"] as? Double, let end = object["end"] as? Double
            else { return nil }
            return Try(start: start, end: end, ok: object["ok"] as? Bool ?? false, node: object["node"] as? String, error: object["error"] as? String)
        }
    }

    /// What the long association reported.
    struct LongAssociation: Sendable, CustomStringConvertible {
        var established: Bool
        var echoes: Int
        var failed: Int
        var released: Bool
        var aborted: Bool
        var node: String?
        /// When it ended (CLOCK_MONOTONIC, ``HALab/monotonic()``).
        var closed: Double?
        var description: String {
            "established \(self.established), \(self.echoes) echoes, \(self.failed) failed, released \(self.released), aborted \(self.aborted), node \(self.node ?? "-")"
        }
    }

    /// A long association running in the background.
    struct LongRun: Sendable {
        let result: Task<LongAssociation, any Error>
        /// The file the program creates once the association is open and carrying traffic.
        let openMarker: String

        /// Waits until the association is open and has carried its first echoes (python and pynetdicom take a while to
        /// start on a loaded machine): false if it is not within `timeout` (the association failed, or never began).
        func isOpen(timeout: Duration = .seconds(30)) async -> Bool {
            await eventually(timeout: timeout) { FileManager.default.fileExists(atPath: self.openMarker) }
        }
    }

    /// Runs one long association in the client namespace, in the background, for `seconds` after it is established.
    func longAssociation(seconds: Double) -> LongRun {
        let (namespace, vip, port) = (self.ns("c"), Self.vip, Self.dicomPort)
        let marker = self.directory.appendingPathComponent("long-\(UUID().uuidString).open").path
        let task = Task {
            let output = try await ExternalTools.run(
                Self.ip,
                ["netns", "exec", namespace, Peers.env, "python3", "-c", Self.longAssociationProgram, vip, "\(port)", "\(seconds)", marker])
            guard let object = (try? JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8))) as? [String: Any] else {
                throw HATestFailure("long association: \(output.standardOutput) \(output.standardError)")
            }
            return LongAssociation(
                established: object["established"] as? Bool ?? false, echoes: object["echoes"] as? Int ?? 0,
                failed: object["failed"] as? Int ?? -1, released: object["released"] as? Bool ?? false,
                aborted: object["aborted"] as? Bool ?? true, node: object["node"] as? String,
                closed: object["closed"] as? Double)
        }
        return LongRun(result: task, openMarker: marker)
    }

    /// `pacsgate ctl` in the namespace of `role`, with the lab's token.
    func ctl(_ role: String, _ arguments: [String]) async throws -> ToolOutput {
        try await ExternalTools.run(
            Self.ip,
            ["netns", "exec", self.ns(role), try GatewayUnderTest.executable, "ctl", "--admin", "http://127.0.0.1:9443", "--token", Self.token]
                + arguments)
    }

    // MARK: waiting

    /// The `pair` object of the unit's overview (`GET /api/v1/overview`), or nil.
    func pair(_ role: String) async -> [String: Any]? {
        guard let curl = try? ExternalTools.tool("curl", ["/usr/bin/curl"]),
            let output = try? await ExternalTools.run(
                Self.ip,
                ["netns", "exec", self.ns(role), curl, "-sf", "-m", "5", "-H", "Authorization: Bearer \(Self.token)", "http://127.0.0.1:9443/api/v1/overview"])
        else { return nil }
        return ((try? JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8))) as? [String: Any])?["pair"] as? [String: Any]
    }

    /// Both units linked and ready, `holder` holding the VIP (keepalived's state file, the address, each overview).
    func waitForPair(holder: String, timeout: Duration = .seconds(60)) async -> Bool {
        let other = holder == "gw-a" ? "gw-b" : "gw-a"
        return await eventually(timeout: timeout) {
            guard self.vrrp(holder) == "MASTER", self.vrrp(other) == "BACKUP" else { return false }
            guard await self.holdsVIP(holder == "gw-a" ? "a" : "b"), !(await self.holdsVIP(other == "gw-a" ? "a" : "b")) else { return false }
            for role in ["a", "b"] {
                guard let pair = await self.pair(role), pair["link"] as? String == "up", pair["readiness"] as? String == "ready",
                    pair["peer_readiness"] as? String == "ready"
                else { return false }
            }
            return true
        }
    }

    /// What the lab's logs say, for a failed expectation.
    func diagnostics() -> String {
        ["gw-a", "gw-b", "keepalived-gw-a", "keepalived-gw-b"].map { "--- \($0):\n\(self.log($0).suffix(2500))" }.joined(separator: "\n")
    }

    // MARK: cleaning up

    func cleanUp() {
        _ = FileManager.default.createFile(atPath: self.directory.appendingPathComponent("modality.stop").path, contents: nil)
        for process in self.processes.values where process.isRunning {
            kill(process.processIdentifier, SIGTERM)
        }
        for process in self.processes.values where process.isRunning {
            let deadline = Date().addingTimeInterval(25)
            while process.isRunning, Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        for namespace in self.namespaces.reversed() {
            Self.runSync(Self.ip, ["netns", "del", namespace])
        }
        try? FileManager.default.removeItem(at: self.directory)
    }
}

import Foundation
import NIOCore
import NIOPosix
import PacsgateAdmin

#if canImport(Glibc)
import Glibc
import PacsgateTestSupport
#endif

/// Two real `pacsgate run` processes on loopback forming a pair, each with its own admin API.
struct ProcessPair {
    struct Unit {
        let name: String
        let process: Process
        let configPath: String
        let adminURL: String
        let servicePort: Int
        let log: URL
        let directory: URL

        var logText: String { (try? String(contentsOf: self.log, encoding: .utf8)) ?? "" }
        var configText: String { (try? String(contentsOfFile: self.configPath, encoding: .utf8)) ?? "" }
    }

    static let token = "ha-test-token-0123456789-abcdefgh"

    let primary: Unit
    let secondary: Unit
    let directory: URL

    /// The configuration of one unit. Both units run on one machine here, so each service's listen address is
    /// declared local (in production both use the VIP and need no such key), and so is the audit file.
    static func yaml(
        node: String, role: String, directory: URL, servicePort: Int, adminPort: Int, haPort: Int, peerPort: Int,
        backends: [Int], secretFile: String
    ) -> String {
        """
        services:
          - label: WEB
            listen: "127.0.0.1:\(servicePort)"
            protocol: tcp
            balance: roundrobin
            persistence: { type: source-ip, timeout: 30m }
            servers:
              - { label: s1, address: "127.0.0.1:\(backends[0])", weight: 100 }
              - { label: s2, address: "127.0.0.1:\(backends[1])", weight: 100 }
        audit: { path: "\(directory.appendingPathComponent("audit.jsonl").path)" }
        state_dir: "\(directory.path)"
        admin:
          listen: "127.0.0.1:\(adminPort)"
          tokens:
            - { name: ci, token_hash: "\(APIToken.Digest(of: Self.token))", scope: admin }
        ha:
          node: \(node)
          role: \(role)
          listen: "127.0.0.1:\(haPort)"
          peer: "127.0.0.1:\(peerPort)"
          secret_file: "\(secretFile)"
          status_interval: 1s
          reconnect_min: 200ms
          reconnect_max: 1s
          local_keys: [services.*.listen, audit.path]

        """
    }

    static func start(backends: [Int]) async throws -> ProcessPair {
        let directory = try makeTemporaryDirectory("pacsgate-ha-pair")
        let secretFile = directory.appendingPathComponent("ha.secret").path
        guard FileManager.default.createFile(
            atPath: secretFile, contents: Data((TestSecrets.pair + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw HATestFailure("cannot write the secret file") }
        let haA = try Ports.free()
        let haB = try Ports.free()
        let secondary = try await Self.launch(
            node: "gw-b", role: "secondary", directory: directory, haPort: haB, peerPort: haA, backends: backends, secretFile: secretFile)
        let primary: Unit
        do {
            primary = try await Self.launch(
                node: "gw-a", role: "primary", directory: directory, haPort: haA, peerPort: haB, backends: backends, secretFile: secretFile)
        } catch {
            Self.stop(secondary)
            throw error
        }
        return ProcessPair(primary: primary, secondary: secondary, directory: directory)
    }

    private static func launch(
        node: String, role: String, directory: URL, haPort: Int, peerPort: Int, backends: [Int], secretFile: String
    ) async throws -> Unit {
        let unitDirectory = directory.appendingPathComponent(node)
        try FileManager.default.createDirectory(at: unitDirectory, withIntermediateDirectories: true)
        let servicePort = try Ports.free()
        let adminPort = try Ports.free()
        let configPath = unitDirectory.appendingPathComponent("pacsgate.yaml").path
        try Self.yaml(
            node: node, role: role, directory: unitDirectory, servicePort: servicePort, adminPort: adminPort, haPort: haPort,
            peerPort: peerPort, backends: backends, secretFile: secretFile
        ).write(toFile: configPath, atomically: true, encoding: .utf8)
        let check = try await ExternalTools.run(try GatewayUnderTest.executable, ["check-config", configPath])
        guard check.status == 0 else { throw HATestFailure("check-config \(node): \(check.standardError)") }
        let log = unitDirectory.appendingPathComponent("stderr.log")
        let process = try GatewayUnderTest.detachedProcess(config: configPath, log: log.path)
        let unit = Unit(
            name: node, process: process, configPath: configPath, adminURL: "http://127.0.0.1:\(adminPort)",
            servicePort: servicePort, log: log, directory: unitDirectory)
        let up = await eventually(timeout: .seconds(30)) { (try? await Self.api(unit, "/api/v1/overview").status) == 0 }
        guard up else {
            Self.stop(unit)
            throw HATestFailure("\(node) did not answer on \(unit.adminURL): \(unit.logText)")
        }
        return unit
    }

    /// `curl` against a unit's admin API with the test token.
    static func api(_ unit: Unit, _ path: String, method: String = "GET", body: String? = nil) async throws -> ExternalTools.Output {
        var arguments = ["-sS", "--fail-with-body", "--max-time", "10", "-X", method, "-H", "Authorization: Bearer \(Self.token)"]
        if body != nil { arguments += ["-H", "Content-Type: application/json", "--data-binary", "@-"] }
        return try await ExternalTools.run(
            try ExternalTools.tool("curl", ["/usr/bin/curl"]), arguments + [unit.adminURL + path], input: body)
    }

    /// A server's weight as the unit's overview shows it.
    static func weight(_ unit: Unit, service: String, server: String) async -> Int? {
        guard let output = try? await Self.api(unit, "/api/v1/overview"), output.status == 0,
            let json = (try? JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8))) as? [String: Any],
            let services = json["services"] as? [[String: Any]],
            let servers = services.first(where: { $0["label"] as? String == service })?["servers"] as? [[String: Any]],
            let entry = servers.first(where: { $0["label"] as? String == server })
        else { return nil }
        return (entry["weight"] as? NSNumber)?.intValue
    }

    /// The `pair` object of a unit's `/api/v1/overview`.
    static func overviewPair(_ unit: Unit) async -> [String: Any]? {
        guard let output = try? await Self.api(unit, "/api/v1/overview"), output.status == 0,
            let json = (try? JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8))) as? [String: Any]
        else { return nil }
        return json["pair"] as? [String: Any]
    }

    static func stop(_ unit: Unit) {
        if unit.process.isRunning {
            unit.process.terminate()
            unit.process.waitUntilExit()
        }
    }

    func stop() {
        Self.stop(self.primary)
        Self.stop(self.secondary)
        try? FileManager.default.removeItem(at: self.directory)
    }
}

/// A backend that answers every connection with its name and closes.
struct NamedBackend {
    let channel: any Channel
    var port: Int { self.channel.localAddress?.port ?? 0 }

    static func start(name: String) async throws -> NamedBackend {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture { try child.pipeline.syncOperations.addHandler(Announcer(name: name)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return NamedBackend(channel: channel)
    }

    func stop() async {
        try? await self.channel.close()
    }
}

/// Connects from `source` (any 127.0.0.0/8 address: each is a different client to source-ip persistence) and
/// returns what the server said.
func identify(port: Int, from source: String, host: String = "127.0.0.1") async throws -> String {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(to: try SocketAddress(ipAddress: source, port: 0))
        .connect(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    return try await channel.executeThenClose { inbound, _ in
        var text = ""
        for try await buffer in inbound { text += String(buffer: buffer) }
        return text
    }
}

/// Writes the backend's name when the connection is up, then closes.
private final class Announcer: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let name: String

    init(name: String) {
        self.name = name
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        context.writeAndFlush(NIOAny(ByteBuffer(string: self.name))).whenComplete { _ in channel.close(promise: nil) }
    }
}

import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PacsgateConfig
import PacsgateCore
import PacsgateHA
import PacsgateTestSupport

/// A configuration host for in-process units: the running text lives in memory; a synced configuration is applied
/// to the unit's gateway with its own reload (`Gateway.apply`).
final class MemoryHost: HAConfigurationHost {
    let text: NIOLockedValueBox<String>
    let gateway: NIOLockedValueBox<Gateway?> = NIOLockedValueBox(nil)

    init(text: String) {
        self.text = NIOLockedValueBox(text)
    }

    func runningText() async -> String { self.text.withLockedValue { $0 } }

    func applySynced(_ text: String, from peer: String) async -> (applied: Bool, message: String) {
        switch ConfigurationLoader(registry: ProtocolRegistry.gateway([])).load(yaml: text) {
        case .failure(let errors):
            return (false, "refused: \(errors)")
        case .success(let (configuration, _)):
            guard let gateway = self.gateway.withLockedValue({ $0 }) else { return (false, "no gateway") }
            do {
                _ = try await gateway.apply(configuration)
            } catch {
                return (false, "cannot apply: \(error)")
            }
            self.text.withLockedValue { $0 = text }
            return (true, "applied")
        }
    }

    func parse(_ text: String) -> ConfigNode? {
        try? ConfigurationLoader.parse(yaml: text).get()
    }

    func yaml(_ node: ConfigNode) -> String {
        ConfigurationWriter.yaml(node)
    }
}

/// One in-process unit: a gateway (one `WEB` service with servers s1, s2, source-ip persistence) and its
/// ``PairController`` running as a service.
struct TestUnit {
    let gateway: Gateway
    let audit: AuditLog
    let controller: PairController
    let host: MemoryHost
    let task: Task<Void, any Error>
    let directory: URL
    let log: LogRecorder

    static func yaml(directory: URL, servicePort: Int) -> String {
        """
        services:
          - label: WEB
            listen: "127.0.0.1:\(servicePort)"
            protocol: tcp
            persistence: { type: source-ip, timeout: 30m }
            servers:
              - { label: s1, address: "127.0.0.1:9", weight: 100 }
              - { label: s2, address: "127.0.0.1:10", weight: 100 }
        audit: { path: "\(directory.appendingPathComponent("audit.jsonl").path)" }
        state_dir: "\(directory.path)"

        """
    }

    /// Starts a unit; `peer` is where it dials (primary) or who it expects.
    /// - Parameters:
    ///   - listen: where the link listens (`nil`: the peer-facing address, as without `ha.listen`).
    ///   - limits: what unauthenticated connections may do (the handshake timeout among them).
    ///   - vrrpFiles: give the unit keepalived's state, track and handover files in its directory (the test writes the
    ///     state).
    static func start(
        role: HARole, node: String, listen: Endpoint? = Endpoint(host: "127.0.0.1", port: 0), peerHost: String = "127.0.0.1",
        peerPort: Int, secret: String = TestSecrets.pair, queueLimit: Int = 100_000, statusInterval: Duration = .seconds(1),
        limits: PreAuthLimits = PreAuthLimits(), vrrpFiles: Bool = false
    ) async throws -> TestUnit {
        let directory = try makeTemporaryDirectory("pacsgate-ha-\(node)")
        let text = Self.yaml(directory: directory, servicePort: try Ports.free())
        let configuration: GatewayConfiguration
        switch ConfigurationLoader(registry: ProtocolRegistry.gateway([])).load(yaml: text) {
        case .failure(let errors): throw HATestFailure("test configuration: \(errors)")
        case .success(let (loaded, _)): configuration = loaded
        }
        let log = LogRecorder()
        let logger = log.haLogger()
        let started = try await GatewayUnderTest.inProcess(configuration, logger: logger)
        let (gateway, audit) = (started.gateway, started.audit)
        let host = MemoryHost(text: text)
        host.gateway.withLockedValue { $0 = gateway }
        var ha = HAConfiguration(
            node: node, role: role, listen: listen, peer: Endpoint(host: peerHost, port: peerPort),
            secretFile: "-", queueLimit: queueLimit, reconnectMinimum: .milliseconds(100), reconnectMaximum: .milliseconds(500),
            statusInterval: statusInterval, healthFile: directory.appendingPathComponent("ha-health").path,
            vrrpStateFile: vrrpFiles ? directory.appendingPathComponent("vrrp-state").path : nil,
            vrrpTrackFile: vrrpFiles ? directory.appendingPathComponent("vrrp-track").path : nil,
            handoverTimeout: .seconds(5))
        ha.vrrpHandoverFile = vrrpFiles ? directory.appendingPathComponent("vrrp-handover").path : nil
        let controller = PairController(
            configuration: ha, secret: TestSecrets.secret(secret), gateway: gateway, audit: audit, host: host,
            group: MultiThreadedEventLoopGroup.singleton, logger: logger, software: "pacsgate test", limits: limits)
        let task = Task { try await controller.run() }
        let unit = TestUnit(
            gateway: gateway, audit: audit, controller: controller, host: host, task: task, directory: directory, log: log)
        guard await eventually(timeout: .seconds(10), { controller.listeningAddress != nil }) else {
            await unit.stop()
            throw HATestFailure("\(node): HA link did not start listening: \(log.rendered)")
        }
        return unit
    }

    var haPort: Int { self.controller.listeningAddress?.port ?? 0 }

    /// Writes keepalived's state as its notify script does (`MASTER`, `BACKUP`, `FAULT`).
    func setVRRP(_ state: String) throws {
        try "\(state) 2026-01-01T00:00:00Z\n".write(to: self.directory.appendingPathComponent("vrrp-state"), atomically: true, encoding: .utf8)
    }

    /// What the unit last wrote for keepalived's track_file.
    var trackValue: Int? {
        (try? String(contentsOf: self.directory.appendingPathComponent("vrrp-track"), encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// What the unit last wrote for keepalived's notify script (`copy SECONDS` or `none`).
    var handoverText: String? {
        (try? String(contentsOf: self.directory.appendingPathComponent("vrrp-handover"), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func table() async throws -> StickTable {
        guard let runtime = await self.gateway.service("WEB") else { throw HATestFailure("no WEB service") }
        return runtime.stickTable
    }

    /// The audit records of `event`.
    func auditRecords(_ event: String) -> [[String: Any]] {
        let text = (try? String(contentsOf: self.directory.appendingPathComponent("audit.jsonl"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }.filter { $0["event"] as? String == event }
    }

    /// The audit records of `event`, once there is at least one (audit writes are asynchronous).
    func awaitAudit(_ event: String) async -> [[String: Any]] {
        _ = await eventually(timeout: .seconds(10)) { !self.auditRecords(event).isEmpty }
        return self.auditRecords(event)
    }

    func logs(containing text: String) -> [String] {
        self.log.rendered.filter { $0.contains(text) }
    }

    func stop() async {
        self.task.cancel()
        _ = await self.task.result
        await self.gateway.shutdown(grace: .seconds(1))
        await self.audit.shutdown()
        try? FileManager.default.removeItem(at: self.directory)
    }
}

/// A TCP relay between the two units that the test can cut (every relayed connection closed, new ones refused) and
/// restore: a network failure between the units.
final class CuttableRelay: Sendable {
    private struct State {
        var cut = false
        var channels: [ObjectIdentifier: any Channel] = [:]
    }

    private let state = NIOLockedValueBox(State())
    private let server: any Channel
    let port: Int

    private init(server: any Channel, port: Int) {
        self.server = server
        self.port = port
    }

    static func start(to targetPort: @escaping @Sendable () -> Int) async throws -> CuttableRelay {
        let box = NIOLockedValueBox<CuttableRelay?>(nil)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                guard let relay = box.withLockedValue({ $0 }) else { return inbound.close() }
                return relay.accept(inbound, port: targetPort())
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let relay = CuttableRelay(server: server, port: server.localAddress?.port ?? 0)
        box.withLockedValue { $0 = relay }
        return relay
    }

    private func accept(_ inbound: any Channel, port: Int) -> EventLoopFuture<Void> {
        if self.state.withLockedValue({ $0.cut }) { return inbound.close() }
        return ClientBootstrap(group: inbound.eventLoop)
            .connect(host: "127.0.0.1", port: port)
            .flatMap { outbound in
                self.track(inbound)
                self.track(outbound)
                return inbound.pipeline.addHandler(RelayHandler(partner: outbound)).flatMap {
                    outbound.pipeline.addHandler(RelayHandler(partner: inbound))
                }
            }
            .flatMapError { _ in inbound.close() }
    }

    private func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        self.state.withLockedValue { $0.channels[id] = channel }
        channel.closeFuture.whenComplete { _ in self.state.withLockedValue { _ = $0.channels.removeValue(forKey: id) } }
    }

    /// Closes every relayed connection and refuses new ones.
    func cut() {
        let channels = self.state.withLockedValue { state -> [any Channel] in
            state.cut = true
            return Array(state.channels.values)
        }
        for channel in channels { channel.close(promise: nil) }
    }

    /// Relays again.
    func restore() {
        self.state.withLockedValue { $0.cut = false }
    }

    func stop() async {
        self.cut()
        try? await self.server.close()
    }
}

/// Copies bytes to the partner channel; closes it when this one closes.
private final class RelayHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let partner: any Channel

    init(partner: any Channel) {
        self.partner = partner
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.partner.writeAndFlush(Self.unwrapInboundIn(data), promise: nil)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { context.read() }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.read()
        context.fireChannelActive()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.partner.close(promise: nil)
    }
}

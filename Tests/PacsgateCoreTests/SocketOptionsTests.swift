import Glibc
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import PacsgateCore

/// Both legs of a proxied connection carry TCP keepalive with the gateway's timings: the client leg inherits them from
/// the listener (no `setsockopt` per accepted socket), the server leg gets them from its bootstrap. Checked from the
/// kernel's side: `/proc/net/tcp` shows an armed keepalive timer (`tr` 2) due after `TCP_KEEPIDLE` on an idle socket.
@Suite struct SocketOptionsTests {
    /// A kernel TCP socket as `/proc/net/tcp` lists it.
    struct KernelSocket {
        var localPort: Int
        var remotePort: Int
        /// Active timer: 0 none, 1 retransmit, 2 keepalive (or another timer), 4 zero-window probe.
        var timer: Int
        /// Time until the timer fires, in seconds.
        var dueIn: Double
    }

    static func kernelSockets() -> [KernelSocket] {
        // Read in chunks: /proc files report a size of 0, so whole-file readers that trust `stat` see nothing.
        guard let file = fopen("/proc/net/tcp", "r") else { return [] }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        let table = String(decoding: bytes, as: UTF8.self)
        return table.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 5 else { return nil }
            let local = fields[1].split(separator: ":")
            let remote = fields[2].split(separator: ":")
            let timer = fields[5].split(separator: ":")
            guard local.count == 2, remote.count == 2, timer.count == 2,
                let localPort = Int(local[1], radix: 16), let remotePort = Int(remote[1], radix: 16),
                let active = Int(timer[0], radix: 16), let when = Int(timer[1], radix: 16)
            else { return nil }
            // `tm->when` is in clock ticks (USER_HZ, 100 per second on Linux).
            return KernelSocket(localPort: localPort, remotePort: remotePort, timer: active, dueIn: Double(when) / 100)
        }
    }

    @Test func bothLegsOfAProxiedConnectionHaveKeepaliveArmedAfterKeepIdle() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        // A backend that accepts and stays silent.
        let backend = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let backendPort = try #require(backend.localAddress?.port)
        let audit = AuditLog(configuration: AuditConfiguration(), logger: Logger(label: "test"))
        try audit.start()
        let service = ServiceConfiguration(
            label: "SVC", listen: Endpoint(host: "127.0.0.1", port: 0),
            servers: [ServerConfiguration(label: "S", endpoint: Endpoint(host: "127.0.0.1", port: backendPort))])
        let gateway = Gateway(
            configuration: GatewayConfiguration(services: [service], audit: AuditConfiguration()), group: group,
            audit: audit, logger: Logger(label: "test"))
        try await gateway.start()
        let listenPort = try #require(await gateway.listenAddress(of: "SVC")?.port)
        let client = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: listenPort).get()
        let clientPort = try #require(client.localAddress?.port)

        // The gateway's accepted socket (local = listener, remote = client) and its server leg (remote = backend).
        var clientLeg: KernelSocket?
        var serverLeg: KernelSocket?
        for _ in 0..<100 {
            let sockets = Self.kernelSockets()
            clientLeg = sockets.first { $0.localPort == listenPort && $0.remotePort == clientPort }
            serverLeg = sockets.first { $0.remotePort == backendPort && $0.localPort != listenPort }
            if clientLeg?.timer == 2, serverLeg?.timer == 2 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let accepted = try #require(clientLeg, "the gateway's accepted socket is not in /proc/net/tcp")
        let outgoing = try #require(serverLeg, "the gateway's server leg is not in /proc/net/tcp")
        for (name, socket) in [("client leg", accepted), ("server leg", outgoing)] {
            #expect(socket.timer == 2, "\(name): no keepalive timer armed")
            // TCP_KEEPIDLE is 60 s (the kernel default is 7,200 s): due within a minute, not in two hours.
            #expect(socket.dueIn > 30 && socket.dueIn <= 60, "\(name): keepalive due in \(socket.dueIn) s")
        }
        // The client side of the test is not the gateway's: no keepalive there.
        let clientSide = Self.kernelSockets().first { $0.localPort == clientPort && $0.remotePort == listenPort }
        #expect(clientSide?.timer == 0)

        try await client.close()
        await gateway.shutdown(grace: .seconds(2))
        await audit.shutdown()
        try await backend.close()
    }
}

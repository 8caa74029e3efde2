import Foundation
import PacsgateHA
import PacsgateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `pacsgate run` under a service manager, the manager played by the test: `NOTIFY_SOCKET` names a unix datagram
/// socket the test owns, and the test reads what systemd would.
@Suite("systemd notify protocol", .timeLimit(.minutes(3)))
struct NotifyProtocolTests {
    /// A gateway with every kind of listener (a service, the admin server, the HA link as primary), a second service
    /// added by the reload, and the socket the test reads.
    struct Setup {
        var config: String
        var servicePort: Int
        var adminPort: Int
        var haPort: Int
        var addedPort: Int
        var reloadedText: String
        var audit: String
    }

    static func setup(_ scope: TestScope) async throws -> Setup {
        let first = try await TestBackend.start("B1")
        let second = try await TestBackend.start("B2")
        await scope.onCleanup { await first.kill() }
        await scope.onCleanup { await second.kill() }
        let (servicePort, adminPort, haPort, peerPort, addedPort) =
            (try Ports.free(), try Ports.free(), try Ports.free(), try Ports.free(), try Ports.free())
        let secret = "\(scope.directory)/ha.secret"
        // A secret as `pacsgate ha-secret` writes it: the HA link takes nothing else (and never a patterned one).
        try (HASecret.generate() + "\n").write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(secret, 0o600)
        let audit = "\(scope.directory)/audit.jsonl"
        let base = """
            state_dir: "\(try scope.makeDirectory("state"))"
            audit: { path: "\(audit)" }
            admin: { listen: "127.0.0.1:\(adminPort)" }
            ha:
              role: primary
              node: gw-a
              listen: "127.0.0.1:\(haPort)"
              peer: "127.0.0.1:\(peerPort)"
              secret_file: "\(secret)"
            services:
              - label: FIRST
                listen: "127.0.0.1:\(servicePort)"
                servers:
                  - { label: B1, address: "127.0.0.1:\(first.port)" }

            """
        let added = """
              - label: ADDED
                listen: "127.0.0.1:\(addedPort)"
                servers:
                  - { label: B2, address: "127.0.0.1:\(second.port)" }

            """
        let config = "\(scope.directory)/pacsgate.yaml"
        try base.write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o600)
        return Setup(
            config: config, servicePort: servicePort, adminPort: adminPort, haPort: haPort, addedPort: addedPort,
            reloadedText: base + added, audit: audit)
    }

    @Test(
        "READY=1 only once every listener accepts; RELOADING=1 with MONOTONIC_USEC then READY=1 on SIGHUP; watchdog pings; STOPPING=1 on SIGTERM",
        arguments: ["path", "abstract"])
    func lifecycle(socketKind: String) async throws {
        try await withTestScope { scope in
            let setup = try await Self.setup(scope)
            let receiver =
                socketKind == "path"
                ? try NotifyReceiver(path: "\(scope.directory)/notify.sock")
                : try NotifyReceiver(abstractName: "pacsgate-test-\(UUID().uuidString.prefix(12))")
            let gateway = try await GatewayUnderTest.process(
                config: setup.config, environment: ["NOTIFY_SOCKET": receiver.address, "WATCHDOG_USEC": "1000000"], scope: scope)

            // READY=1: at that moment every listener accepts a connection at the first try.
            var beforeReady: [Notification] = []
            let ready = await receiver.next(where: { $0["READY"] == "1" }, skipped: { beforeReady.append($0) })
            try #require(ready != nil, "no READY=1; gateway output:\n\(gateway.output)")
            #expect(ServiceTestSupport.accepts(setup.servicePort), "service listener")
            #expect(ServiceTestSupport.accepts(setup.adminPort), "admin listener")
            #expect(ServiceTestSupport.accepts(setup.haPort), "HA link listener")
            #expect(FileManager.default.fileExists(atPath: setup.audit), "audit log open")
            #expect(ready?["STATUS"]?.hasPrefix("1 service, 1 of 1 servers up") == true, "\(ready.map { "\($0)" } ?? "")")
            #expect(!beforeReady.contains { $0["STOPPING"] != nil || $0["RELOADING"] != nil }, "\(beforeReady)")

            // The watchdog is pinged (every 0.5 s for WATCHDOG_USEC=1 s).
            for ping in 1...3 {
                let watchdog = await receiver.next(where: { $0["WATCHDOG"] == "1" })
                #expect(watchdog != nil, "watchdog ping \(ping)")
            }

            // SIGHUP: RELOADING=1 with the monotonic time of the reload, then READY=1 once the reloaded
            // configuration runs (its new service accepts).
            _ = receiver.drain()
            try setup.reloadedText.write(toFile: setup.config, atomically: true, encoding: .utf8)
            let beforeSignal = ServiceTestSupport.monotonicMicroseconds()
            gateway.signal(SIGHUP)
            let reloading = await receiver.next(where: { $0["RELOADING"] == "1" })
            let afterReloading = ServiceTestSupport.monotonicMicroseconds()
            try #require(reloading != nil, "no RELOADING=1; gateway output:\n\(gateway.output)")
            let stamp = reloading?["MONOTONIC_USEC"].flatMap { UInt64($0) }
            #expect(stamp.map { beforeSignal <= $0 && $0 <= afterReloading } == true, "MONOTONIC_USEC \(stamp.map(String.init) ?? "missing") not in [\(beforeSignal), \(afterReloading)]")
            let reloaded = await receiver.next(where: { $0["READY"] == "1" || $0["STOPPING"] != nil })
            #expect(reloaded?["READY"] == "1", "\(reloaded.map { "\($0)" } ?? "nothing")")
            #expect(ServiceTestSupport.accepts(setup.addedPort), "the service added by the reload")
            #expect(reloaded?["STATUS"]?.hasPrefix("2 services") == true, "\(reloaded.map { "\($0)" } ?? "")")

            // SIGTERM: STOPPING=1 first, then a clean exit.
            _ = receiver.drain()
            gateway.signal(SIGTERM)
            var beforeStopping: [Notification] = []
            let stopping = await receiver.next(where: { $0["STOPPING"] == "1" }, skipped: { beforeStopping.append($0) })
            #expect(stopping != nil, "no STOPPING=1; gateway output:\n\(gateway.output)")
            #expect(!beforeStopping.contains { $0["READY"] != nil }, "\(beforeStopping)")
            #expect(await gateway.waitForExit(timeout: .seconds(60)) == 0, "\(gateway.output)")
            #expect(!receiver.drain().contains { $0["READY"] != nil })
        }
    }

    @Test("a refused reload still ends with READY=1, and the status line says the running configuration was kept")
    func refusedReload() async throws {
        try await withTestScope { scope in
            let setup = try await Self.setup(scope)
            let receiver = try NotifyReceiver(path: "\(scope.directory)/notify.sock")
            let gateway = try await GatewayUnderTest.process(
                config: setup.config, environment: ["NOTIFY_SOCKET": receiver.address], scope: scope)
            try #require(await receiver.next(where: { $0["READY"] == "1" }) != nil, "\(gateway.output)")
            try "services: [ { label: BROKEN } ]\n".write(toFile: setup.config, atomically: true, encoding: .utf8)
            gateway.signal(SIGHUP)
            #expect(await receiver.next(where: { $0["RELOADING"] == "1" }) != nil)
            let reloaded = await receiver.next(where: { $0["READY"] == "1" })
            #expect(reloaded?["STATUS"]?.contains("last reload refused, running configuration kept") == true, "\(reloaded.map { "\($0)" } ?? "nothing")")
            #expect(ServiceTestSupport.accepts(setup.servicePort))
            gateway.signal(SIGTERM)
            #expect(await gateway.waitForExit(timeout: .seconds(60)) == 0, "\(gateway.output)")
        }
    }
}

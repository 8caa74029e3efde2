import Foundation
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import NIOCore
import PacsgateAdmin
import PacsgateCore
import PacsgateTestSupport
import Testing

/// Reloading through `POST /api/v1/reload` while traffic flows: nothing refused, reset or corrupted.
@Suite("Reload under load")
struct ReloadUnderLoadTests {
    @Test("20 reloads while a client loop opens and closes connections and one long transfer runs: zero failures, transfer intact")
    func reloadUnderLoad() async throws {
        let a = try await TestBackend.start("A", mode: .echo)
        let b = try await TestBackend.start("B", mode: .echo)
        let c = try await TestBackend.start("C", mode: .echo)
        let port = try Ports.free()
        let extraPort = try Ports.free()
        // Two configurations to alternate between: weights move, a server joins and leaves, a service comes and goes.
        let first = "services:\n" + serviceYAML("SVC", port: port, backends: [a, b])
        let second = "services:\n" + serviceYAML("SVC", port: port, backends: [a, b, c], weight: 50)
            + serviceYAML("EXTRA", port: extraPort, backends: [c])
        let harness = try await AdminHarness.start(yaml: first)

        struct Tally {
            var connections = 0
            var failures: [String] = []
        }
        let tally = NIOLockedValueBox(Tally())
        let reloadsDone = NIOLockedValueBox(false)
        let payload = randomBytes(24 << 20)
        let chunk = 192 << 10

        try await withThrowingTaskGroup(of: Void.self) { group in
            // The long transfer: paced so it spans every reload; echoed back byte for byte.
            group.addTask {
                let received = try await Self.pacedEcho(port: port, payload: payload, chunk: chunk, pause: .milliseconds(12))
                #expect(received.count == payload.count, "the long transfer was cut: \(received.count) of \(payload.count) bytes")
                #expect(received.elementsEqual(payload), "the long transfer came back altered")
                #expect(reloadsDone.withLockedValue { $0 }, "the long transfer ended before the reloads did: it proves nothing")
            }
            // The client loop: short connections, one after another, until the reloads are over.
            for worker in 0..<2 {
                group.addTask {
                    var index = 0
                    while !reloadsDone.withLockedValue({ $0 }) || index < 10 {
                        index += 1
                        let message = Array("worker \(worker) connection \(index)\n".utf8)
                        do {
                            let echoed = try await TestClient.exchange(port: port, payload: message)
                            if echoed != message {
                                tally.withLockedValue { $0.failures.append("worker \(worker) #\(index): answer \(echoed.count) bytes") }
                            }
                        } catch {
                            tally.withLockedValue { $0.failures.append("worker \(worker) #\(index): \(error)") }
                        }
                        tally.withLockedValue { $0.connections += 1 }
                    }
                }
            }
            // The reloads.
            group.addTask {
                try await harness.application.test(.router) { client in
                    for round in 1...20 {
                        try (round % 2 == 1 ? second : first).write(toFile: harness.configPath, atomically: true, encoding: .utf8)
                        let response = try await client.execute(
                            uri: "/api/v1/reload", method: .post, headers: [.authorization: "Bearer \(AdminHarness.token)"])
                        #expect(response.status == .ok, "reload \(round): \(response.text)")
                        #expect(response.json["applied"] as? Bool == true)
                        try await Task.sleep(for: .milliseconds(40))
                    }
                }
                reloadsDone.withLockedValue { $0 = true }
            }
            try await group.waitForAll()
        }

        let result = tally.withLockedValue { $0 }
        #expect(result.failures.isEmpty, "failed connections during reloads: \(result.failures.prefix(5))")
        #expect(result.connections >= 20, "the client loop made only \(result.connections) connections")
        let reloads = harness.auditRecords("admin.change").filter { $0["what"] as? String == "reload" }
        #expect(reloads.count == 20)
        #expect(reloads.allSatisfy { $0["result"] as? String == "applied" })
        #expect(await harness.gateway.configuration.services.map(\.label) == ["SVC"])
        print("reload under load: 20 reloads, \(result.connections) short connections, \(payload.count >> 20) MiB transfer intact")
        await harness.stop()
        await a.kill()
        await b.kill()
        await c.kill()
    }

    /// Sends `payload` in `chunk`-sized writes with `pause` between them while reading the echo; returns the echo.
    static func pacedEcho(port: Int, payload: [UInt8], chunk: Int, pause: Duration) async throws -> [UInt8] {
        let channel = try await TestClient.connect(port: port)
        return try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var offset = 0
                    while offset < payload.count {
                        let end = min(payload.count, offset + chunk)
                        try await outbound.write(ByteBuffer(bytes: payload[offset..<end]))
                        offset = end
                        try await Task.sleep(for: pause)
                    }
                    outbound.finish()
                }
                var received: [UInt8] = []
                received.reserveCapacity(payload.count)
                for try await var part in inbound {
                    received.append(contentsOf: part.readBytes(length: part.readableBytes) ?? [])
                }
                try await group.waitForAll()
                return received
            }
        }
    }
}

import Foundation
import NIOCore
import NIOPosix
import Testing
import PacsgateTestSupport

@testable import PacsgateCore
@testable import PacsgateHL7

/// Must show 4: the `mllp` health check, run by the gateway against a real HL7 receiver, takes the server down
/// when it stops acknowledging and back up when it answers again.
@Suite("mllp health check")
struct MLLPHealthCheckTests {
    @Test("a receiver that stops ACKing goes down after `fall` checks and comes back after `rise`")
    func downAndUp() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let receiver = try await HL7Receiver.start(in: directory)
        defer { receiver.stop() }
        let gateway = try await HL7TestGateway.start(
            serverPorts: [receiver.port],
            extra: """
                    health_check:
                      type: mllp
                      interval: 200ms
                      timeout: 1s
                      rise: 2
                      fall: 2
                      sending_app: PGWTEST
                      sending_facility: HEALTH
                """,
            in: directory
        )
        let runtime = try await gateway.runtime()
        func server() -> ServerSnapshot? { runtime.pool.snapshot().first { $0.label == "HL71" } }

        #expect(await eventually { (server()?.checksPassed ?? 0) >= 2 })
        #expect(server()?.health == .up)
        #expect(server()?.lastCheck?.detail == "HL7 ACK AA")
        // The checks are real HL7 test messages, as configured.
        let probes = String(decoding: receiver.receivedBytes(), as: UTF8.self)
        #expect(probes.contains("\u{0B}MSH|^~\\&|PGWTEST|HEALTH|||20250101120000+0000||NMD^N02^NMD_N02|PGW"))

        receiver.mute(true)
        #expect(await eventually { server()?.health == .down }, "still \(String(describing: server()?.health))")
        let down = try #require(server())
        #expect(down.lastCheck?.succeeded == false)
        #expect(down.lastCheck?.detail == "no answer within 1s", "detail: \(down.lastCheck?.detail ?? "-")")

        receiver.mute(false)
        #expect(await eventually { server()?.health == .up })
        await gateway.stop()
    }

    @Test("a receiver that answers AR fails the check with the reason")
    func negativeAcknowledgmentFails() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let receiver = try await HL7Receiver.start(in: directory, aeEvery: 1)
        defer { receiver.stop() }
        let check = MLLPHealthCheck()
        let result = await check.check(
            Endpoint(host: "127.0.0.1", port: receiver.port),
            timeout: .seconds(5),
            group: MultiThreadedEventLoopGroup.singleton
        )
        #expect(!result.succeeded)
        #expect(result.detail == "negative acknowledgment AE")
    }

    @Test("the check against a port nobody listens on fails with connection refused")
    func refused() async throws {
        let port = try await HL7BadFrameTests.unusedPort()
        let result = await MLLPHealthCheck().check(
            Endpoint(host: "127.0.0.1", port: port),
            timeout: .seconds(5),
            group: MultiThreadedEventLoopGroup.singleton
        )
        #expect(!result.succeeded)
        #expect(result.detail == "connection refused")
    }
}

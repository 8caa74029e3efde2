import Foundation
import NIOCore
import NIOPosix
import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateDICOM

#if canImport(Glibc)
import Glibc
#endif

/// Must show 5: the `dicom-echo` health check against real SCPs — down when the SCP stops answering (SIGSTOP), up
/// again after SIGCONT, and the reason in the overview and the log.
@Suite("dicom-echo health check", .timeLimit(.minutes(3)))
struct EchoHealthCheckTests {
    private func check(
        _ calledAE: String,
        port: Int,
        timeout: Duration = .seconds(20)
    ) async throws
        -> HealthCheckResult
    {
        let check = DICOMEchoHealthCheck(
            configuration: EchoProbe.Configuration(
                callingAETitle: try AETitle("PACSGATE"),
                calledAETitle: try AETitle(calledAE)
            )
        )
        return await check.check(
            Endpoint(host: "127.0.0.1", port: port),
            timeout: timeout,
            group: MultiThreadedEventLoopGroup.singleton
        )
    }

    @Test("a stopped SCP is marked down, and up again once it continues")
    func sigstopAndSigcont() async throws {
        try await withTestScope { scope in
            let a = try await RealSCP.storescp("storescp-a", scope: scope)
            let b = try await RealSCP.storescp("storescp-b", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(
                    servers: [a.server("A"), b.server("B")],
                    extra: [
                        "    health_check: { type: dicom-echo, calling_ae: GW-HEALTH, called_ae: MACH7, interval: 300ms, timeout: 2s, rise: 2, fall: 2 }"
                    ]
                ),
                scope: scope
            )
            let runtime = try await gateway.runtime()
            func server(_ label: String) -> ServerSnapshot? { runtime.pool.snapshot().first { $0.label == label } }

            #expect(await eventually { (server("A")?.checksPassed ?? 0) >= 2 })
            #expect(server("A")?.lastCheck?.detail == "C-ECHO status 0x0000")
            #expect(server("A")?.health == .up)
            // A real association with release: storescp logs the probe's echo, not an error.
            #expect(a.process.output.contains("Received Echo Request"))

            a.process.signal(SIGSTOP)
            #expect(await eventually { server("A")?.health == .down })
            #expect(server("A")?.lastCheck?.detail == "no answer within 2s")
            // The state changes first, the log line follows from the monitor's task: wait for it.
            #expect(await eventually { gateway.logs.all.contains { $0.message == "server is down" && $0.metadata["server"] == "A" } })
            let down = gateway.logs.all.first { $0.message == "server is down" && $0.metadata["server"] == "A" }
            #expect(down?.metadata["reason"] == "no answer within 2s")
            #expect(down?.metadata["check"] == "dicom-echo")

            // Meanwhile every association goes to B.
            let port = String(try await gateway.port())
            for index in 0..<2 {
                let echo = try await Peers.run(
                    Peers.echoscu,
                    ["-aet", "MODALITY1", "-aec", "MACH7", "127.0.0.1", port],
                    name: "echoscu-\(index)",
                    scope: scope
                )
                #expect(echo.status == 0, "\(echo.output)")
            }
            let servers = try await gateway.associationRecords(count: 2).compactMap {
                $0.object("server")?.string("label")
            }
            #expect(servers == ["B", "B"])

            a.process.signal(SIGCONT)
            #expect(await eventually { server("A")?.health == .up })
            #expect(server("A")?.lastCheck?.detail == "C-ECHO status 0x0000")
            #expect(await eventually { gateway.logs.all.contains { $0.message == "server is up" && $0.metadata["server"] == "A" } })
            #expect(server("B")?.health == .up)
        }
    }

    @Test("a server that rejects the probe is down, with the rejection as the reason")
    func rejectionIsAFailure() async throws {
        try await withTestScope { scope in
            // wlmscpfs knows only the called AE titles it has worklist folders for.
            let scp = try await RealSCP.wlmscpfs("wlmscpfs", scope: scope, calledAE: "MACH7")
            let good = try await self.check("MACH7", port: scp.port)
            #expect(good == .success("C-ECHO status 0x0000", latency: good.latency))
            let rejected = try await self.check("NOPE", port: scp.port)
            #expect(!rejected.succeeded)
            #expect(
                rejected.detail == "association rejected: result 1 source 1 reason 7 (called AE title not recognized)"
            )
        }
    }

    @Test("nothing listening, and an answer that is not DICOM")
    func refusedAndNotDICOM() async throws {
        try await withTestScope { scope in
            let refused = try await self.check("MACH7", port: try Ports.free())
            #expect(refused.detail == "connection refused")
            // A server that answers with something else (an HTTP server on the DICOM port).
            let http = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            Greeter(text: "HTTP/1.1 400 Bad Request\r\n\r\n")
                        )
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            await scope.onCleanup { try? await http.close() }
            let garbage = try await self.check("MACH7", port: try #require(http.localAddress?.port))
            #expect(!garbage.succeeded)
            #expect(garbage.detail == "protocol error awaiting A-ASSOCIATE-AC: unrecognized PDU type 0x48 at offset 0")
        }
    }
}

/// Writes a fixed text to every connection once it is active.
private final class Greeter: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let text: String

    init(text: String) {
        self.text = text
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: self.text)), promise: nil)
    }
}

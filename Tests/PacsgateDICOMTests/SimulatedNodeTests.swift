import Foundation
import NIOCore
import NIOPosix
import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateDICOM
@testable import PacsgateDemo

/// The demo's simulated Mach7 nodes, behind a real gateway, driven by real dcmtk clients.
@Suite("Simulated Mach7 node", .timeLimit(.minutes(3)))
struct SimulatedNodeTests {
    /// Starts a node the way `pacsgate demo` does (a listener whose accepted channels the node configures).
    private func startNode(_ node: DICOMSimulatedNode, scope: TestScope) async throws -> Int {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try node.configure(channel) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        await scope.onCleanup { try? await listener.close() }
        return try #require(listener.localAddress?.port)
    }

    private func node(_ name: String, service: String, scope: TestScope) async throws -> Int {
        try await self.startNode(DICOMSimulatedNode(name: name, service: service), scope: scope)
    }

    private func findscu(port: Int, scope: TestScope, name: String) async throws -> (status: Int32?, output: String) {
        try await Peers.run(
            Peers.findscu,
            [
                "-W", "-aet", "CT01", "-aec", "MACH7", "-k", "ScheduledProcedureStepSequence[0].Modality", "-k",
                "PatientName", "127.0.0.1", String(port),
            ],
            name: name,
            scope: scope
        )
    }

    @Test("DMWL nodes answer the worklist C-FIND with one item; echo and store work through the gateway")
    func worklistNodeBehindTheGateway() async throws {
        try await withTestScope { scope in
            let nodePort = try await self.node("DMWL1", service: "DMWL", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(
                    "DMWL",
                    servers: ["{ label: DMWL1, address: \"127.0.0.1:\(nodePort)\" }"],
                    extra: ["    health_check: { type: dicom-echo, called_ae: MACH7, interval: 200ms, timeout: 3s }"]
                ),
                scope: scope
            )
            let port = try await gateway.port("DMWL")

            let find = try await self.findscu(port: port, scope: scope, name: "findscu")
            #expect(find.status == 0, "\(find.output)")
            #expect(find.output.contains("Find Response: 1 (Pending)"), "\(find.output)")
            #expect(find.output.contains("DEMO^PATIENT"))
            #expect(!find.output.contains("Find Response: 2"), "exactly one item")

            let echo = try await Peers.run(
                Peers.echoscu,
                ["-aet", "CT01", "-aec", "MACH7", "127.0.0.1", String(port)],
                name: "echoscu",
                scope: scope
            )
            #expect(echo.status == 0, "\(echo.output)")

            let file = "\(scope.directory)/multiframe.dcm"
            try await Peers.python(DICOMFiles.multiFrameScript, [file], name: "make-multiframe", scope: scope)
            let store = try await Peers.run(
                Peers.storescu,
                ["-aet", "CT01", "-aec", "MACH7", "127.0.0.1", String(port), file],
                name: "storescu",
                scope: scope
            )
            #expect(store.status == 0, "\(store.output)")

            let records = try await gateway.associationRecords(count: 3)
            #expect(records.map { $0.string("outcome") } == ["released", "released", "released"])
            #expect(records.allSatisfy { $0.string("implementation_version") == "OFFIS_DCMTK_367" })
            // The dicom-echo health check passes against the node too.
            let runtime = try await gateway.runtime("DMWL")
            #expect(await eventually { (runtime.pool.snapshot().first?.checksPassed ?? 0) >= 1 })
            #expect(runtime.pool.snapshot().first?.lastCheck?.detail == "C-ECHO status 0x0000")
        }
    }

    @Test("DICOM nodes do not offer the worklist; the node's label is its implementation version name")
    func dicomNodeRefusesWorklist() async throws {
        try await withTestScope { scope in
            let nodePort = try await self.node("DICOM1", service: "DICOM", scope: scope)
            let find = try await self.findscu(port: nodePort, scope: scope, name: "findscu")
            #expect(find.status != 0)
            #expect(find.output.contains("No Acceptable Presentation Contexts"), "\(find.output)")

            let client = try await RawConnection.connect(port: nodePort, scope: scope)
            try await client.send(try Fixture.pdu("echoscu-storescp.client"))
            #expect(await client.waitForBytes(6))
            #expect(await eventually { String(decoding: client.received, as: UTF8.self).contains("DICOM1") })
        }
    }

    @Test("after the release the node waits for the requestor to close, and closes itself when ARTIM expires")
    func nodeWaitsForTheCloseAfterRelease() async throws {
        try await withTestScope { scope in
            let node = DICOMSimulatedNode(configuration: SimulatedSCP.Configuration(), closeTimeout: .seconds(4))
            let port = try await self.startNode(node, scope: scope)
            let client = try await RawConnection.connect(port: port, scope: scope)
            let session = try Fixture.bytes("echoscu-storescp.client")  // RQ, C-ECHO-RQ, A-RELEASE-RQ
            try await client.send(session)
            #expect(await client.waitForBytes(20))
            // RP is the last PDU of the answer: 06 00 00000004 00000000.
            #expect(await eventually { client.received.suffix(10) == [0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0] })
            try await Task.sleep(for: .milliseconds(300))
            #expect(!client.sawEOF, "the acceptor closed right after A-RELEASE-RP instead of waiting (PS3.8 AR-4)")
            #expect(await client.waitForEOF(timeout: .seconds(10)), "the node never closed")
        }
    }
}

import Foundation
import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateDICOM

/// Must show 2 and 4: AE allow-lists answered by the gateway itself (the backend never sees the association),
/// persistence by calling AE across source addresses and ports, and routes by called AE — with real peers.
@Suite("AE policy, persistence and routing", .timeLimit(.minutes(3)))
struct PolicyAndRoutingTests {
    /// C-ECHO associations as `calling` → `called`, one from each source address; prints one line per association.
    /// One association per source address. "rejected" needs an A-ASSOCIATE-RJ PDU from the gateway: pynetdicom 3.0.4
    /// can lose the rejection itself when the RJ arrives before its ACSE thread has looked at the socket (its DUL closes
    /// the transport on the RJ, and the ACSE then takes the closed socket for a failed connect and aborts), so the
    /// PDU is watched for directly.
    static let echoFromScript = #"""
        import sys
        from pynetdicom import AE, evt
        from pynetdicom.pdu import A_ASSOCIATE_RJ
        from pynetdicom.sop_class import Verification

        port, calling, called = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        ae = AE(ae_title=calling)
        ae.add_requested_context(Verification)
        for source in sys.argv[4:]:
            rejections = []
            def received(event):
                if isinstance(event.pdu, A_ASSOCIATE_RJ):
                    rejections.append(event.pdu)
            assoc = ae.associate(
                "127.0.0.1", port, ae_title=called, bind_address=(source, 0),
                evt_handlers=[(evt.EVT_PDU_RECV, received)])
            if assoc.is_established:
                status = assoc.send_c_echo()
                assoc.release()
                print(source, "accepted", status.Status)
            elif assoc.is_rejected or rejections:
                print(source, "rejected")
            else:
                print(source, "failed")
        """#

    private func echo(
        port: Int,
        calling: String,
        called: String = "MACH7",
        from sources: [String],
        scope: TestScope
    ) async throws -> [String] {
        let output = try await Peers.python(
            Self.echoFromScript,
            [String(port), calling, called] + sources,
            name: "echo-\(calling)-\(UUID().uuidString.prefix(4))",
            scope: scope
        )
        return output.split(separator: "\n").filter { $0.hasPrefix("127.") }.map(String.init)
    }

    @Test("an AE not on calling_ae_allow gets A-ASSOCIATE-RJ 1/1/3 from the gateway; the backend sees nothing")
    func callingAENotAllowed() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(
                    servers: [scp.server("DICOM1")],
                    extra: ["    calling_ae_allow: [MODALITY1, \"CT*\"]"]
                ),
                scope: scope
            )
            let port = String(try await gateway.port())

            let refused = try await Peers.run(
                Peers.echoscu,
                ["-aet", "INTRUDER", "-aec", "MACH7", "127.0.0.1", port],
                name: "echoscu-intruder",
                scope: scope
            )
            #expect(refused.status != 0)
            #expect(refused.output.contains("Association Rejected"), "\(refused.output)")
            #expect(refused.output.contains("Result: Rejected Permanent, Source: Service User"))
            #expect(refused.output.contains("Reason: Calling AE Title Not Recognized"))

            let record = try #require(try await gateway.associationRecords(count: 1).first)
            #expect(record.string("outcome") == "rejected-by-gateway")
            #expect(record.string("calling_ae") == "INTRUDER")
            #expect(record.string("called_ae") == "MACH7")
            #expect(record.isNull("server"))
            #expect(record.object("reject")?.int("result") == 1)
            #expect(record.object("reject")?.int("source") == 1)
            #expect(record.object("reject")?.int("reason") == 3)
            #expect(record.int("bytes_down") == 10, "exactly the 10-byte A-ASSOCIATE-RJ")
            #expect(try gateway.records(AssociationRecord.startEvent).isEmpty)
            #expect(scp.associationsReceived == 0, "storescp logged an association: \(scp.process.output)")
            let runtime = try await gateway.runtime()
            #expect(runtime.pool.snapshot().first?.totalConnections == 0, "the gateway connected to the backend")
            #expect(
                gateway.logs.all.contains {
                    $0.message == "association refused by the gateway" && $0.metadata["dicom.calling_ae"] == "INTRUDER"
                }
            )

            // The same gateway lets allowed titles through, and storescp's log does show those: the check above
            // would have seen a forwarded association.
            for calling in ["MODALITY1", "CT07"] {
                let allowed = try await Peers.run(
                    Peers.echoscu,
                    ["-aet", calling, "-aec", "MACH7", "127.0.0.1", port],
                    name: "echoscu-\(calling)",
                    scope: scope
                )
                #expect(allowed.status == 0, "\(allowed.output)")
            }
            #expect(await eventually { scp.associationsReceived == 2 })
            let outcomes = try await gateway.associationRecords(count: 3).map { $0.string("outcome") }
            #expect(outcomes.filter { $0 == "released" }.count == 2)
        }
    }

    @Test("an AE not on called_ae_allow gets A-ASSOCIATE-RJ 1/1/7")
    func calledAENotAllowed() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(servers: [scp.server("DICOM1")], extra: ["    called_ae_allow: MACH7"]),
                scope: scope
            )
            let refused = try await Peers.run(
                Peers.echoscu,
                ["-aet", "MODALITY1", "-aec", "OTHER-PACS", "127.0.0.1", String(try await gateway.port())],
                name: "echoscu",
                scope: scope
            )
            #expect(refused.status != 0)
            #expect(refused.output.contains("Reason: Called AE Title Not Recognized"), "\(refused.output)")
            let record = try #require(try await gateway.associationRecords(count: 1).first)
            #expect(record.string("outcome") == "rejected-by-gateway")
            #expect(record.object("reject")?.int("reason") == 7)
            #expect(scp.associationsReceived == 0)
        }
    }

    @Test("a calling AE tied to a client network is allowed only from it")
    func callingAETiedToNetwork() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(
                    servers: [scp.server("DICOM1")],
                    extra: ["    calling_ae_allow:", "      - { ae: \"CT*\", from: [127.0.0.2, 127.0.0.8/29] }"]
                ),
                scope: scope
            )
            let lines = try await self.echo(
                port: try await gateway.port(),
                calling: "CT01",
                from: ["127.0.0.2", "127.0.0.3", "127.0.0.9"],
                scope: scope
            )
            #expect(lines == ["127.0.0.2 accepted 0", "127.0.0.3 rejected", "127.0.0.9 accepted 0"])
            let records = try await gateway.associationRecords(count: 3)
            let byClient = Dictionary(
                records.map { (String(($0.string("client") ?? "").prefix { $0 != ":" }), $0.string("outcome") ?? "") },
                uniquingKeysWith: { first, _ in first }
            )
            #expect(byClient == ["127.0.0.2": "released", "127.0.0.3": "rejected-by-gateway", "127.0.0.9": "released"])
            #expect(scp.associationsReceived == 2)
        }
    }

    @Test("persistence: calling-ae keeps each AE on one server whatever its source address and port")
    func persistenceByCallingAE() async throws {
        try await withTestScope { scope in
            let a = try await RealSCP.storescp("storescp-a", scope: scope)
            let b = try await RealSCP.storescp("storescp-b", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(
                    servers: [a.server("A"), b.server("B")],
                    extra: ["    persistence: { type: calling-ae, timeout: 5m }"]
                ),
                scope: scope
            )
            let port = try await gateway.port()
            let sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.2"]
            let ct = try await self.echo(port: port, calling: "CT01", from: sources, scope: scope)
            let mr = try await self.echo(port: port, calling: "MR01", from: sources, scope: scope)
            #expect(ct.allSatisfy { $0.hasSuffix("accepted 0") } && ct.count == 4, "\(ct)")
            #expect(mr.allSatisfy { $0.hasSuffix("accepted 0") } && mr.count == 4, "\(mr)")

            let records = try await gateway.associationRecords(count: 8)
            func servers(of calling: String) -> [String] {
                records.filter { $0.string("calling_ae") == calling }.compactMap {
                    $0.object("server")?.string("label")
                }
            }
            func clients(of calling: String) -> Set<String> {
                Set(records.filter { $0.string("calling_ae") == calling }.compactMap { $0.string("client") })
            }
            #expect(servers(of: "CT01").count == 4)
            #expect(Set(servers(of: "CT01")).count == 1, "CT01 went to \(servers(of: "CT01"))")
            #expect(Set(servers(of: "MR01")).count == 1, "MR01 went to \(servers(of: "MR01"))")
            #expect(Set(servers(of: "CT01")) != Set(servers(of: "MR01")), "round-robin placed the two AEs apart")
            #expect(clients(of: "CT01").count == 4, "four different source address:port pairs")
            #expect(a.associationsReceived + b.associationsReceived == 8)
        }
    }

    @Test("without persistence the same AE is balanced across servers (the control for the test above)")
    func noPersistenceBalances() async throws {
        try await withTestScope { scope in
            let a = try await RealSCP.storescp("storescp-a", scope: scope)
            let b = try await RealSCP.storescp("storescp-b", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(servers: [a.server("A"), b.server("B")]),
                scope: scope
            )
            _ = try await self.echo(
                port: try await gateway.port(),
                calling: "CT01",
                from: ["127.0.0.2", "127.0.0.2", "127.0.0.2"],
                scope: scope
            )
            let servers = try await gateway.associationRecords(count: 3).compactMap {
                $0.object("server")?.string("label")
            }
            #expect(Set(servers) == ["A", "B"])
        }
    }

    @Test("routes send each called AE only to its servers")
    func routesByCalledAE() async throws {
        try await withTestScope { scope in
            let a = try await RealSCP.storescp("storescp-a", scope: scope)
            let b = try await RealSCP.storescp("storescp-b", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(
                    servers: [a.server("A"), b.server("B")],
                    extra: [
                        "    routes:", "      - { called_ae: ARCH-A, servers: [A] }",
                        "      - { called_ae: \"ARCH-B*\", servers: [B] }",
                    ]
                ),
                scope: scope
            )
            let port = String(try await gateway.port())
            for (index, called) in ["ARCH-A", "ARCH-B", "ARCH-A", "ARCH-B2", "ARCH-A", "ARCH-B"].enumerated() {
                let echo = try await Peers.run(
                    Peers.echoscu,
                    ["-aet", "MODALITY1", "-aec", called, "127.0.0.1", port],
                    name: "echoscu-\(index)",
                    scope: scope
                )
                #expect(echo.status == 0, "\(echo.output)")
            }
            let records = try await gateway.associationRecords(count: 6)
            for record in records {
                let called = record.string("called_ae") ?? ""
                let expected = called.hasPrefix("ARCH-B") ? "B" : "A"
                #expect(record.object("server")?.string("label") == expected, "\(called) went elsewhere")
            }
            #expect(a.associationsReceived == 3)
            #expect(b.associationsReceived == 3)
        }
    }
}

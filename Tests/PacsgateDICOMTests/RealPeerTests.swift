import Foundation
import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateDICOM

/// Must show 1: real dcmtk and pynetdicom peers through a real in-process gateway, each association leaving
/// exactly one audit record with the right fields.
@Suite("Real peers through the gateway", .timeLimit(.minutes(3)))
struct RealPeerTests {
    /// `2026-11-25T21:54:59.984Z`
    private func isISO8601Milliseconds(_ text: String?) -> Bool {
        guard let text else { return false }
        return text.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil
    }

    private func expectClient(_ record: AuditRecord) {
        let client = record.string("client") ?? ""
        #expect(client.hasPrefix("127.0.0.1:"), "client \(client)")
        #expect(Int(client.dropFirst("127.0.0.1:".count)).map { $0 > 0 } == true, "client \(client)")
    }

    /// The fields every released association forwarded to `scp` has, whoever the peers are.
    private func expectReleased(
        _ record: AuditRecord,
        service: String,
        server: String,
        scp: RealSCP,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(self.isISO8601Milliseconds(record.string("time")), sourceLocation: sourceLocation)
        #expect(record.string("event") == "dicom.association", sourceLocation: sourceLocation)
        #expect(record.string("service") == service, sourceLocation: sourceLocation)
        self.expectClient(record)
        #expect(record.object("server")?.string("label") == server, sourceLocation: sourceLocation)
        #expect(record.object("server")?.string("address") == "127.0.0.1:\(scp.port)", sourceLocation: sourceLocation)
        #expect(record.string("outcome") == "released", sourceLocation: sourceLocation)
        #expect(record.isNull("reject"), sourceLocation: sourceLocation)
        #expect(!record.has("abort") && !record.has("error") && !record.has("warnings"), sourceLocation: sourceLocation)
        #expect(
            (record.int("bytes_up") ?? 0) > 0 && (record.int("bytes_down") ?? 0) > 0,
            sourceLocation: sourceLocation
        )
        #expect(
            record.int("pdata_pdus") == (record.int("pdata_pdus_up") ?? -1) + (record.int("pdata_pdus_down") ?? -1),
            sourceLocation: sourceLocation
        )
        #expect((record.int("duration_ms") ?? -1) >= 0, sourceLocation: sourceLocation)
        #expect(record.string("end") != nil, sourceLocation: sourceLocation)
    }

    @Test("echoscu -aet MODALITY1 -aec MACH7 to a storescp backend: one record, field by field")
    func echoscuToStorescp() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(servers: [scp.server("DICOM1")]),
                scope: scope
            )
            let port = try await gateway.port()

            let echo = try await Peers.run(
                Peers.echoscu,
                ["-aet", "MODALITY1", "-aec", "MACH7", "127.0.0.1", String(port)],
                name: "echoscu",
                scope: scope
            )
            #expect(echo.status == 0, "echoscu failed: \(echo.output)")

            // Durable before release: once the gateway has let go of the connection, the record is in the file.
            let runtime = try await gateway.runtime()
            #expect(await eventually { runtime.connections.count == 0 })
            let records = try gateway.records(AssociationRecord.event)
            #expect(records.count == 1, "the record must be written before the connection is released")
            let record = try #require(records.first)

            #expect(self.isISO8601Milliseconds(record.string("time")))
            #expect(record.string("event") == "dicom.association")
            #expect(record.string("service") == "DICOM")
            self.expectClient(record)
            #expect(record.object("server")?.string("label") == "DICOM1")
            #expect(record.object("server")?.string("address") == "127.0.0.1:\(scp.port)")
            #expect(record.string("calling_ae") == "MODALITY1")
            #expect(record.string("called_ae") == "MACH7")
            let contexts = record.objects("contexts")
            #expect(contexts.map { $0.string("uid") } == ["1.2.840.10008.1.1"])
            #expect(contexts.map { $0.string("name") } == ["Verification SOP Class"])
            #expect(contexts.map { $0.bool("accepted") } == [true])
            #expect(record.int("accepted_contexts") == 1)
            #expect(record.string("implementation_class_uid") == "1.2.276.0.7230010.3.0.3.6.7")
            #expect(record.string("implementation_version") == "OFFIS_DCMTK_367")
            #expect(record.int("max_pdu") == 16384)
            #expect(record.string("outcome") == "released")
            #expect(record.isNull("reject"))
            #expect(!record.has("abort"))
            #expect(!record.has("error"))
            // The same bytes as the committed echoscu ↔ storescp capture.
            #expect(record.int("bytes_up") == 301)
            #expect(record.int("bytes_down") == 290)
            #expect(record.int("pdata_pdus") == 2)
            #expect(record.int("pdata_pdus_up") == 1)
            #expect(record.int("pdata_pdus_down") == 1)
            #expect((record.int("duration_ms") ?? -1) >= 0)

            let starts = try gateway.records(AssociationRecord.startEvent)
            #expect(starts.count == 1)
            #expect(starts.first?.string("time") == record.string("time"))
            #expect(starts.first?.string("client") == record.string("client"))
            #expect(starts.first?.string("calling_ae") == "MODALITY1")
            #expect(starts.first?.object("server")?.string("label") == "DICOM1")
            #expect(scp.associationsReceived == 1)
        }
    }

    @Test("storescu sends a multi-frame file made by pydicom; storescp receives the data set byte for byte")
    func storescuMultiFrameArrivesByteIdentical() async throws {
        try await withTestScope { scope in
            let file = "\(scope.directory)/multiframe.dcm"
            try await Peers.python(DICOMFiles.multiFrameScript, [file], name: "make-multiframe", scope: scope)
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(servers: [scp.server("DICOM1")]),
                scope: scope
            )

            let store = try await Peers.run(
                Peers.storescu,
                ["-aet", "CT01", "-aec", "MACH7", "127.0.0.1", String(try await gateway.port()), file],
                name: "storescu",
                scope: scope
            )
            #expect(store.status == 0, "storescu failed: \(store.output)")

            let received = try FileManager.default.contentsOfDirectory(atPath: scp.directory)
            try #require(received.count == 1, "storescp wrote \(received)")
            let sent = try DICOMFiles.dataSet(ofFile: file)
            let arrived = try DICOMFiles.dataSet(ofFile: "\(scp.directory)/\(received[0])")
            #expect(sent.count > 655_360, "the pixel data alone is 655360 bytes")
            #expect(arrived.count == sent.count)
            #expect(arrived.elementsEqual(sent), "the data set changed on its way through the gateway")

            let record = try #require(try await gateway.associationRecords(count: 1).first)
            self.expectReleased(record, service: "DICOM", server: "DICOM1", scp: scp)
            #expect(record.string("calling_ae") == "CT01")
            #expect(record.string("called_ae") == "MACH7")
            let contexts = record.objects("contexts")
            #expect(contexts.count > 1, "storescu proposes many storage contexts")
            let multiFrame = contexts.filter { $0.string("uid") == "1.2.840.10008.5.1.4.1.1.7.3" }
            #expect(!multiFrame.isEmpty)
            #expect(
                multiFrame.allSatisfy {
                    $0.string("name") == "Multi-frame Grayscale Word Secondary Capture Image Storage"
                }
            )
            #expect(multiFrame.contains { $0.bool("accepted") == true })
            #expect((record.int("accepted_contexts") ?? 0) >= 1)
            // 655 KB of pixel data in P-DATA-TF PDUs of at most 16 KB.
            #expect((record.int("pdata_pdus_up") ?? 0) > 40)
            #expect(record.int("pdata_pdus_down") == 1, "one C-STORE-RSP")
            #expect((record.int("bytes_up") ?? 0) > sent.count)
            #expect(record.string("implementation_class_uid") == "1.2.276.0.7230010.3.0.3.6.7")
            #expect(record.string("implementation_version") == "OFFIS_DCMTK_367")
            #expect(record.int("max_pdu") == 16384)
            #expect(try gateway.records(AssociationRecord.startEvent).count == 1)
        }
    }

    @Test("findscu -W against wlmscpfs through the DMWL service returns the worklist item")
    func findscuWorklistThroughDMWL() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.wlmscpfs("wlmscpfs", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML("DMWL", servers: [scp.server("DMWL1")]),
                scope: scope
            )
            let find = try await Peers.run(
                Peers.findscu,
                [
                    "-W", "-aet", "CT01", "-aec", "MACH7", "-k", "ScheduledProcedureStepSequence[0].Modality",
                    "-k", "PatientName", "127.0.0.1", String(try await gateway.port("DMWL")),
                ],
                name: "findscu",
                scope: scope
            )
            #expect(find.status == 0, "findscu failed: \(find.output)")
            #expect(find.output.contains("Find Response: 1 (Pending)"), "\(find.output)")
            #expect(find.output.contains("DEMO^PATIENT"))

            let record = try #require(try await gateway.associationRecords(count: 1).first)
            self.expectReleased(record, service: "DMWL", server: "DMWL1", scp: scp)
            #expect(record.string("calling_ae") == "CT01")
            #expect(record.string("called_ae") == "MACH7")
            let contexts = record.objects("contexts")
            #expect(contexts.map { $0.string("name") } == ["Modality Worklist Information Model - FIND"])
            #expect(record.int("accepted_contexts") == 1)
            #expect(record.string("implementation_class_uid") == "1.2.276.0.7230010.3.0.3.6.7")
            #expect(record.string("implementation_version") == "OFFIS_DCMTK_367")
            #expect(record.int("max_pdu") == 16384)
            // C-FIND-RQ + identifier up; pending + item, final success down.
            #expect(record.int("pdata_pdus_up") == 2)
            #expect(record.int("pdata_pdus_down") == 3)
            #expect(scp.associationsReceived == 1)
        }
    }

    /// pynetdicom SCU proposing Verification, 20 storage classes and 3 query classes (24 contexts), C-ECHO, release.
    /// Prints what pynetdicom itself negotiated, for comparison with the audit record.
    static let manyContextsScript = #"""
        import sys
        import pynetdicom
        from pynetdicom import AE
        from pynetdicom.sop_class import Verification
        from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

        port = int(sys.argv[1])
        ae = AE(ae_title="PYMODALITY")
        ae.add_requested_context(Verification)
        for suffix in ["1", "1.1", "1.2", "2", "2.1", "4", "4.1", "6.1", "7", "12.1", "12.2", "20", "88.11",
                       "88.22", "88.33", "104.1", "128", "481.1", "1.2.1", "13.1.3"]:
            ae.add_requested_context("1.2.840.10008.5.1.4.1.1." + suffix, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        ae.add_requested_context("1.2.840.10008.5.1.4.31")
        ae.add_requested_context("1.2.840.10008.5.1.4.1.2.2.1")
        ae.add_requested_context("1.2.840.10008.1.20.1")
        assert len(ae.requested_contexts) == 24
        assoc = ae.associate("127.0.0.1", port, ae_title="MACH7")
        assert assoc.is_established, "association not established"
        status = assoc.send_c_echo()
        assert status.Status == 0, status
        print("accepted", len(assoc.accepted_contexts))
        print("implementation", pynetdicom.PYNETDICOM_IMPLEMENTATION_UID, pynetdicom.PYNETDICOM_IMPLEMENTATION_VERSION)
        assoc.release()
        """#

    @Test("a pynetdicom client proposing 24 presentation contexts")
    func pynetdicomManyContexts() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: dicomServiceYAML(servers: [scp.server("DICOM1")]),
                scope: scope
            )
            let output = try await Peers.python(
                Self.manyContextsScript,
                [String(try await gateway.port())],
                name: "pynetdicom-24",
                scope: scope
            )
            let accepted = try #require(
                output.split(separator: "\n").first { $0.hasPrefix("accepted ") }.flatMap { Int($0.dropFirst(9)) }
            )
            let implementation = try #require(output.split(separator: "\n").first { $0.hasPrefix("implementation ") })
                .split(separator: " ")

            let record = try #require(try await gateway.associationRecords(count: 1).first)
            self.expectReleased(record, service: "DICOM", server: "DICOM1", scp: scp)
            #expect(record.string("calling_ae") == "PYMODALITY")
            #expect(record.string("called_ae") == "MACH7")
            let contexts = record.objects("contexts")
            #expect(contexts.count == 24)
            #expect(contexts.map { $0.int("id") } == Array(stride(from: 1, through: 47, by: 2)))
            #expect(contexts.allSatisfy { $0.string("name") != nil }, "every proposed class is a well-known one")
            #expect(record.int("accepted_contexts") == accepted)
            #expect(accepted == 21, "storescp refuses the three query/commitment classes")
            #expect(contexts.filter { $0.bool("accepted") == true }.count == accepted)
            #expect(record.string("implementation_class_uid").map { Substring($0) } == implementation[1])
            #expect(record.string("implementation_version").map { Substring($0) } == implementation[2])
            #expect(record.int("max_pdu") == 16382)
            #expect(record.int("pdata_pdus") == 2)
            #expect(!record.has("user_identity"))
        }
    }
}

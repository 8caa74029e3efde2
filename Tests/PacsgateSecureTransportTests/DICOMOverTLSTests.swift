import Foundation
import PacsgateCore
import PacsgateTestSupport
import Testing

/// Must show 1 and 3: dcmtk with `+tls` and a client certificate through the gateway to a dcmtk node that only
/// speaks TLS (re-encrypted) and to a plain one; a multi-frame instance byte-identical; `findscu` against
/// `wlmscpfs` through a TLS worklist service; one record per association with the certificate identity; an AE title
/// bound to a certificate refused with A-ASSOCIATE-RJ reason 3 when another certificate presents it.
@Suite("DICOM over TLS with real dcmtk peers", .timeLimit(.minutes(5)))
struct DICOMOverTLSTests {
    /// Checks the certificate identity and TLS session of a record against the certificate file.
    static func expectIdentity(_ record: Record, of pair: TestCA.Pair, commonName: String, san: String) async throws {
        let certificate = try #require(record.object("client_certificate"), "no client_certificate: \(record)")
        #expect(certificate.string("subject") == "O=Radiology,CN=\(commonName)")
        #expect(certificate.strings("san") == ["DNS:\(san)"])
        #expect(certificate.string("sha256") == (try await TestCA.fingerprint(pair.certificate)))
        #expect(certificate.string("issuer") == "CN=Test Hospital CA")
        let session = try #require(record.object("tls"), "no tls: \(record)")
        #expect(["TLS1.2", "TLS1.3"].contains(session.string("version") ?? ""), "\(record)")
        #expect(session.string("cipher")?.isEmpty == false, "\(record)")
    }

    @Test("echoscu and storescu +tls: to a TLS node (re-encrypted) and a plain node; multi-frame byte-identical")
    func echoAndStore() async throws {
        try await withSecureScope { scope in
            let site = try await SecureSite.make(in: scope)
            let tlsNode = try await TLSPeers.storescp("storescp-tls", site: site, scope: scope)
            let plainNode = try await RealSCP.storescp("storescp-plain", scope: scope)
            let file = "\(scope.directory)/multiframe.dcm"
            try await Peers.python(DICOMFiles.multiFrameScript, [file], name: "make-multiframe", scope: scope)
            let gateway = try await SecureGateway.start(
                services: [
                    serviceYAML(
                        "DICOM-TLS", protocol: "dicom", lines: [site.tlsBlock()],
                        servers: [site.reencrypted("DICOM1", port: tlsNode.port)]),
                    serviceYAML(
                        "DICOM-TLS-PLAIN", protocol: "dicom", lines: [site.tlsBlock()],
                        servers: [plainNode.server("DICOM2")]),
                ].joined(separator: "\n"),
                scope: scope
            )
            for (service, node) in [("DICOM-TLS", tlsNode.directory), ("DICOM-TLS-PLAIN", plainNode.directory)] {
                let port = String(try await gateway.port(service))
                let echo = try await Peers.run(
                    Peers.echoscu, site.dcmtkClient(site.ct1) + ["-aet", "CT_SCANNER1", "-aec", "MACH7", "127.0.0.1", port],
                    name: "echoscu-\(service)", scope: scope)
                #expect(echo.status == 0, "echoscu via \(service): \(echo.output)")
                let store = try await Peers.run(
                    Peers.storescu,
                    site.dcmtkClient(site.ct1) + ["-aet", "CT_SCANNER1", "-aec", "MACH7", "127.0.0.1", port, file],
                    name: "storescu-\(service)", scope: scope)
                #expect(store.status == 0, "storescu via \(service): \(store.output)")
                let received = try FileManager.default.contentsOfDirectory(atPath: node)
                try #require(received.count == 1, "\(service)'s node wrote \(received)")
                let sent = try DICOMFiles.dataSet(ofFile: file)
                let arrived = try DICOMFiles.dataSet(ofFile: "\(node)/\(received[0])")
                #expect(sent.count > 655_360)
                #expect(arrived.elementsEqual(sent), "the data set changed on its way through \(service)")
            }
            #expect(tlsNode.associationsReceived == 2, "\(tlsNode.process.output)")
            #expect(plainNode.associationsReceived == 2)

            let records = try await gateway.records("dicom.association", count: 4)
            for record in records {
                #expect(record.string("outcome") == "released", "\(record)")
                #expect(record.string("calling_ae") == "CT_SCANNER1")
                try await Self.expectIdentity(record, of: site.ct1, commonName: "ct1.hospital.example", san: "ct1.hospital.example")
            }
            #expect(records.map { $0.object("server")?.string("label") ?? "-" }.sorted() == ["DICOM1", "DICOM1", "DICOM2", "DICOM2"])
            #expect(records.filter { ($0.int("pdata_pdus_up") ?? 0) > 40 }.count == 2, "the two stores carry 655 KB each")
            // The start records carry the identity too; no other record is written for these connections.
            for start in try gateway.records("dicom.association.start") {
                try await Self.expectIdentity(start, of: site.ct1, commonName: "ct1.hospital.example", san: "ct1.hospital.example")
            }
            #expect(try gateway.records().count == 8, "4 associations, each a start and an end record")
        }
    }

    @Test("findscu +tls against wlmscpfs through a TLS worklist service")
    func worklist() async throws {
        try await withSecureScope { scope in
            let site = try await SecureSite.make(in: scope)
            let wlm = try await RealSCP.wlmscpfs("wlmscpfs", scope: scope)
            let gateway = try await SecureGateway.start(
                services: serviceYAML(
                    "DMWL-TLS", protocol: "dicom", lines: [site.tlsBlock()], servers: [wlm.server("DMWL1")]),
                scope: scope
            )
            let find = try await Peers.run(
                Peers.findscu,
                site.dcmtkClient(site.ct1) + [
                    "-v", "-W", "-aet", "CT_SCANNER1", "-aec", "MACH7", "-k", "ScheduledProcedureStepSequence[0].Modality",
                    "-k", "PatientName", "127.0.0.1", String(try await gateway.port("DMWL-TLS")),
                ],
                name: "findscu", scope: scope)
            #expect(find.status == 0, "findscu: \(find.output)")
            #expect(find.output.contains("Find Response: 1 (Pending)"), "\(find.output)")
            let record = try #require(try await gateway.records("dicom.association", count: 1).first)
            #expect(record.string("outcome") == "released")
            #expect(record.string("called_ae") == "MACH7")
            try await Self.expectIdentity(record, of: site.ct1, commonName: "ct1.hospital.example", san: "ct1.hospital.example")
        }
    }

    @Test("an AE title bound to a certificate: another certificate gets A-ASSOCIATE-RJ reason 3; its own passes")
    func boundAETitle() async throws {
        try await withSecureScope { scope in
            let site = try await SecureSite.make(in: scope)
            let node = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await SecureGateway.start(
                services: serviceYAML(
                    "DICOM-TLS", protocol: "dicom",
                    lines: [
                        site.tlsBlock(),
                        "    calling_ae_allow:",
                        "      - { ae: CT_SCANNER1, certificate: { san: ct1.hospital.example } }",
                        "      - \"MR*\"",
                    ],
                    servers: [node.server("DICOM1")]),
                scope: scope
            )
            let port = String(try await gateway.port("DICOM-TLS"))
            let impostor = try await Peers.run(
                Peers.echoscu, site.dcmtkClient(site.mr1) + ["-aet", "CT_SCANNER1", "-aec", "MACH7", "127.0.0.1", port],
                name: "echoscu-impostor", scope: scope)
            #expect(impostor.status != 0)
            #expect(impostor.output.contains("Association Rejected"), "\(impostor.output)")
            #expect(impostor.output.contains("Result: Rejected Permanent, Source: Service User"), "\(impostor.output)")
            #expect(impostor.output.contains("Reason: Calling AE Title Not Recognized"), "\(impostor.output)")
            #expect(node.associationsReceived == 0, "nothing reached the node")

            let own = try await Peers.run(
                Peers.echoscu, site.dcmtkClient(site.ct1) + ["-aet", "CT_SCANNER1", "-aec", "MACH7", "127.0.0.1", port],
                name: "echoscu-own", scope: scope)
            #expect(own.status == 0, "\(own.output)")
            let mr = try await Peers.run(
                Peers.echoscu, site.dcmtkClient(site.mr1) + ["-aet", "MR1", "-aec", "MACH7", "127.0.0.1", port],
                name: "echoscu-mr", scope: scope)
            #expect(mr.status == 0, "an unbound title passes with any verified certificate: \(mr.output)")

            let records = try await gateway.records("dicom.association", count: 3)
            let refused = try #require(records.first { $0.string("outcome") == "rejected-by-gateway" })
            #expect(refused.object("reject")?.int("reason") == 3)
            #expect(refused.object("reject")?.int("source") == 1)
            #expect(refused.object("reject")?.int("result") == 1)
            #expect(
                refused.string("error")
                    == "calling AE title CT_SCANNER1 is bound to a client certificate with SAN ct1.hospital.example; "
                    + "the client's certificate is O=Radiology,CN=mr1.hospital.example (SAN DNS:mr1.hospital.example)"
            )
            try await Self.expectIdentity(refused, of: site.mr1, commonName: "mr1.hospital.example", san: "mr1.hospital.example")
            #expect(records.filter { $0.string("outcome") == "released" }.count == 2)
            #expect(node.associationsReceived == 2)
            let line = try #require(gateway.logs.all.first { $0.message == "association refused by the gateway" })
            #expect(line.metadata["dicom.answer"] == "A-ASSOCIATE-RJ result 1 source 1 reason 3 (calling AE title not recognized)")
        }
    }
}

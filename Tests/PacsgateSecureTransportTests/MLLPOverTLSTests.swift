import Foundation
import PacsgateCore
import PacsgateTestSupport
import Testing

/// Must show 4: MLLP over TLS with Python's `ssl` client (python-hl7 framing) to a TLS MLLP receiver and to a plain
/// one; a bad frame inside TLS is NAKed exactly as on a plain service. Also the HL7 binding of senders to
/// certificates (MSH-3/MSH-4, AR NAK).
@Suite("MLLP over TLS with Python's ssl and python-hl7", .timeLimit(.minutes(5)))
struct MLLPOverTLSTests {
    static func message(_ id: String, application: String = "RIS", facility: String = "HOSP") -> String {
        "MSH|^~\\&|\(application)|\(facility)|PACS|MACH7|20250101115959||ORM^O01^ORM_O01|\(id)|P|2.5.1\rPID|1||DEMO-1\r"
    }

    /// A NAK with its time (MSH-7) and gateway control ID (MSH-10) blanked, for comparing two of them.
    static func masked(_ nak: String) -> String {
        nak.split(separator: "\r", omittingEmptySubsequences: false).map { segment -> String in
            guard segment.hasPrefix("MSH|") else { return String(segment) }
            var fields = segment.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            if fields.count > 9 {
                fields[6] = "<time>"
                fields[9] = "<id>"
            }
            return fields.joined(separator: "|")
        }.joined(separator: "\r")
    }

    @Test("to a TLS receiver (re-encrypted) and to a plain one; ACKs come back; records carry the certificate")
    func messages() async throws {
        try await withSecureScope { scope in
            let site = try await SecureSite.make(in: scope)
            let tlsReceiver = try await TLSPeers.receiver("receiver-tls", site: site, scope: scope)
            let plainReceiver = try await TLSPeers.receiver("receiver-plain", site: nil, scope: scope)
            let gateway = try await SecureGateway.start(
                services: [
                    serviceYAML(
                        "HL7-TLS", protocol: "hl7", lines: [site.tlsBlock()],
                        servers: [site.reencrypted("HL71", port: tlsReceiver.port)]),
                    serviceYAML(
                        "HL7-TLS-PLAIN", protocol: "hl7", lines: [site.tlsBlock()],
                        servers: ["{ label: HL72, address: \"127.0.0.1:\(plainReceiver.port)\" }"]),
                ].joined(separator: "\n"),
                scope: scope
            )
            for (service, receiver, id) in [("HL7-TLS", tlsReceiver, "T1"), ("HL7-TLS-PLAIN", plainReceiver, "P1")] {
                let sent = try await TLSPeers.send(
                    [framed(Self.message(id))], port: try await gateway.port(service), site: site, client: site.ct1,
                    scope: scope, answers: 1)
                #expect(sent.status == 0, "\(service): \(sent.output)")
                let ack = try #require(sent.answers.first, "\(service): \(sent.output)")
                #expect(ack.contains("\rMSA|AA|\(id)"), "\(service): the receiver's own ACK comes back: \(ack)")
                #expect(receiver.received.contains(Self.message(id)), "\(service)'s receiver got the message unchanged")
            }
            let records = try await gateway.records("hl7.message", count: 2)
            for record in records {
                #expect(record.string("ack_code") == "AA", "\(record)")
                #expect(record.string("sending_app") == "RIS")
                let identity = try #require(record.object("client_certificate"), "\(record)")
                #expect(identity.string("sha256") == (try await TestCA.fingerprint(site.ct1.certificate)))
                #expect(identity.strings("san") == ["DNS:ct1.hospital.example"])
                #expect(identity.string("subject") == "O=Radiology,CN=ct1.hospital.example")
                #expect(record.object("tls")?.string("version") != nil)
            }
            #expect(Set(records.compactMap { $0.string("service") }) == ["HL7-TLS", "HL7-TLS-PLAIN"])
        }
    }

    @Test("a bad frame inside TLS gets the same NAK as on a plain service, and nothing of it reaches the receiver")
    func badFrame() async throws {
        try await withSecureScope { scope in
            let site = try await SecureSite.make(in: scope)
            let receiver = try await TLSPeers.receiver("receiver", site: nil, scope: scope)
            let server = "{ label: HL71, address: \"127.0.0.1:\(receiver.port)\" }"
            let gateway = try await SecureGateway.start(
                services: [
                    serviceYAML("HL7-TLS", protocol: "hl7", lines: [site.tlsBlock()], servers: [server]),
                    serviceYAML("HL7", protocol: "hl7", servers: [server]),
                ].joined(separator: "\n"),
                scope: scope
            )
            // A message abandoned without its end block (the next start block arrives: AR NAK), then a frame that is
            // not HL7 (AE NAK), then a good message that goes through.
            let broken = [0x0B] + Array(Self.message("B1").utf8)
            let notHL7 = framed("PID|1||NOT-A-MESSAGE\r")
            let good = framed(Self.message("G1"))
            var naks: [String: [String]] = [:]
            for (service, secure) in [("HL7-TLS", true), ("HL7", false)] {
                let sent = try await TLSPeers.send(
                    [broken, notHL7, good], port: try await gateway.port(service), site: secure ? site : nil,
                    client: site.ct1, scope: scope, answers: 3)
                #expect(sent.status == 0, "\(service): \(sent.output)")
                #expect(sent.answers.count == 3, "\(service): \(sent.output)")
                naks[service] = sent.answers.prefix(2).map(Self.masked)
                #expect(sent.answers.last?.contains("\rMSA|AA|G1") == true)
            }
            let secure = try #require(naks["HL7-TLS"])
            #expect(secure.count == 2)
            #expect(secure == naks["HL7"], "the NAKs differ:\n\(secure)\n\(naks["HL7"] ?? [])")
            #expect(secure.first?.contains("\rMSA|AR|B1") == true, "\(secure)")
            #expect(secure.last?.contains("\rMSA|AE|") == true, "\(secure)")
            #expect(!receiver.received.contains("B1"), "the broken message reached the receiver")
            #expect(!receiver.received.contains("NOT-A-MESSAGE"), "the non-HL7 frame reached the receiver")
            let rejected = try await gateway.records("hl7.rejected", count: 4)
            let tlsRejected = rejected.filter { $0.string("service") == "HL7-TLS" }
            #expect(tlsRejected.map { $0.string("reason") ?? "" }.sorted() == ["not_msh", "start_block_inside_frame"])
            #expect(tlsRejected.allSatisfy { $0.object("client_certificate")?.string("subject") == "O=Radiology,CN=ct1.hospital.example" })
            #expect(rejected.filter { $0.string("service") == "HL7" }.allSatisfy { !$0.has("client_certificate") })
        }
    }

    @Test("a sender bound to a certificate: another certificate gets an AR NAK and a sender_not_allowed record")
    func boundSender() async throws {
        try await withSecureScope { scope in
            let site = try await SecureSite.make(in: scope)
            let receiver = try await TLSPeers.receiver("receiver", site: nil, scope: scope)
            let gateway = try await SecureGateway.start(
                services: serviceYAML(
                    "HL7-TLS", protocol: "hl7",
                    lines: [
                        site.tlsBlock(),
                        "    sender_allow:",
                        "      - { sending_app: RIS, sending_facility: HOSP, certificate: { san: ct1.hospital.example } }",
                        "      - { sending_app: \"LAB*\" }",
                    ],
                    servers: ["{ label: HL71, address: \"127.0.0.1:\(receiver.port)\" }"]),
                scope: scope
            )
            let port = try await gateway.port("HL7-TLS")
            let impostor = try await TLSPeers.send(
                [framed(Self.message("X1")), framed(Self.message("L1", application: "LAB-CHEM"))], port: port,
                site: site, client: site.mr1, scope: scope, answers: 2)
            #expect(impostor.status == 0, "\(impostor.output)")
            let nak = try #require(impostor.answers.first)
            #expect(nak.contains("\rMSA|AR|X1\r"), "\(nak)")
            #expect(nak.contains("sending application RIS facility HOSP is bound to a client certificate with SAN ct1.hospital.example"), "\(nak)")
            #expect(impostor.answers.last?.contains("\rMSA|AA|L1") == true, "an unbound sender passes")
            let own = try await TLSPeers.send(
                [framed(Self.message("R1"))], port: port, site: site, client: site.ct1, scope: scope, answers: 1)
            #expect(own.answers.first?.contains("\rMSA|AA|R1") == true, "\(own.output)")
            #expect(!receiver.received.contains("|X1|"))
            let rejected = try #require(try await gateway.records("hl7.rejected", count: 1).first)
            #expect(rejected.string("reason") == "sender_not_allowed")
            #expect(rejected.string("nak_code") == "AR")
            #expect(
                rejected.string("detail")
                    == "sending application RIS facility HOSP is bound to a client certificate with SAN ct1.hospital.example; "
                    + "the client's certificate is O=Radiology,CN=mr1.hospital.example (SAN DNS:mr1.hospital.example)")
            #expect(rejected.object("client_certificate")?.strings("san") == ["DNS:mr1.hospital.example"])
        }
    }
}

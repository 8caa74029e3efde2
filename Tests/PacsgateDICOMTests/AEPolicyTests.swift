import NIOCore
import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateDICOM

@Suite struct AEPatternTests {
    private func matches(_ pattern: String, _ title: String) throws -> Bool {
        try AEPattern(pattern).matches(Array(title.utf8))
    }

    @Test func exactTitlesMatchByteForByteAndCaseSensitively() throws {
        #expect(try self.matches("MACH7", "MACH7"))
        #expect(try !self.matches("MACH7", "mach7"))
        #expect(try !self.matches("MACH7", "MACH7A"))
        #expect(try !self.matches("MACH7", "MACH"))
        #expect(try self.matches("MY AE", "MY AE"))
        #expect(try self.matches("  CT01  ", "CT01"), "padding spaces are not significant")
    }

    @Test(arguments: [
        ("*", "ANYTHING", true), ("*", "A", true),
        ("CT*", "CT", true), ("CT*", "CT01", true), ("CT*", "XCT01", false),
        ("*-ARCH", "MACH7-ARCH", true), ("*-ARCH", "MACH7-ARCH2", false),
        ("MR*01", "MR01", true), ("MR*01", "MR-ROOM-01", true), ("MR*01", "MR-ROOM-02", false),
        ("A*B*C", "AXBXC", true), ("A*B*C", "ABC", true), ("A*B*C", "AC", false), ("A*B*C", "ACB", false),
        ("A*A", "A", false), ("A*A", "AA", true), ("**", "X", true),
    ])
    func wildcards(pattern: String, title: String, expected: Bool) throws {
        #expect(try self.matches(pattern, title) == expected, "\(pattern) vs \(title)")
    }

    @Test func patternsMatchTheTrimmedWireTitle() throws {
        let padded = AETitle(wireBytes: Array("  CT01          ".utf8))
        #expect(try AEPattern("CT01").matches(padded))
        let nulPadded = AETitle(wireBytes: Array("CT01".utf8) + [UInt8](repeating: 0, count: 12))
        #expect(try AEPattern("CT*").matches(nulPadded))
    }

    @Test func invalidPatternsAreRefusedWithTheReason() {
        #expect(throws: AEPattern.Defect.empty) { try AEPattern("") }
        #expect(throws: AEPattern.Defect.empty) { try AEPattern("   ") }
        #expect(throws: AEPattern.Defect.tooLong(17)) { try AEPattern("ABCDEFGHIJKLMNOPQ") }
        #expect(throws: AEPattern.Defect.forbiddenCharacter(0x5C)) { try AEPattern("A\\B") }
        #expect(throws: AEPattern.Defect.forbiddenCharacter(0x0A)) { try AEPattern("A\nB") }
        // 16 literal characters plus stars is fine.
        #expect(throws: Never.self) { try AEPattern("*ABCDEFGHIJKLMNOP*") }
    }

    @Test func auditTextEscapesEverythingThatIsNotPrintableASCII() {
        let hostile = AETitle(wireBytes: Array("EVIL\n{\"x\\".utf8) + [0xFF, 0x20, 0x20, 0x20, 0x00, 0x00])
        #expect(hostile.auditText == "EVIL\\x0A{\"x\\x5C\\xFF")
        #expect(AETitle(wireBytes: Array(" CT01           ".utf8)).auditText == "CT01")
    }
}

@Suite struct ClientNetworkTests {
    private func address(_ ip: String) throws -> SocketAddress {
        try SocketAddress(ipAddress: ip, port: 40000)
    }

    @Test func ipv4Networks() throws {
        let network = try #require(ClientNetwork("10.1.2.0/24"))
        #expect(network.contains(try self.address("10.1.2.0")))
        #expect(network.contains(try self.address("10.1.2.255")))
        #expect(!network.contains(try self.address("10.1.3.1")))
        #expect(!network.contains(try self.address("::1")))
        let host = try #require(ClientNetwork("192.168.110.17"))
        #expect(host.contains(try self.address("192.168.110.17")))
        #expect(!host.contains(try self.address("192.168.110.18")))
        let all = try #require(ClientNetwork("0.0.0.0/0"))
        #expect(all.contains(try self.address("203.0.113.9")))
        let odd = try #require(ClientNetwork("10.0.0.0/9"))
        #expect(odd.contains(try self.address("10.127.255.255")))
        #expect(!odd.contains(try self.address("10.128.0.0")))
    }

    @Test func ipv6NetworksAndMappedIPv4Clients() throws {
        let ula = try #require(ClientNetwork("fd00::/8"))
        #expect(ula.contains(try self.address("fd12:3456::1")))
        #expect(!ula.contains(try self.address("fe80::1")))
        #expect(!ula.contains(try self.address("10.0.0.1")))
        let wide = try #require(ClientNetwork("2001:db8:1:2::/72"))
        #expect(wide.contains(try self.address("2001:db8:1:2:ff::1")))
        #expect(!wide.contains(try self.address("2001:db8:1:2:100::1")))
        let loopback = try #require(ClientNetwork("[::1]"))
        #expect(loopback.contains(try self.address("::1")))
        // An IPv4 client on a dual-stack listener.
        let v4 = try #require(ClientNetwork("10.1.2.0/24"))
        #expect(v4.contains(try self.address("::ffff:10.1.2.9")))
        #expect(!v4.contains(try self.address("::ffff:10.1.3.9")))
    }

    @Test(arguments: ["10.1.2.0/33", "10.1.2/24", "host.example/24", "::1/129", "10.1.2.0/", "10.1.2.0/x", ""])
    func invalidNetworks(text: String) {
        #expect(ClientNetwork(text) == nil)
    }
}

@Suite struct AEPolicyTests {
    private func request(calling: String, called: String) throws -> AssociateRequest {
        AssociateRequest(
            calledAETitle: try AETitle(called),
            callingAETitle: try AETitle(calling),
            presentationContexts: [
                PresentationContextProposal(
                    id: 1,
                    abstractSyntax: DICOMUID.verification,
                    transferSyntaxes: [DICOMUID.implicitVRLittleEndian]
                )
            ],
            userInformation: UserInformation(maximumLength: 16384, implementationClassUID: "1.2.3")
        )
    }

    private let modalityNet = try! SocketAddress(ipAddress: "10.1.2.7", port: 1234)
    private let elsewhere = try! SocketAddress(ipAddress: "10.9.9.9", port: 1234)

    private var policy: AEPolicy {
        get throws {
            AEPolicy(
                callingAllow: AEAllowList([
                    AEAllowRule(pattern: try AEPattern("CT01")),
                    AEAllowRule(pattern: try AEPattern("MR*"), networks: [try #require(ClientNetwork("10.1.2.0/24"))]),
                ]),
                calledAllow: AEAllowList([AEAllowRule(pattern: try AEPattern("MACH7*"))]),
                routes: [
                    AssociationRoute(calledAE: try AEPattern("MACH7-A"), servers: ["DICOM1"]),
                    AssociationRoute(calledAE: try AEPattern("MACH7-*"), servers: ["DICOM2", "DICOM3"]),
                ]
            )
        }
    }

    @Test func callingAEFirstThenCalledAE() throws {
        let policy = try self.policy
        #expect(
            policy.decide(try self.request(calling: "INTRUDER", called: "NOPE"), client: self.modalityNet)
                == .reject(.callingAETitleNotRecognized, why: "calling AE title not on calling_ae_allow")
        )
        #expect(
            policy.decide(try self.request(calling: "CT01", called: "NOPE"), client: self.modalityNet)
                == .reject(.calledAETitleNotRecognized, why: "called AE title not on called_ae_allow")
        )
    }

    @Test func ruleTiedToANetworkOnlyAllowsClientsInIt() throws {
        let policy = try self.policy
        let mr = try self.request(calling: "MR3", called: "MACH7")
        #expect(policy.decide(mr, client: self.modalityNet) == .forward(servers: nil, route: nil))
        #expect(
            policy.decide(mr, client: self.elsewhere)
                == .reject(.callingAETitleNotRecognized, why: "calling AE title not on calling_ae_allow")
        )
        // An untied rule allows the title from anywhere.
        #expect(
            policy.decide(try self.request(calling: "CT01", called: "MACH7"), client: self.elsewhere)
                == .forward(servers: nil, route: nil)
        )
    }

    @Test func firstMatchingRouteWins() throws {
        let policy = try self.policy
        #expect(
            policy.decide(try self.request(calling: "CT01", called: "MACH7-A"), client: self.modalityNet)
                == .forward(servers: ["DICOM1"], route: "MACH7-A")
        )
        #expect(
            policy.decide(try self.request(calling: "CT01", called: "MACH7-B"), client: self.modalityNet)
                == .forward(servers: ["DICOM2", "DICOM3"], route: "MACH7-*")
        )
    }

    @Test func noListsAllowEveryone() throws {
        let request = try self.request(calling: "ANYONE", called: "ANY-SCP")
        #expect(AEPolicy().decide(request, client: self.elsewhere) == .forward(servers: nil, route: nil))
    }

    @Test func titlesBoundToACertificateNeedIt() throws {
        let bound = AEPolicy(
            callingAllow: AEAllowList([
                AEAllowRule(
                    pattern: try AEPattern("CT_SCANNER1"),
                    certificate: CertificateRequirement(.subjectAlternativeName(nil, "ct1.hospital.example"))),
                AEAllowRule(
                    pattern: try AEPattern("CT_SCANNER1"),
                    certificate: CertificateRequirement(.subjectAlternativeName(nil, "ct1-spare.hospital.example"))),
                AEAllowRule(pattern: try AEPattern("MR*")),
            ]),
            calledAllow: AEAllowList([
                AEAllowRule(
                    pattern: try AEPattern("MACH7-SECURE"),
                    certificate: CertificateRequirement(.subject("O=Radiology,CN=ct1.hospital.example"))),
                AEAllowRule(pattern: try AEPattern("MACH7")),
            ])
        )
        let ct1 = PeerCertificate.sample("ct1.hospital.example")
        let other = PeerCertificate.sample("mr2.hospital.example")
        let scanner = try self.request(calling: "CT_SCANNER1", called: "MACH7")
        #expect(bound.decide(scanner, client: self.elsewhere, certificate: ct1) == .forward(servers: nil, route: nil))
        #expect(
            bound.decide(scanner, client: self.elsewhere, certificate: other)
                == .reject(
                    .callingAETitleNotRecognized,
                    why: "calling AE title CT_SCANNER1 is bound to a client certificate with SAN ct1.hospital.example or "
                        + "SAN ct1-spare.hospital.example; the client's certificate is O=Radiology,CN=mr2.hospital.example "
                        + "(SAN DNS:mr2.hospital.example)")
        )
        #expect(
            bound.decide(scanner, client: self.elsewhere)
                == .reject(
                    .callingAETitleNotRecognized,
                    why: "calling AE title CT_SCANNER1 is bound to a client certificate with SAN ct1.hospital.example or "
                        + "SAN ct1-spare.hospital.example; the client presented no certificate")
        )
        // Unbound titles pass with any certificate or none; unknown ones are simply not listed.
        let mr = try self.request(calling: "MR2", called: "MACH7")
        #expect(bound.decide(mr, client: self.elsewhere, certificate: other) == .forward(servers: nil, route: nil))
        #expect(bound.decide(mr, client: self.elsewhere) == .forward(servers: nil, route: nil))
        #expect(
            bound.decide(try self.request(calling: "US1", called: "MACH7"), client: self.elsewhere, certificate: ct1)
                == .reject(.callingAETitleNotRecognized, why: "calling AE title not on calling_ae_allow")
        )
        // The called AE list binds the same way (RJ reason 7).
        #expect(
            bound.decide(try self.request(calling: "MR2", called: "MACH7-SECURE"), client: self.elsewhere, certificate: other)
                == .reject(
                    .calledAETitleNotRecognized,
                    why: "called AE title MACH7-SECURE is bound to a client certificate with subject "
                        + "O=Radiology,CN=ct1.hospital.example; the client's certificate is "
                        + "O=Radiology,CN=mr2.hospital.example (SAN DNS:mr2.hospital.example)")
        )
        #expect(
            AEAllowRule(
                pattern: try AEPattern("CT*"), networks: [try #require(ClientNetwork("10.1.2.0/24"))],
                certificate: CertificateRequirement(.fingerprint("AB"))
            ).description == "CT* from 10.1.2.0/24 with certificate SHA-256 fingerprint AB"
        )
    }

    @Test func titlesBreakingTheAERulesNeverPassAConfiguredList() throws {
        var request = try self.request(calling: "X", called: "MACH7")
        request.callingAETitle = AETitle(wireBytes: Array("CT01\u{07}".utf8) + [UInt8](repeating: 0x20, count: 11))
        let everyone = AEPolicy(callingAllow: AEAllowList([AEAllowRule(pattern: try AEPattern("*"))]))
        #expect(
            everyone.decide(request, client: self.elsewhere)
                == .reject(.callingAETitleNotRecognized, why: "calling AE title not on calling_ae_allow")
        )
        // Without a list the gateway stays transparent.
        #expect(AEPolicy().decide(request, client: self.elsewhere) == .forward(servers: nil, route: nil))
    }
}

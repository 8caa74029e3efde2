import Testing

@testable import PacsgateCore

/// `certificate: { san | subject | fingerprint }` of allow-list entries: reading (every mistake with its exact
/// words) and matching against a client's verified certificate.
@Suite struct CertificateRequirementTests {
    static let fingerprint = "87:2F:EC:37:F2:E2:2C:7F:EE:FF:DA:A4:C4:33:3A:E0:7D:09:97:F4:A2:50:92:49:49:5A:3D:D1:1D:93:F4:8A"
    static let certificate = PeerCertificate(
        subject: "O=Radiology,CN=ct1.hospital.example",
        issuer: "CN=Test Hospital CA",
        subjectAlternativeNames: [
            SubjectAlternativeName(.dns, "CT1.Hospital.Example"), SubjectAlternativeName(.ip, "10.1.2.3"),
            SubjectAlternativeName(.uri, "urn:oid:1.2.3"),
        ],
        sha256Fingerprint: Self.fingerprint,
        serialNumber: "1001",
        notValidAfter: WallClock.Instant(millisecondsSinceEpoch: 0)
    )

    private func read(_ entries: ConfigNode.Entry...) -> (CertificateRequirement?, [ConfigProblem]) {
        var reader = MappingReader(mapping(line: 1, entry("x", 1, "y")), context: "outer")
        let node = ConfigNode(.mapping(entries), line: 4)
        let requirement = CertificateRequirement.read(node, context: "service 'D': calling_ae_allow[0]", &reader)
        return (requirement, reader.problems)
    }

    @Test func readsEachKind() {
        #expect(read(entry("san", 4, "ct1.hospital.example")).0?.kind == .subjectAlternativeName(nil, "ct1.hospital.example"))
        #expect(read(entry("san", 4, "IP:10.1.2.3")).0?.kind == .subjectAlternativeName(.ip, "10.1.2.3"))
        #expect(read(entry("subject", 4, "CN=ct1")).0?.kind == .subject("CN=ct1"))
        let lower = Self.fingerprint.lowercased().replacingOccurrences(of: ":", with: "")
        #expect(read(entry("fingerprint", 4, lower)).0?.kind == .fingerprint(Self.fingerprint.replacingOccurrences(of: ":", with: "")))
    }

    @Test func mistakes() {
        let context = "service 'D': calling_ae_allow[0]"
        let cases: [([ConfigNode.Entry], [ConfigProblem])] = [
            ([], [ConfigProblem(line: 4, "\(context): 'certificate' needs exactly one of san, subject, fingerprint (found 0)")]),
            (
                [entry("san", 4, "a"), entry("subject", 5, "CN=a")],
                [ConfigProblem(line: 4, "\(context): 'certificate' needs exactly one of san, subject, fingerprint (found 2)")]
            ),
            (
                [entry("cn", 4, "a")],
                [
                    ConfigProblem(line: 4, "\(context) certificate: unknown key 'cn' (known keys: fingerprint, san, subject)"),
                    ConfigProblem(line: 4, "\(context): 'certificate' needs exactly one of san, subject, fingerprint (found 0)"),
                ]
            ),
            ([entry("san", 4, "DNS:")], [ConfigProblem(line: 4, "\(context): certificate 'san' 'DNS:' is not a subjectAltName value")]),
            ([entry("san", 4, "two words")], [ConfigProblem(line: 4, "\(context): certificate 'san' 'two words' is not a subjectAltName value")]),
            (
                [entry("subject", 4, "ct1.hospital.example")],
                [
                    ConfigProblem(
                        line: 4,
                        "\(context): certificate 'subject' 'ct1.hospital.example' is not a distinguished name such as CN=ct1.hospital.example,O=Radiology")
                ]
            ),
            (
                [entry("fingerprint", 4, "AB:CD")],
                [
                    ConfigProblem(
                        line: 4,
                        "\(context): certificate 'fingerprint' must be a SHA-256 fingerprint (64 hex digits, colons allowed), as openssl x509 -noout -fingerprint -sha256 prints it")
                ]
            ),
        ]
        for (entries, problems) in cases {
            var reader = MappingReader(mapping(line: 1, entry("x", 1, "y")), context: "outer")
            let node = ConfigNode(.mapping(entries), line: 4)
            #expect(CertificateRequirement.read(node, context: context, &reader) == nil)
            #expect(reader.problems == problems)
        }
        var reader = MappingReader(mapping(line: 1, entry("x", 1, "y")), context: "outer")
        #expect(CertificateRequirement.read(ConfigNode(.scalar("ct1"), line: 4), context: context, &reader) == nil)
        #expect(reader.problems == [ConfigProblem(line: 4, "\(context) certificate must be a mapping, found a value")])
    }

    @Test func matching() {
        func requirement(_ kind: CertificateRequirement.Kind) -> CertificateRequirement { CertificateRequirement(kind) }
        // DNS names compare without case; the others exactly; a typed SAN only matches its type.
        #expect(requirement(.subjectAlternativeName(nil, "ct1.hospital.example")).matches(Self.certificate))
        #expect(requirement(.subjectAlternativeName(.dns, "ct1.HOSPITAL.example")).matches(Self.certificate))
        #expect(requirement(.subjectAlternativeName(nil, "10.1.2.3")).matches(Self.certificate))
        #expect(!requirement(.subjectAlternativeName(.dns, "10.1.2.3")).matches(Self.certificate))
        #expect(!requirement(.subjectAlternativeName(.uri, "URN:OID:1.2.3")).matches(Self.certificate))
        #expect(!requirement(.subjectAlternativeName(nil, "ct2.hospital.example")).matches(Self.certificate))
        // Subjects: spaces around separators and the case of attribute names do not matter, values do.
        #expect(requirement(.subject("o = Radiology , cn=ct1.hospital.example")).matches(Self.certificate))
        #expect(!requirement(.subject("O=radiology,CN=ct1.hospital.example")).matches(Self.certificate))
        #expect(!requirement(.subject("CN=ct1.hospital.example,O=Radiology")).matches(Self.certificate))
        #expect(requirement(.fingerprint(Self.fingerprint.replacingOccurrences(of: ":", with: ""))).matches(Self.certificate))
        #expect(!requirement(.fingerprint(String(repeating: "0", count: 64))).matches(Self.certificate))
        // Without a certificate nothing matches.
        #expect(!requirement(.subjectAlternativeName(nil, "ct1.hospital.example")).matches(nil))
        #expect(
            requirement(.subjectAlternativeName(.ip, "10.1.2.3")).description == "SAN IP:10.1.2.3"
                && requirement(.subject("CN=a")).description == "subject CN=a"
        )
    }

    @Test func subjectNormalization() {
        #expect(CertificateRequirement.normalizedSubject(" cn = ct1 , o=Radiology Dept ") == "CN=ct1,O=Radiology Dept")
        #expect(CertificateRequirement.normalizedSubject("CN=a+UID=b") == "CN=a+UID=b")
    }
}

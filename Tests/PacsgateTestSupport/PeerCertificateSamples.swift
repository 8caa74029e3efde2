package import PacsgateCore

extension PeerCertificate {
    /// A verified client certificate's identity for policy and record tests: SAN `DNS:<name>`, issued by
    /// `CN=Test Hospital CA`.
    package static func sample(
        _ name: String,
        subject: String? = nil,
        fingerprint: String = "AB",
        serial: String = "1001"
    ) -> PeerCertificate {
        PeerCertificate(
            subject: subject ?? "O=Radiology,CN=\(name)",
            issuer: "CN=Test Hospital CA",
            subjectAlternativeNames: [SubjectAlternativeName(.dns, name)],
            sha256Fingerprint: fingerprint,
            serialNumber: serial,
            notValidAfter: WallClock.Instant(millisecondsSinceEpoch: 0)
        )
    }
}

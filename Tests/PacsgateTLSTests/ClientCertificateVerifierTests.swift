import Foundation
import NIOSSL
import PacsgateCore
import PacsgateTestSupport
import Testing
import X509

@testable import PacsgateTLS

/// Client certificate verification (`client_auth`, `client_ca_file`, `crl_file`) with certificates from `openssl ca`:
/// every refusal with the words the audit record carries.
@Suite("Client certificate verifier", .timeLimit(.minutes(3)))
struct ClientCertificateVerifierTests {
    struct Site {
        let ca: TestCA
        let other: TestCA
        let modality: TestCA.Pair
        let directory: String

        func verifier(crl: String? = nil, now: WallClock.Instant = WallClock.now()) throws -> ClientCertificateVerifier {
            let lists = try crl.map { try CertificateRevocationList.load(contents: Array(try Data(contentsOf: URL(fileURLWithPath: $0)))) }
            return ClientCertificateVerifier(
                authorities: [try CertificateRevocationListTests.certificate(self.ca.certificate)],
                revocationLists: lists,
                now: { now }
            )
        }
    }

    static func site(in directory: String) async throws -> Site {
        let ca = try await TestCA.make("Test Hospital CA", in: directory)
        let other = try await TestCA.make("Other CA", in: directory)
        let modality = try await ca.issue(
            "ct1", commonName: "ct1.hospital.example", alternativeNames: ["DNS:ct1.hospital.example", "IP:10.1.2.3"], usage: .client)
        return Site(ca: ca, other: other, modality: modality, directory: directory)
    }

    static func chain(_ path: String) throws -> [NIOSSLCertificate] {
        try NIOSSLCertificate.fromPEMFile(path)
    }

    @Test("a certificate of the CA is trusted, with its identity as openssl prints it")
    func trusted() async throws {
        try await withScratch { directory in
            let site = try await Self.site(in: directory)
            let outcome = try await site.verifier().verify(try Self.chain(site.modality.certificate))
            guard case .trusted(let identity) = outcome else {
                Issue.record("refused: \(outcome)")
                return
            }
            #expect(identity.subject == "O=Radiology,CN=ct1.hospital.example")
            #expect(identity.issuer == "CN=Test Hospital CA")
            #expect(identity.subjectAlternativeNames.map(\.description) == ["DNS:ct1.hospital.example", "IP:10.1.2.3"])
            #expect(identity.sha256Fingerprint == (try await TestCA.fingerprint(site.modality.certificate)))
            #expect(identity.serialNumber == "1000")
        }
    }

    @Test("refusals: another CA, expired, not yet valid, server-only usage, revoked, no CRL for the issuer, stale CRL")
    func refusals() async throws {
        try await withScratch { directory in
            let site = try await Self.site(in: directory)
            let rogue = try await site.other.issue(
                "rogue", commonName: "ct1.hospital.example", alternativeNames: ["DNS:ct1.hospital.example"])
            let expired = try await site.ca.issue(
                "old", commonName: "old.hospital.example", alternativeNames: ["DNS:old.hospital.example"],
                notBefore: "20200101000000Z", notAfter: "20200102000000Z")
            let future = try await site.ca.issue(
                "future", commonName: "new.hospital.example", alternativeNames: ["DNS:new.hospital.example"],
                notBefore: "20990101000000Z", notAfter: "20990102000000Z")
            let serverOnly = try await site.ca.issue(
                "server", commonName: "node.hospital.example", alternativeNames: ["DNS:node.hospital.example"], usage: .server)
            let stolen = try await site.ca.issue(
                "stolen", commonName: "ct9.hospital.example", alternativeNames: ["DNS:ct9.hospital.example"])
            let before = String(WallClock.now().iso8601.prefix(10))
            try await site.ca.revoke(stolen.certificate)
            let today = String(WallClock.now().iso8601.prefix(10))
            let crl = try await site.ca.crl(hours: 1)
            let otherCRL = try await site.other.crl()
            let now = WallClock.now()
            let later = WallClock.Instant(millisecondsSinceEpoch: now.millisecondsSinceEpoch + 2 * 3_600_000)
            let due = try #require(
                try CertificateRevocationList.load(contents: Array(try Data(contentsOf: URL(fileURLWithPath: crl)))).first?.nextUpdate
            )

            let cases: [(ClientCertificateVerifier, String, String)] = [
                (try site.verifier(), rogue.certificate, "certificate not issued by a CA of client_ca_file (issuer CN=Other CA)"),
                (try site.verifier(), expired.certificate, "certificate expired on 2020-01-02"),
                (try site.verifier(), future.certificate, "certificate not valid before 2099-01-01"),
                (
                    try site.verifier(), serverOnly.certificate,
                    "certificate is not for TLS client authentication (extendedKeyUsage: serverAuth)"
                ),
                (
                    try site.verifier(crl: crl), stolen.certificate,
                    "certificate revoked on \(today) (CRL from CN=Test Hospital CA)"
                ),
                (
                    try site.verifier(crl: otherCRL), site.modality.certificate,
                    "no CRL from CN=Test Hospital CA in crl_file to check the certificate against"
                ),
                (
                    try site.verifier(crl: crl, now: later), site.modality.certificate,
                    "the CRL from CN=Test Hospital CA in crl_file is out of date (next update was due \(due.iso8601.prefix(10)))"
                ),
            ]
            for (verifier, certificate, reason) in cases {
                let outcome = await verifier.verify(try Self.chain(certificate))
                guard case .refused(let words, let identity) = outcome else {
                    Issue.record("\(certificate) was trusted; expected: \(reason)")
                    continue
                }
                // The revocation date is the day openssl revoked it (either side of a midnight the test straddled).
                let alternative = reason.replacingOccurrences(of: "revoked on \(today)", with: "revoked on \(before)")
                #expect(words == reason || words == alternative, "\(words)")
                #expect(identity != nil, "the refused certificate is still named in the record")
            }
            // The same CRL lets the certificates it does not revoke through.
            let fine = try await site.verifier(crl: crl).verify(try Self.chain(site.modality.certificate))
            if case .refused(let words, _) = fine { Issue.record("refused: \(words)") }
        }
    }

    @Test("an unparsable chain is refused without an identity")
    func unparsable() async {
        let verifier = ClientCertificateVerifier(authorities: [], revocationLists: nil)
        #expect(await verifier.verify([]) == .refused("the client presented no certificate", nil))
    }
}

import NIOSSL
import PacsgateCore
import SwiftASN1
import X509

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Verifies the certificate chain a TLS client presents (`client_auth: required | optional`): it must chain to a CA
/// of `client_ca_file`, be within its validity period (every certificate of the chain), allow TLS client
/// authentication (extendedKeyUsage, when present), and — with `crl_file` — not be revoked by its issuer's CRL.
///
/// Runs as NIOSSL's custom verification callback, so the handshake fails (the client gets a fatal alert and nothing
/// reaches the inspector) when it refuses. Chain building and the RFC 5280 checks are swift-certificates'; this type
/// adds the client-authentication, revocation and wording rules, and keeps what it learnt about the presented
/// certificate for the audit record either way.
struct ClientCertificateVerifier: Sendable {
    /// The CAs of `client_ca_file`: roots, and intermediates the operator chose to trust directly.
    let authorities: [Certificate]
    /// The lists of `crl_file`; `nil` without one (no revocation checking).
    let revocationLists: [CertificateRevocationList]?
    /// The current time (injected by tests).
    let now: @Sendable () -> WallClock.Instant

    init(
        authorities: [Certificate],
        revocationLists: [CertificateRevocationList]?,
        now: @escaping @Sendable () -> WallClock.Instant = WallClock.now
    ) {
        self.authorities = authorities
        self.revocationLists = revocationLists
        self.now = now
    }

    /// What verification decided.
    enum Outcome: Sendable, Equatable {
        case trusted(PeerCertificate)
        /// Refused, with the reason in operator words and the presented leaf when it could be read.
        case refused(String, PeerCertificate?)
    }

    /// Verifies `presented` (leaf first, as the client sent it).
    func verify(_ presented: [NIOSSLCertificate]) async -> Outcome {
        var parsed: [(Certificate, [UInt8])] = []
        for certificate in presented {
            guard let der = try? certificate.toDERBytes(), let value = try? Certificate(derEncoded: der) else {
                return .refused("the client certificate chain cannot be parsed", nil)
            }
            parsed.append((value, der))
        }
        guard let (leaf, der) = parsed.first else { return .refused("the client presented no certificate", nil) }
        return await self.verify(leaf: leaf, der: der, intermediates: parsed.dropFirst().map(\.0))
    }

    /// Verifies a parsed chain.
    func verify(leaf: Certificate, der: [UInt8], intermediates: [Certificate]) async -> Outcome {
        let identity = PeerCertificateReader.identity(of: leaf, der: der)
        let now = self.now()
        var verifier = Verifier(rootCertificates: CertificateStore(self.authorities)) {
            ClientAuthenticationPolicy(revocationLists: self.revocationLists, now: now)
            RFC5280Policy()
        }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(intermediates)) {
        case .validCertificate:
            return .trusted(identity)
        case .couldNotValidate(let failures):
            if let first = failures.first {
                return .refused(first.policyFailureReason.description, identity)
            }
            return .refused(
                "certificate not issued by a CA of client_ca_file (issuer \(leaf.issuer.description))",
                identity
            )
        }
    }
}

/// The rules a client certificate chain must meet beyond RFC 5280's basic checks, with short reasons for the audit
/// record. It runs before ``RFC5280Policy`` so its words (`certificate expired on 2026-01-01`) are the ones reported.
struct ClientAuthenticationPolicy: VerifierPolicy {
    let revocationLists: [CertificateRevocationList]?
    let now: WallClock.Instant

    /// extendedKeyUsage is enforced here; subjectAltName is read for the identity and `certificate:` bindings.
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [
        .X509ExtensionID.extendedKeyUsage, .X509ExtensionID.subjectAlternativeName,
    ]

    mutating func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        let certificates = Array(chain)
        for (index, certificate) in certificates.enumerated() {
            let what = index == 0 ? "certificate" : "issuing CA certificate \(certificate.subject.description)"
            if let reason = self.validity(certificate, what: what) { return .failsToMeetPolicy(reason: reason) }
        }
        if let usage = try? certificates[0].extensions.extendedKeyUsage,
            !usage.contains(.clientAuth), !usage.contains(.any)
        {
            let listed = usage.map { "\($0)" }.joined(separator: ", ")
            return .failsToMeetPolicy(
                reason: "certificate is not for TLS client authentication (extendedKeyUsage: \(listed))"
            )
        }
        if let lists = self.revocationLists {
            // Every certificate but the trust anchor is checked against its issuer's list; the leaf's list is
            // required (a missing one fails, as OpenSSL's CRL check does), an intermediate's only if present.
            for (index, certificate) in certificates.enumerated().dropLast() {
                let what = index == 0 ? "certificate" : "issuing CA certificate \(certificate.subject.description)"
                let issued = lists.filter { $0.issuer == certificate.issuer }
                guard !issued.isEmpty else {
                    if index == 0 {
                        return .failsToMeetPolicy(
                            reason:
                                "no CRL from \(certificate.issuer.description) in crl_file to check the certificate against"
                        )
                    }
                    continue
                }
                for list in issued {
                    if let due = list.nextUpdate, due < self.now {
                        return .failsToMeetPolicy(
                            reason:
                                "the CRL from \(certificate.issuer.description) in crl_file is out of date (next update was due \(Self.day(due)))"
                        )
                    }
                    if let revoked = list.revocation(of: certificate.serialNumber) {
                        return .failsToMeetPolicy(
                            reason:
                                "\(what) revoked on \(Self.day(revoked)) (CRL from \(certificate.issuer.description))"
                        )
                    }
                }
            }
        }
        return .meetsPolicy
    }

    private func validity(_ certificate: Certificate, what: String) -> String? {
        let notBefore = WallClock.Instant(date: certificate.notValidBefore)
        let notAfter = WallClock.Instant(date: certificate.notValidAfter)
        if notAfter < self.now { return "\(what) expired on \(Self.day(notAfter))" }
        if self.now < notBefore { return "\(what) not valid before \(Self.day(notBefore))" }
        return nil
    }

    /// `2026-01-01` (the audit record's time fields carry the full instant; a reason needs the day).
    static func day(_ instant: WallClock.Instant) -> String {
        String(instant.iso8601.prefix(10))
    }
}

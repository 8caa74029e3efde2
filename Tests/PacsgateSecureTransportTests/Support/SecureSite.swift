import Foundation
import PacsgateTestSupport

/// Runs `body` with a fresh ``TestScope`` of the secure-transport tests and always tears it down.
func withSecureScope<T: Sendable>(_ body: (TestScope) async throws -> T) async throws -> T {
    try await withTestScope(
        directoryPrefix: "pacsgate-secure",
        missingPeerAdvice: "the secure-transport tests need real peers "
            + "(apt-get install dcmtk openssl; pip install pydicom pynetdicom==3.0.4 hl7)",
        body
    )
}

/// The certificates of one test, made with openssl as docs/dicom.md's "Secure transport" section tells an operator
/// to: a hospital CA issuing the gateway's certificate, the modalities' and the Mach7 node's; a revoked modality
/// with the CA's CRL; an expired one; and a second CA with a look-alike of a modality's certificate.
struct SecureSite: Sendable {
    let ca: TestCA
    let gateway: TestCA.Pair
    /// `CT_SCANNER1`'s certificate: SAN `ct1.hospital.example`.
    let ct1: TestCA.Pair
    /// Another modality: SAN `mr1.hospital.example`.
    let mr1: TestCA.Pair
    /// The Mach7 node's certificate (server and client use): SAN `mach7-node1`, `127.0.0.1`.
    let node: TestCA.Pair
    let expired: TestCA.Pair
    let revoked: TestCA.Pair
    /// The CA's CRL, revoking ``revoked``.
    let crl: String
    let otherCA: TestCA
    /// Issued by ``otherCA`` with `ct1`'s names.
    let rogue: TestCA.Pair

    static func make(in scope: TestScope) async throws -> SecureSite {
        let directory = try scope.makeDirectory("pki")
        let ca = try await TestCA.make("Test Hospital CA", in: directory)
        let gateway = try await ca.issue(
            "gateway", commonName: "pacsgate.test", alternativeNames: ["DNS:pacsgate.test", "IP:127.0.0.1"])
        let ct1 = try await ca.issue(
            "ct1", commonName: "ct1.hospital.example", alternativeNames: ["DNS:ct1.hospital.example"], usage: .client)
        let mr1 = try await ca.issue(
            "mr1", commonName: "mr1.hospital.example", alternativeNames: ["DNS:mr1.hospital.example"], usage: .client)
        let node = try await ca.issue(
            "node1", commonName: "mach7-node1", alternativeNames: ["DNS:mach7-node1", "IP:127.0.0.1"])
        let expired = try await ca.issue(
            "expired", commonName: "ct-old.hospital.example", alternativeNames: ["DNS:ct-old.hospital.example"],
            usage: .client, notBefore: "20200101000000Z", notAfter: "20200102000000Z")
        let revoked = try await ca.issue(
            "revoked", commonName: "ct-stolen.hospital.example", alternativeNames: ["DNS:ct-stolen.hospital.example"],
            usage: .client)
        try await ca.revoke(revoked.certificate)
        let crl = try await ca.crl()
        let otherCA = try await TestCA.make("Other CA", in: directory)
        let rogue = try await otherCA.issue(
            "rogue", commonName: "ct1.hospital.example", alternativeNames: ["DNS:ct1.hospital.example"], usage: .client)
        return SecureSite(
            ca: ca, gateway: gateway, ct1: ct1, mr1: mr1, node: node, expired: expired, revoked: revoked, crl: crl,
            otherCA: otherCA, rogue: rogue)
    }

    /// A service's `tls:` block: the gateway's certificate, client authentication against the CA, the CRL.
    func tlsBlock(clientAuth: String = "required", crl: Bool = true) -> String {
        var lines = [
            "    tls:",
            "      certificate: \(self.gateway.certificate)",
            "      key: \(self.gateway.key)",
            "      client_auth: \(clientAuth)",
        ]
        if clientAuth != "none" { lines.append("      client_ca_file: \(self.ca.certificate)") }
        if crl, clientAuth != "none" { lines.append("      crl_file: \(self.crl)") }
        return lines.joined(separator: "\n")
    }

    /// A server entry re-encrypted to `port`, verified against the CA and named `mach7-node1`.
    func reencrypted(_ label: String, port: Int) -> String {
        "{ label: \(label), address: \"127.0.0.1:\(port)\", reencrypt: true, ca_file: \(self.ca.certificate), server_name: mach7-node1 }"
    }

    /// dcmtk's TLS options for a client presenting `pair` and trusting the hospital CA (`+tla` without a pair).
    func dcmtkClient(_ pair: TestCA.Pair?) -> [String] {
        (pair.map { ["+tls", $0.key, $0.certificate] } ?? ["+tla"]) + ["+cf", self.ca.certificate]
    }
}

/// A `services:` list item for YAML.
func serviceYAML(
    _ label: String,
    protocol name: String,
    lines: [String] = [],
    servers: [String]
) -> String {
    var text = [
        "  - label: \(label)",
        // Replaced by a free port when the gateway starts; distinct only so the configuration is valid.
        "    listen: \"127.0.0.1:\(label.utf8.reduce(7) { ($0 &* 31 &+ Int($1)) % 60_000 } + 1)\"",
        "    protocol: \(name)",
        "    connect_timeout: 5s",
    ]
    text += lines
    text.append("    servers:")
    text += servers.map { "      - \($0)" }
    return text.joined(separator: "\n")
}

import Crypto
import Foundation
import PacsgateCore
import SwiftASN1
public import Logging
import X509

/// What the admin server needs before it starts: a user when none is configured, and a certificate when it speaks
/// HTTPS without one configured. Generated once and kept in the state directory, so restarts keep them.
public enum AdminCredentials {
    /// The user generated when the configuration names none.
    public struct GeneratedUser: Sendable {
        public var name: String
        /// The password in clear — only when it was created just now (it is printed once, never stored).
        public var newPassword: String?
        /// Where its hash is kept; `nil` when there is no state directory (a new password every start).
        public var file: String?
    }

    /// Adds a generated `admin` user when the configuration has no users and no tokens.
    ///
    /// The hash lives in `STATE_DIR/admin-user` (mode 0600); the password is returned only when it was just created.
    public static func ensureUser(
        _ configuration: AdminConfiguration, stateDirectory: String?
    ) throws -> (AdminConfiguration, GeneratedUser?) {
        guard configuration.users.isEmpty, configuration.tokens.isEmpty else { return (configuration, nil) }
        var updated = configuration
        let name = "admin"
        let file = stateDirectory.map { URL(fileURLWithPath: $0).appendingPathComponent("admin-user").path }
        if let file, let text = try? String(contentsOfFile: file, encoding: .utf8) {
            let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":", maxSplits: 1).map(String.init)
            if parts.count == 2, AdminUser.isValidName(parts[0]), PasswordHasher.isWellFormedHash(parts[1]) {
                updated.users = [AdminUser(name: parts[0], passwordHash: parts[1])]
                return (updated, GeneratedUser(name: parts[0], newPassword: nil, file: file))
            }
        }
        let password = Base64URL.random(bytes: 15)
        let hash = try PasswordHasher.hash(password)
        if let file, let stateDirectory {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            try PrivateFile.write(Array("\(name):\(hash)\n".utf8), to: file)
        }
        updated.users = [AdminUser(name: name, passwordHash: hash)]
        return (updated, GeneratedUser(name: name, newPassword: password, file: file))
    }

    /// PEM certificate chain and key for the admin server.
    public struct TLSMaterial: Sendable {
        public var certificatePEM: String
        public var keyPEM: String
        /// Where they came from, for the log.
        public var origin: String

        public init(certificatePEM: String, keyPEM: String, origin: String) {
            self.certificatePEM = certificatePEM
            self.keyPEM = keyPEM
            self.origin = origin
        }
    }

    /// The configured certificate and key, or a self-signed pair from `STATE_DIR/admin-cert.pem` and
    /// `admin-key.pem`, generated on first use.
    public static func tlsMaterial(
        _ configuration: AdminConfiguration, stateDirectory: String?, logger: Logger
    ) throws -> TLSMaterial {
        if let certificate = configuration.certificatePath, let key = configuration.keyPath {
            return TLSMaterial(
                certificatePEM: try String(contentsOfFile: certificate, encoding: .utf8),
                keyPEM: try String(contentsOfFile: key, encoding: .utf8), origin: certificate)
        }
        let certificateFile = stateDirectory.map { URL(fileURLWithPath: $0).appendingPathComponent("admin-cert.pem").path }
        let keyFile = stateDirectory.map { URL(fileURLWithPath: $0).appendingPathComponent("admin-key.pem").path }
        if let certificateFile, let keyFile, let certificate = try? String(contentsOfFile: certificateFile, encoding: .utf8),
            let key = try? String(contentsOfFile: keyFile, encoding: .utf8)
        {
            return TLSMaterial(certificatePEM: certificate, keyPEM: key, origin: certificateFile)
        }
        let generated = try Self.selfSigned(for: configuration.listen.host)
        if let certificateFile, let keyFile, let stateDirectory {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            try PrivateFile.write(Array(generated.keyPEM.utf8), to: keyFile)
            try PrivateFile.write(Array(generated.certificatePEM.utf8), to: certificateFile, mode: 0o644)
            logger.notice(
                "admin: generated a self-signed certificate; configure admin.certificate and admin.key to use your own",
                metadata: ["admin.certificate": "\(certificateFile)", "sha256": "\(generated.origin)"])
            return TLSMaterial(certificatePEM: generated.certificatePEM, keyPEM: generated.keyPEM, origin: certificateFile)
        }
        logger.warning("admin: no state_dir; using a self-signed certificate that changes at every start")
        return generated
    }

    /// A new self-signed P-256 certificate for `host`, `localhost` and 127.0.0.1, valid for 825 days.
    /// `origin` holds the certificate's SHA-256 fingerprint.
    static func selfSigned(for host: String) throws -> TLSMaterial {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            CommonName("pacsgate admin")
            OrganizationName("pacsgate")
        }
        var names: [GeneralName] = [.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))]
        if let ipv4 = Self.ipv4Bytes(host), ipv4 != [127, 0, 0, 1] {
            names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(ipv4))))
        } else if Self.ipv4Bytes(host) == nil, host != "localhost", !host.contains(":") {
            names.append(.dnsName(host))
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(825 * 86_400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                // Its own trust anchor (as `openssl req -x509` makes them): BoringSSL and browsers accept a
                // self-signed certificate pinned by the client only when it may sign certificates, so it says so,
                // with a path length of zero so it cannot vouch for anything else.
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(key))
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        let fingerprint = SHA256.hash(data: serializer.serializedBytes).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
        return TLSMaterial(
            certificatePEM: try certificate.serializeAsPEM().pemString, keyPEM: key.pemRepresentation, origin: fingerprint)
    }

    private static func ipv4Bytes(_ host: String) -> [UInt8]? {
        let parts = host.split(separator: ".")
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { UInt8($0) }
        return bytes.count == 4 ? bytes : nil
    }
}

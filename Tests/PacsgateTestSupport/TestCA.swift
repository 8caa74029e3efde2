import Foundation

/// A test certificate authority made with the openssl CLI (`openssl ca`, so it can issue certificates with chosen
/// validity dates, revoke them and publish a CRL), in a directory of the test. EC P-256 keys, two days' validity
/// unless a test asks otherwise: nothing here outlives the test, and no key is committed.
///
/// The certificates are what the docs' "Secure transport" sections tell an operator to make: leaves with
/// subjectAltName and extendedKeyUsage, signed by the CA.
package struct TestCA: Sendable {
    /// A certificate and its key (PEM files).
    package struct Pair: Sendable {
        package var certificate: String
        package var key: String

        package init(certificate: String, key: String) {
            self.certificate = certificate
            self.key = key
        }
    }

    /// The CA's own certificate and key.
    package let pair: Pair
    /// Its directory (index, serial, issued certificates).
    package let directory: String
    private let configuration: String

    package var certificate: String { self.pair.certificate }

    /// Makes a CA named `name` (`CN=<name>`) in `directory/<name>/`.
    package static func make(_ name: String, in directory: String) async throws -> TestCA {
        let home = "\(directory)/\(name.replacingOccurrences(of: " ", with: "-"))"
        try FileManager.default.createDirectory(atPath: "\(home)/issued", withIntermediateDirectories: true)
        try "".write(toFile: "\(home)/index.txt", atomically: true, encoding: .utf8)
        try "1000\n".write(toFile: "\(home)/serial", atomically: true, encoding: .utf8)
        try "1000\n".write(toFile: "\(home)/crlnumber", atomically: true, encoding: .utf8)
        let configuration = "\(home)/ca.cnf"
        try Self.configuration(home: home).write(toFile: configuration, atomically: true, encoding: .utf8)
        let pair = Pair(certificate: "\(home)/ca.crt", key: "\(home)/ca.key")
        try await Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=\(name)", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", pair.key, "-out", pair.certificate,
        ])
        return TestCA(pair: pair, directory: home, configuration: configuration)
    }

    /// What a leaf certificate may be used for (its extendedKeyUsage).
    package enum Usage: String, Sendable {
        case server = "serverAuth"
        case client = "clientAuth"
        case both = "serverAuth,clientAuth"
    }

    /// Issues a leaf: subject `CN=<commonName>,O=Radiology`, the given subjectAltName entries (`DNS:…`, `IP:…`),
    /// valid from `notBefore` to `notAfter` (`YYYYMMDDHHMMSSZ`; default now for two days).
    package func issue(
        _ name: String,
        commonName: String,
        alternativeNames: [String],
        usage: Usage = .both,
        notBefore: String? = nil,
        notAfter: String? = nil
    ) async throws -> Pair {
        let pair = Pair(certificate: "\(self.directory)/\(name).crt", key: "\(self.directory)/\(name).key")
        let request = "\(self.directory)/\(name).csr"
        try await Self.openssl([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=\(commonName)/O=Radiology", "-addext", "subjectAltName=\(alternativeNames.joined(separator: ","))",
            "-keyout", pair.key, "-out", request,
        ])
        var arguments = [
            "ca", "-batch", "-config", self.configuration, "-extensions", usage == .server ? "server" : usage == .client ? "client" : "both",
            "-in", request, "-out", pair.certificate,
        ]
        if let notBefore { arguments += ["-startdate", notBefore] }
        if let notAfter { arguments += ["-enddate", notAfter] }
        try await Self.openssl(arguments)
        return pair
    }

    /// Revokes a certificate this CA issued.
    package func revoke(_ certificate: String) async throws {
        try await Self.openssl(["ca", "-config", self.configuration, "-revoke", certificate])
    }

    /// Publishes the CRL (PEM, or DER with `der`), due for renewal in `hours`.
    package func crl(named name: String = "ca.crl", hours: Int = 48, der: Bool = false) async throws -> String {
        let pem = "\(self.directory)/\(name).pem"
        try await Self.openssl(["ca", "-config", self.configuration, "-gencrl", "-crlhours", String(hours), "-out", pem])
        guard der else { return pem }
        let path = "\(self.directory)/\(name)"
        try await Self.openssl(["crl", "-in", pem, "-outform", "DER", "-out", path])
        return path
    }

    /// `openssl x509 -noout -fingerprint -sha256` of a certificate: `AB:CD:…`.
    package static func fingerprint(_ certificate: String) async throws -> String {
        let output = try await Self.openssl(["x509", "-noout", "-fingerprint", "-sha256", "-in", certificate])
        guard let equals = output.firstIndex(of: "=") else { throw Peers.Missing(description: "no fingerprint: \(output)") }
        return output[output.index(after: equals)...].trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @discardableResult
    package static func openssl(_ arguments: [String]) async throws -> String {
        let result = try await ToolRunner.run("/usr/bin/openssl", arguments)
        guard result.status == 0 else {
            throw Peers.Missing(description: "openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(result.standardError)")
        }
        return result.standardOutput
    }

    private static func configuration(home: String) -> String {
        """
        [ ca ]
        default_ca = test
        [ test ]
        dir = \(home)
        database = $dir/index.txt
        new_certs_dir = $dir/issued
        serial = $dir/serial
        crlnumber = $dir/crlnumber
        certificate = $dir/ca.crt
        private_key = $dir/ca.key
        default_md = sha256
        default_days = 2
        default_crl_days = 2
        policy = any
        copy_extensions = copy
        unique_subject = no
        [ any ]
        commonName = supplied
        organizationName = optional
        [ server ]
        basicConstraints = CA:FALSE
        keyUsage = critical,digitalSignature
        extendedKeyUsage = serverAuth
        [ client ]
        basicConstraints = CA:FALSE
        keyUsage = critical,digitalSignature
        extendedKeyUsage = clientAuth
        [ both ]
        basicConstraints = CA:FALSE
        keyUsage = critical,digitalSignature
        extendedKeyUsage = serverAuth,clientAuth

        """
    }
}

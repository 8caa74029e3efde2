import Foundation

/// Certificates made with the openssl CLI for one test: a test CA, certificates it signs, self-signed ones.
struct TestPKI {
    struct Pair: Sendable {
        var certificate: String
        var key: String
    }

    let environment: TestEnvironment

    /// A self-signed server certificate (P-256) for `dnsNames` (the first is the common name).
    func selfSigned(_ name: String, dnsNames: [String]) async throws -> Pair {
        let pair = Pair(certificate: self.environment.path("\(name).crt"), key: self.environment.path("\(name).key"))
        let san = dnsNames.map { "DNS:\($0)" }.joined(separator: ",")
        try await self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=\(dnsNames[0])", "-addext", "subjectAltName=\(san)", "-keyout", pair.key, "-out",
            pair.certificate,
        ])
        return pair
    }

    /// A certificate authority.
    func certificateAuthority(_ name: String) async throws -> Pair {
        let pair = Pair(certificate: self.environment.path("\(name).crt"), key: self.environment.path("\(name).key"))
        try await self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=\(name) test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
            "keyUsage=critical,keyCertSign,cRLSign", "-keyout", pair.key, "-out", pair.certificate,
        ])
        return pair
    }

    /// A server certificate signed by `ca` for `dnsNames` and `ipAddresses`.
    func issue(_ name: String, by ca: Pair, dnsNames: [String], ipAddresses: [String] = []) async throws -> Pair {
        let pair = Pair(certificate: self.environment.path("\(name).crt"), key: self.environment.path("\(name).key"))
        let request = self.environment.path("\(name).csr")
        try await self.openssl([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
            "/CN=\(dnsNames[0])", "-keyout", pair.key, "-out", request,
        ])
        let san = (dnsNames.map { "DNS:\($0)" } + ipAddresses.map { "IP:\($0)" }).joined(separator: ",")
        let extensions = try self.environment.write(
            "\(name).ext",
            "subjectAltName=\(san)\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
        )
        try await self.openssl([
            "x509", "-req", "-in", request, "-CA", ca.certificate, "-CAkey", ca.key, "-CAcreateserial", "-days", "2",
            "-extfile", extensions, "-out", pair.certificate,
        ])
        return pair
    }

    private func openssl(_ arguments: [String]) async throws {
        let output = try await self.environment.run(.openssl, arguments)
        guard output.status == 0 else { throw TestFailure("openssl failed:\n\(output.summary)") }
    }
}

/// An `openssl s_server -WWW` on loopback serving `id.txt` (its label) from its own directory.
struct OpenSSLServer: Sendable {
    let label: String
    let port: Int
    let process: BackgroundProcess

    /// The `servers:` entry for a YAML configuration.
    func yaml(_ extra: String = "") -> String {
        "{ label: \(self.label), address: \"127.0.0.1:\(self.port)\"\(extra.isEmpty ? "" : ", " + extra) }"
    }

    /// The number of connections it accepted that completed a handshake (s_server prints one `ACCEPT` at start and
    /// nothing per connection with -quiet, so the log of served requests is used).
    var servedRequests: Int {
        self.process.output.components(separatedBy: "FILE:").count - 1
    }
}

extension TestEnvironment {
    /// Starts `openssl s_server -WWW` with `pair`, offering `alpn`; `GET /id.txt` answers `label`.
    func startOpenSSLServer(
        label: String,
        pair: TestPKI.Pair,
        alpn: String = "h2,http/1.1"
    ) async throws
        -> OpenSSLServer
    {
        let root = self.path("www-\(label)")
        try self.write("www-\(label)/id.txt", "\(label)\n")
        let process = try self.launch(
            .openssl,
            ["s_server", "-accept", "127.0.0.1:0", "-cert", pair.certificate, "-key", pair.key, "-WWW", "-alpn", alpn],
            in: root,
            logName: "s_server-\(label)"
        )
        let output = try await process.waitForOutput(containing: "ACCEPT")
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("ACCEPT") }),
            let colon = line.lastIndex(of: ":"), let port = Int(line[line.index(after: colon)...])
        else {
            throw TestFailure("cannot read the port of openssl s_server from:\n\(output)")
        }
        return OpenSSLServer(label: label, port: port, process: process)
    }
}

public import NIOSSL
import PacsgateCore
import X509

/// The certificates a terminating service presents, chosen by the client's SNI.
///
/// Loaded (and each key checked against its certificate) when the configuration is read, so a bad file is reported
/// by `check-config` with its line, and a reload (SIGHUP) picks up renewed files for new connections while open ones
/// keep the certificate they were handed.
public struct TLSCertificateSet: Sendable {
    /// One certificate chain and its key.
    public struct Entry: Sendable {
        /// The leaf first, then intermediates, as in the PEM file.
        public var chain: [NIOSSLCertificate]
        public var key: NIOSSLPrivateKey
        /// The names it is chosen for: `server_names` if given, else the leaf's DNS names.
        public var serverNames: [String]
        /// The leaf's expiry, seconds since the epoch.
        public var notValidAfter: Int
        /// The leaf's subject (RFC 4514), for the overview.
        public var subject: String

        public init(
            chain: [NIOSSLCertificate], key: NIOSSLPrivateKey, serverNames: [String], notValidAfter: Int,
            subject: String = ""
        ) {
            self.chain = chain
            self.key = key
            self.serverNames = serverNames
            self.notValidAfter = notValidAfter
            self.subject = subject
        }

        /// The leaf as the overview and metrics show it.
        var status: TransportSecurityStatus.Certificate {
            TransportSecurityStatus.Certificate(
                subject: self.subject,
                notValidAfter: WallClock.Instant(millisecondsSinceEpoch: Int64(self.notValidAfter) * 1000)
            )
        }
    }

    /// The certificates; the first is the default (no SNI, or a name no certificate covers).
    public let entries: [Entry]
    private let table: SNIRouteTable<Int>

    /// Builds the set; `nil` when `entries` is empty. Names claimed by an earlier certificate stay with it.
    public init?(_ entries: [Entry]) {
        guard !entries.isEmpty else { return nil }
        self.entries = entries
        self.table = Self.nameTable(entries)
    }

    /// Name → entry index. A name claimed by an earlier certificate stays with it; a name that is not a valid host
    /// name or wildcard (validated when the configuration is read) is left out.
    private static func nameTable(_ entries: [Entry]) -> SNIRouteTable<Int> {
        var seen: Set<String> = []
        var routes: [(pattern: String, route: Int)] = []
        for (index, entry) in entries.enumerated() {
            for name in entry.serverNames where Self.isValidPattern(name) {
                let key = name.lowercased().hasSuffix(".") ? String(name.lowercased().dropLast()) : name.lowercased()
                if seen.insert(key).inserted { routes.append((pattern: key, route: index)) }
            }
        }
        return (try? SNIRouteTable(routes)) ?? SNIRouteTable()
    }

    /// Whether `name` is acceptable as an SNI pattern (`host.example.org` or `*.example.org`).
    static func isValidPattern(_ name: String) -> Bool {
        (try? SNIRouteTable([(pattern: name, route: 0)])) != nil
    }

    /// The certificate for `serverName` (the default when it is `nil` or unknown).
    public func entry(for serverName: String?) -> Entry {
        guard let serverName, let name = try? ServerName(serverName), let index = self.table.route(for: name) else {
            return self.entries[0]
        }
        return self.entries[index]
    }

    /// The server-side TLS configuration: TLS 1.2 minimum, ECDHE with AEAD ciphers only, the default certificate,
    /// and the others chosen by SNI during the handshake.
    func serverConfiguration(applicationProtocols: [String]) -> TLSConfiguration {
        let first = self.entries[0]
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: first.chain.map { .certificate($0) },
            privateKey: .privateKey(first.key)
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuites = TLSDefaults.cipherSuites
        configuration.applicationProtocols = applicationProtocols
        if self.entries.count > 1 {
            let set = self
            configuration.sslContextCallback = { values, promise in
                let entry = set.entry(for: values.serverHostname)
                var override = NIOSSLContextConfigurationOverride()
                override.certificateChain = entry.chain.map { .certificate($0) }
                override.privateKey = .privateKey(entry.key)
                promise.succeed(override)
            }
        }
        return configuration
    }

    /// Loads a chain and key from PEM files and checks they belong together.
    ///
    /// - Parameter serverNames: explicit names; `nil` takes the leaf's DNS names (or its common name if it has none).
    /// - Throws: ``TLSCertificateError`` naming the file and what is wrong.
    public static func load(
        certificate: String,
        key: String,
        serverNames: [String]?
    ) throws(TLSCertificateError)
        -> Entry
    {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificate)
        } catch {
            throw TLSCertificateError(file: certificate, problem: "cannot read a PEM certificate (\(error))")
        }
        guard let leaf = chain.first else {
            throw TLSCertificateError(file: certificate, problem: "holds no certificate")
        }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw TLSCertificateError(file: key, problem: "cannot read a PEM private key (\(error))")
        }
        var check = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(privateKey)
        )
        check.minimumTLSVersion = .tlsv12
        do {
            _ = try NIOSSLContext(configuration: check)
        } catch {
            throw TLSCertificateError(file: key, problem: "does not match the certificate in \(certificate) (\(error))")
        }
        let names = serverNames ?? Self.dnsNames(of: leaf)
        return Entry(
            chain: chain,
            key: privateKey,
            serverNames: names,
            notValidAfter: Int(leaf.notValidAfter),
            subject: PeerCertificateReader.identity(of: leaf)?.subject ?? ""
        )
    }

    /// The DNS names of a certificate's subjectAltName, else its common name.
    static func dnsNames(of certificate: NIOSSLCertificate) -> [String] {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else {
            return []
        }
        var names: [String] = []
        if let alternatives = try? parsed.extensions.subjectAlternativeNames {
            for name in alternatives {
                if case .dnsName(let dns) = name { names.append(dns) }
            }
        }
        if names.isEmpty {
            for rdn in parsed.subject {
                for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                    names.append(attribute.value.description)
                }
            }
        }
        return names
    }
}

/// A certificate or key file that cannot be used.
public struct TLSCertificateError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var problem: String

    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }

    public var description: String { "'\(self.file)' \(self.problem)" }
}

/// The project's TLS settings: both legs of the TLS services, and the admin server's HTTPS.
public enum TLSDefaults {
    /// TLS 1.2 suites: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 only (Mozilla "intermediate" without
    /// DHE): no RSA key exchange, no CBC. TLS 1.3 suites are all AEAD and fixed by BoringSSL.
    public static let cipherSuites = "ECDHE+AESGCM:ECDHE+CHACHA20"
}

// TLS as the core and the protocol modules see it: plain values and two small protocols, no TLS library type. The
// TLS module implements them; the DICOM and HL7 modules take a ``SecureTransportProvider`` when they are built (the
// executable hands them the TLS module's), so `tls:` on a `dicom` or `hl7` service terminates TLS in front of their
// inspectors without either module depending on the other.

/// A certificate a TLS peer presented, as audit records report it and `certificate:` bindings match it.
public struct PeerCertificate: Sendable, Hashable, CustomStringConvertible {
    /// The subject distinguished name in RFC 4514 form — the certificate's attribute sequence reversed, as
    /// `openssl x509 -noout -subject -nameopt RFC2253` prints it (`CN=ct1.hospital.example,O=Radiology,C=CH` for a
    /// subject written `/C=CH/O=Radiology/CN=ct1.hospital.example`).
    public var subject: String
    /// The issuer's distinguished name, same form.
    public var issuer: String
    /// The subjectAltName entries, in certificate order.
    public var subjectAlternativeNames: [SubjectAlternativeName]
    /// SHA-256 of the certificate's DER encoding as `openssl x509 -noout -fingerprint -sha256` prints it: 32
    /// upper-case hex pairs separated by colons.
    public var sha256Fingerprint: String
    /// The serial number in hex (upper case, no separators), as `openssl x509 -noout -serial` prints it.
    public var serialNumber: String
    /// The end of the validity period.
    public var notValidAfter: WallClock.Instant

    public init(
        subject: String,
        issuer: String,
        subjectAlternativeNames: [SubjectAlternativeName],
        sha256Fingerprint: String,
        serialNumber: String,
        notValidAfter: WallClock.Instant
    ) {
        self.subject = subject
        self.issuer = issuer
        self.subjectAlternativeNames = subjectAlternativeNames
        self.sha256Fingerprint = sha256Fingerprint
        self.serialNumber = serialNumber
        self.notValidAfter = notValidAfter
    }

    /// `subject (SAN DNS:a, IP:b)` for log lines and refusal reasons.
    public var description: String {
        self.subjectAlternativeNames.isEmpty
            ? self.subject
            : "\(self.subject) (SAN \(self.subjectAlternativeNames.map(\.description).joined(separator: ", ")))"
    }

    /// The `client_certificate` object of audit records: `subject`, `san` (`["DNS:…", "IP:…"]`), `sha256`, `issuer`,
    /// `serial`, `not_after`.
    public var jsonObject: JSONLine {
        var object = JSONLine(capacity: 320)
        object.field("subject", self.subject)
        object.field("san", self.subjectAlternativeNames.map(\.description))
        object.field("sha256", self.sha256Fingerprint)
        object.field("issuer", self.issuer)
        object.field("serial", self.serialNumber)
        object.field("not_after", self.notValidAfter)
        return object
    }
}

/// One subjectAltName entry of a certificate.
public struct SubjectAlternativeName: Sendable, Hashable, CustomStringConvertible {
    /// The entry's type, with OpenSSL's prefix as raw value.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case dns = "DNS"
        case ip = "IP"
        case uri = "URI"
        case email = "email"
    }

    public var kind: Kind
    /// The value as written in the certificate (IP addresses in their usual text form).
    public var value: String

    public init(_ kind: Kind, _ value: String) {
        self.kind = kind
        self.value = value
    }

    /// `DNS:ct1.hospital.example`, `IP:10.1.2.3`: the form of `openssl x509 -ext subjectAltName`.
    public var description: String { "\(self.kind.rawValue):\(self.value)" }
}

/// The client leg's TLS session as the gateway terminated it: one value for everything that reports it (audit
/// records, ATNA messages, and PROXY protocol v2's PP2_TYPE_SSL TLV).
public struct SecureTransportFacts: Sendable, Hashable {
    /// The negotiated protocol version: `TLS1.2`, `TLS1.3`.
    public var version: String
    /// The negotiated cipher suite by its OpenSSL name (`TLS_AES_256_GCM_SHA384`,
    /// `ECDHE-ECDSA-AES128-GCM-SHA256`), `nil` if it could not be read.
    public var cipher: String?
    /// The certificate the client presented and the gateway verified; `nil` without one (`client_auth: optional` or
    /// `none`).
    public var clientCertificate: PeerCertificate?

    public init(version: String, cipher: String?, clientCertificate: PeerCertificate?) {
        self.version = version
        self.cipher = cipher
        self.clientCertificate = clientCertificate
    }
}

/// Whether the gateway asks TLS clients for a certificate (`client_auth:`).
public enum ClientAuthentication: String, Sendable, CaseIterable {
    /// No certificate is requested.
    case none
    /// A certificate is requested; one that is presented must verify, but a client may present none.
    case optional
    /// A verified certificate is required: without one the handshake fails.
    case required
}

/// TLS termination as a protocol module sees it: reads `tls:` and the servers' TLS keys of a service.
public protocol SecureTransportProvider: Sendable {
    /// Keys a server mapping may carry for the leg to that server (`reencrypt`, `verify`, `ca_file`, …).
    var serverKeys: Set<String> { get }

    /// Reads the service's `tls:` mapping (`node`) and its servers' TLS keys from `reader` (the service mapping).
    /// Certificate, key, CA and CRL files are loaded now. Problems go into `reader`; `nil` when termination cannot be
    /// built. Without a `tls:` mapping (`node` is `nil`) it only reports servers' TLS keys as misplaced.
    func makeTermination(
        _ node: ConfigNode?,
        reader: inout MappingReader,
        service: ServiceConfiguration
    ) -> (any SecureTransportTermination)?
}

/// The TLS termination of one service, immutable: a reload builds a new one (re-reading every file), which new
/// connections use while open ones keep theirs.
public protocol SecureTransportTermination: Sendable {
    /// Whether clients are asked for a certificate.
    var clientAuthentication: ClientAuthentication { get }

    /// The inspector of a new connection, with TLS terminated in front of `inspector`: the inspector sees the
    /// plaintext exactly as on a plain service, learns the session through
    /// ``ConnectionInspector/clientTransportSecured(_:)`` before its first byte, and keeps its audit records; a
    /// connection whose handshake fails never reaches it and is audited by the termination.
    func wrap(_ inspector: any ConnectionInspector, context: ConnectionContext) -> any ConnectionInspector

    /// What a health check of the server labelled `server` runs its probe over: TLS with that server's settings when
    /// the service re-encrypts to it, `nil` for plain TCP.
    func probeTransport(forServer server: String) -> (any ProbeTransport)?

    /// The certificates and revocation list in use, for the overview and metrics.
    var status: TransportSecurityStatus { get }
}

/// What the overview and the metrics show of a service's TLS: the gateway's own certificates and the client
/// verification settings.
public struct TransportSecurityStatus: Sendable, Equatable {
    /// One certificate the gateway presents.
    public struct Certificate: Sendable, Equatable {
        public var subject: String
        public var notValidAfter: WallClock.Instant

        public init(subject: String, notValidAfter: WallClock.Instant) {
            self.subject = subject
            self.notValidAfter = notValidAfter
        }
    }

    /// The certificates presented to clients, the default first.
    public var certificates: [Certificate]
    public var clientAuthentication: ClientAuthentication
    /// When the revocation list (`crl_file`) should be replaced by a newer one; `nil` without a CRL or when it
    /// names no next update.
    public var revocationListNextUpdate: WallClock.Instant?

    public init(
        certificates: [Certificate],
        clientAuthentication: ClientAuthentication,
        revocationListNextUpdate: WallClock.Instant? = nil
    ) {
        self.certificates = certificates
        self.clientAuthentication = clientAuthentication
        self.revocationListNextUpdate = revocationListNextUpdate
    }
}

/// A certificate identity an allow-list entry requires (`certificate: { san: … }`, `{ subject: … }` or
/// `{ fingerprint: … }`): an AE title or HL7 sender is accepted only from a TLS client that presented a verified
/// certificate with that identity.
public struct CertificateRequirement: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// A subjectAltName value: `ct1.hospital.example`, or typed as `DNS:…`, `IP:…`, `URI:…`, `email:…`. DNS names
        /// compare without case, the others exactly.
        case subjectAlternativeName(SubjectAlternativeName.Kind?, String)
        /// The subject distinguished name as `openssl x509 -noout -subject -nameopt RFC2253` prints it
        /// (`CN=ct1.hospital.example,O=Radiology`); spaces around `,` `=` `+` and the case of attribute names are
        /// not significant.
        case subject(String)
        /// The SHA-256 fingerprint, 64 hex digits with or without colons, any case.
        case fingerprint(String)
    }

    public var kind: Kind

    public init(_ kind: Kind) {
        self.kind = kind
    }

    /// Whether `certificate` (the verified client certificate, `nil` without one) has this identity.
    public func matches(_ certificate: PeerCertificate?) -> Bool {
        guard let certificate else { return false }
        switch self.kind {
        case .subjectAlternativeName(let type, let value):
            return certificate.subjectAlternativeNames.contains { name in
                guard type == nil || name.kind == type else { return false }
                return name.kind == .dns ? name.value.lowercased() == value.lowercased() : name.value == value
            }
        case .subject(let subject):
            return Self.normalizedSubject(certificate.subject) == Self.normalizedSubject(subject)
        case .fingerprint(let hex):
            return certificate.sha256Fingerprint.filter { $0 != ":" }.uppercased() == hex
        }
    }

    /// `san ct1.hospital.example`, `subject CN=…`, `fingerprint AB:CD:…` for refusal reasons.
    public var description: String {
        switch self.kind {
        case .subjectAlternativeName(let type, let value): "SAN \(type.map { "\($0.rawValue):" } ?? "")\(value)"
        case .subject(let subject): "subject \(subject)"
        case .fingerprint(let hex): "SHA-256 fingerprint \(hex)"
        }
    }

    /// Reads a `certificate:` mapping with exactly one of `san`, `subject`, `fingerprint`; problems go into `reader`.
    public static func read(
        _ node: ConfigNode,
        context: String,
        _ reader: inout MappingReader
    ) -> CertificateRequirement? {
        var entry = MappingReader(node, context: "\(context) certificate")
        let san = entry.string("san")
        let subject = entry.string("subject")
        let fingerprint = entry.string("fingerprint")
        entry.finish()
        reader.absorb(entry)
        guard case .mapping = node.kind else { return nil }  // reported by the nested reader
        let given = [san, subject, fingerprint].compactMap { $0 }
        guard given.count == 1 else {
            reader.problem(
                node.line,
                "\(context): 'certificate' needs exactly one of san, subject, fingerprint (found \(given.count))"
            )
            return nil
        }
        if let san {
            var type: SubjectAlternativeName.Kind?
            var value = Substring(san)
            if let colon = san.firstIndex(of: ":"),
                let kind = SubjectAlternativeName.Kind.allCases.first(where: { $0.rawValue == san[..<colon] })
            {
                type = kind
                value = san[san.index(after: colon)...]
            }
            guard !value.isEmpty, value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                reader.problem(node.line, "\(context): certificate 'san' '\(san)' is not a subjectAltName value")
                return nil
            }
            return CertificateRequirement(.subjectAlternativeName(type, String(value)))
        }
        if let subject {
            guard subject.contains("="), !subject.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
                reader.problem(
                    node.line,
                    "\(context): certificate 'subject' '\(subject)' is not a distinguished name such as CN=ct1.hospital.example,O=Radiology"
                )
                return nil
            }
            return CertificateRequirement(.subject(subject))
        }
        let hex = (fingerprint ?? "").filter { $0 != ":" }.uppercased()
        guard hex.count == 64, hex.allSatisfy({ $0.isHexDigit }) else {
            reader.problem(
                node.line,
                "\(context): certificate 'fingerprint' must be a SHA-256 fingerprint (64 hex digits, colons allowed), as openssl x509 -noout -fingerprint -sha256 prints it"
            )
            return nil
        }
        return CertificateRequirement(.fingerprint(hex))
    }

    /// An allow-list entry's `certificate:` as read by ``readBinding(_:context:clientCertificates:_:)``.
    public enum Binding {
        /// The entry has no `certificate:`.
        case none
        case required(CertificateRequirement)
        /// The binding cannot be used (the problem is recorded): skip the entry.
        case invalid

        /// The requirement the entry carries, if any.
        public var requirement: CertificateRequirement? {
            if case .required(let requirement) = self { return requirement }
            return nil
        }
    }

    /// Reads an allow-list entry's `certificate:` (`node`, `nil` when the entry has none) and checks that the
    /// service's clients can present one (`clientCertificates`: `tls:` with client authentication; `nil` when unknown,
    /// the check is skipped).
    public static func readBinding(
        _ node: ConfigNode?, context: String, clientCertificates: Bool?, _ reader: inout MappingReader
    ) -> Binding {
        guard let node else { return .none }
        guard let requirement = Self.read(node, context: context, &reader) else { return .invalid }
        guard clientCertificates != false else {
            reader.problem(
                node.line,
                "\(context): 'certificate' needs client certificates: add 'tls:' with client_auth: required (or optional) to the service"
            )
            return .invalid
        }
        return .required(requirement)
    }

    /// `cn = ct1 , O=Radiology` → `CN=ct1,O=Radiology`: attribute names upper-cased, spaces around `,` `=` `+`
    /// removed, values kept as written.
    static func normalizedSubject(_ subject: String) -> String {
        var result = ""
        var atName = true
        var pendingSpace = false
        for character in subject {
            switch character {
            case ",", "+":
                result.append(character)
                atName = true
                pendingSpace = false
            case "=" where atName:
                result.append(character)
                atName = false
                pendingSpace = false
            case " ":
                if let last = result.last, !"=,+".contains(last) { pendingSpace = true }
            default:
                if pendingSpace {
                    result.append(" ")
                    pendingSpace = false
                }
                result.append(atName ? Character(character.uppercased()) : character)
            }
        }
        return result
    }
}

/// `tls:` of a service, for a protocol module that takes a ``SecureTransportProvider`` (DICOM, HL7).
public enum SecureTransportSetting {
    /// Reads `tls:` (and the servers' TLS keys) with `provider`.
    ///
    /// - Returns: the service's termination (`nil` without `tls:` or when it cannot be built), and whether its
    ///   clients can present a verified certificate — `false` without `tls:` or with `client_auth: none`, `nil` when
    ///   `tls:` could not be read (its problems are already reported, so checks that depend on it should be skipped).
    public static func read(
        _ reader: inout MappingReader,
        service: ServiceConfiguration,
        provider: (any SecureTransportProvider)?
    ) -> (termination: (any SecureTransportTermination)?, clientCertificates: Bool?) {
        let node = reader.node("tls")
        guard let provider else {
            guard let node else { return (nil, false) }
            reader.problem(
                node.line,
                "service '\(service.label)': 'tls' is not available: this gateway is built without TLS"
            )
            return (nil, nil)
        }
        let termination = provider.makeTermination(node, reader: &reader, service: service)
        guard node != nil else { return (nil, false) }
        guard let termination else { return (nil, nil) }
        return (termination, termination.clientAuthentication != .none)
    }
}

extension AuditRecord {
    /// The TLS fields of an audit record on a terminating service: `tls` (`{"version":…,"cipher":…}`) and
    /// `client_certificate` (``PeerCertificate/jsonObject``, or `null` without one). Nothing on a plain service, so
    /// its records keep their keys.
    public mutating func secureTransportFields(_ facts: SecureTransportFacts?) {
        guard let facts else { return }
        var session = JSONLine(capacity: 64)
        session.field("version", facts.version)
        session.field("cipher", facts.cipher)
        self.field("tls", session)
        if let certificate = facts.clientCertificate {
            self.field("client_certificate", certificate.jsonObject)
        } else {
            self.nullField("client_certificate")
        }
    }
}

public import PacsgateCore

/// `audit.syslog`: where and how the DICOM audit messages go.
///
/// ```yaml
/// audit:
///   path: /var/log/pacsgate/audit.jsonl
///   syslog:
///     address: arr.hospital.example:6514
///     transport: tls            # tls | tcp | udp
///     ca_file: /etc/pacsgate/arr-ca.pem
///     certificate: /etc/pacsgate/pacsgate-audit.pem
///     key: /etc/pacsgate/pacsgate-audit.key
///     site_id: RADIOLOGY
/// ```
public struct SyslogExportConfiguration: Sendable, Equatable {
    public enum Transport: String, Sendable, CaseIterable {
        /// RFC 5425: octet counting over TLS with mutual authentication.
        case tls
        /// Octet counting over plain TCP (labs only).
        case tcp
        /// RFC 5426: one message per datagram, no retransmission (legacy).
        case udp
    }

    /// The repository.
    public var address: Endpoint
    public var transport: Transport
    /// CA bundle the repository's certificate must chain to (TLS).
    public var caFile: String?
    /// The gateway's client certificate chain and key (TLS, mutual authentication).
    public var certificate: String?
    public var key: String?
    /// Name the repository's certificate must carry; default: the address's host when it is a name, else its IP.
    public var serverName: String?
    /// `AuditEnterpriseSiteID`.
    public var siteID: String?
    /// `AuditSourceID` and syslog `HOSTNAME`; default: the machine's host name.
    public var sourceID: String?
    /// The spool file; default `<state_dir>/audit-syslog.spool`; without either, the spool is in memory only.
    public var spoolPath: String?
    /// Most bytes of queued messages (memory and spool file).
    public var spoolMaxBytes: Int
    /// Queued messages older than this are discarded (counted, logged).
    public var spoolMaxAge: Duration
    /// Pause between connection attempts while the repository is unreachable.
    public var retryInterval: Duration
    /// Connection timeout, and the longest a write (the TLS handshake included) may make no progress before the
    /// connection is closed and its messages stay queued.
    public var connectTimeout: Duration

    /// The largest message sent; PS3.15 §A.6 requires receivers to take at least 32,768 octets.
    public static let maxMessageBytes = 65_536

    public init(
        address: Endpoint, transport: Transport = .tls, caFile: String? = nil, certificate: String? = nil,
        key: String? = nil, serverName: String? = nil, siteID: String? = nil, sourceID: String? = nil,
        spoolPath: String? = nil, spoolMaxBytes: Int = 64 << 20, spoolMaxAge: Duration = .seconds(7 * 86_400),
        retryInterval: Duration = .seconds(5), connectTimeout: Duration = .seconds(10)
    ) {
        self.address = address
        self.transport = transport
        self.caFile = caFile
        self.certificate = certificate
        self.key = key
        self.serverName = serverName
        self.siteID = siteID
        self.sourceID = sourceID
        self.spoolPath = spoolPath
        self.spoolMaxBytes = spoolMaxBytes
        self.spoolMaxAge = spoolMaxAge
        self.retryInterval = retryInterval
        self.connectTimeout = connectTimeout
    }

    /// Decodes `audit.syslog` from the configuration (`nil`: no export); problems carry their lines.
    public static func decode(from configuration: GatewayConfiguration) -> Result<SyslogExportConfiguration?, ConfigErrors> {
        guard let node = configuration.sections[.auditSyslog] else { return .success(nil) }
        let (decoded, problems) = Self.decode(node, stateDirectory: configuration.stateDirectory)
        return problems.isEmpty ? .success(decoded) : .failure(ConfigErrors(problems))
    }

    /// The `syslog` key of the core's `audit` mapping, as the executable registers it with the configuration decoder.
    public static let section = ConfigSection(.auditSyslog)

    /// Decodes one `audit.syslog` mapping.
    public static func decode(_ node: ConfigNode, stateDirectory: String?) -> (SyslogExportConfiguration?, [ConfigProblem]) {
        var reader = MappingReader(node, context: "audit.syslog")
        let addressText = reader.string("address", required: true)
        let transport = reader.choice("transport", Transport.self) ?? .tls
        var configuration: SyslogExportConfiguration?
        if let addressText, let line = reader.entryLine("address") {
            switch Endpoint.parse(addressText) {
            case .success(let endpoint):
                configuration = SyslogExportConfiguration(address: endpoint, transport: transport)
            case .failure(let error):
                reader.problem(line, "audit.syslog: bad 'address' '\(addressText)': \(error)")
            }
        }
        let caFile = reader.string("ca_file")
        let certificate = reader.string("certificate")
        let key = reader.string("key")
        let serverName = reader.string("server_name")
        let siteID = reader.string("site_id")
        let sourceID = reader.string("source_id")
        let spoolPath = reader.string("spool_path")
        let maxBytes = reader.byteSize("spool_max_bytes", in: 65_536...(1 << 40))
        let maxAge = reader.duration("spool_max_age")
        let retry = reader.duration("retry_interval")
        let connectTimeout = reader.duration("connect_timeout")
        if transport == .tls {
            for (name, value) in [("ca_file", caFile), ("certificate", certificate), ("key", key)] where value == nil {
                reader.problem(node.line, "audit.syslog: transport tls needs '\(name)' (mutual TLS, RFC 5425)")
            }
        } else {
            for name in ["ca_file", "certificate", "key", "server_name"] where reader.has(name) {
                reader.problem(reader.entryLine(name) ?? node.line, "audit.syslog: '\(name)' is only used with transport tls")
            }
        }
        reader.finish()
        guard var result = configuration, reader.problems.isEmpty else { return (nil, reader.problems) }
        result.caFile = caFile
        result.certificate = certificate
        result.key = key
        result.serverName = serverName
        result.siteID = siteID
        result.sourceID = sourceID
        result.spoolPath = spoolPath ?? stateDirectory.map { "\($0)/audit-syslog.spool" }
        if let maxBytes { result.spoolMaxBytes = maxBytes }
        if let maxAge { result.spoolMaxAge = maxAge }
        if let retry { result.retryInterval = retry }
        if let connectTimeout { result.connectTimeout = connectTimeout }
        return (result, [])
    }
}

extension ConfigSectionKey {
    /// `audit.syslog`, the ATNA export's section (``SyslogExportConfiguration``).
    public static let auditSyslog = ConfigSectionKey("syslog", under: "audit")
}

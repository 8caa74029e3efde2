public import PacsgateCore

/// The DICOM keys of one service (`protocol: dicom`), validated.
///
/// ```yaml
/// max_pdu_peek: 64KiB                 # largest A-ASSOCIATE-RQ held before forwarding
/// calling_ae_allow:                   # absent: every calling AE is allowed
///   - CT01                            # exact title, from anywhere
///   - "US*"                           # pattern
///   - { ae: "MR*", from: [10.1.2.0/24, 10.1.3.7] }   # only from these client networks
///   - { from: 10.9.0.0/16 }           # any title from this network
///   - { ae: CT_SCANNER1, certificate: { san: ct1.hospital.example } }   # only with this client certificate (TLS)
/// called_ae_allow: [MACH7, "MACH7-*"] # same entry forms
/// routes:                             # first match wins; no match: any server
///   - { called_ae: MACH7-A, servers: [DICOM1] }
///   - { called_ae: "MACH7-B*", servers: [DICOM2, DICOM3] }
/// ```
public struct DICOMServiceSettings: Sendable, Hashable {
    /// Default of `max_pdu_peek`.
    public static let defaultMaxPDUPeek = 64 * 1024
    /// Accepted range of `max_pdu_peek`: at least a minimal RQ, at most the core's peek cap.
    public static let maxPDUPeekRange = 1024...(1 << 20)

    /// Largest A-ASSOCIATE-RQ (whole PDU, header included) the gateway holds; larger ones are aborted.
    public var maxPDUPeek: Int
    /// Allow-lists and routes.
    public var policy: AEPolicy

    /// Creates settings.
    public init(maxPDUPeek: Int = DICOMServiceSettings.defaultMaxPDUPeek, policy: AEPolicy = AEPolicy()) {
        self.maxPDUPeek = maxPDUPeek
        self.policy = policy
    }

    /// Reads the module's keys from a service mapping, recording every problem with its line.
    ///
    /// - Parameter clientCertificates: whether clients of the service can present a verified certificate (`tls:` with
    ///   `client_auth: optional | required`), which `certificate:` entries need; `nil` when unknown (a `tls:` block
    ///   that could not be read, already reported).
    public static func read(
        _ reader: inout MappingReader,
        service: ServiceConfiguration,
        clientCertificates: Bool? = false
    ) -> DICOMServiceSettings {
        var settings = DICOMServiceSettings()
        if let size = reader.byteSize("max_pdu_peek", in: Self.maxPDUPeekRange) {
            settings.maxPDUPeek = size
        }
        let context = "service '\(service.label)'"
        let allowLists: [(key: String, list: WritableKeyPath<AEPolicy, AEAllowList?>)] = [
            ("calling_ae_allow", \.callingAllow), ("called_ae_allow", \.calledAllow),
        ]
        for (key, list) in allowLists {
            if let node = reader.node(key) {
                settings.policy[keyPath: list] = Self.allowList(
                    node,
                    key: key,
                    context: context,
                    clientCertificates: clientCertificates,
                    &reader
                )
            }
        }
        if let node = reader.node("routes") {
            settings.policy.routes = Self.routes(node, service: service, context: context, &reader)
        }
        return settings
    }

    private static func pattern(_ text: String, line: Int, what: String, _ reader: inout MappingReader) -> AEPattern? {
        do {
            return try AEPattern(text)
        } catch {
            reader.problem(line, "\(what) '\(String(printableASCII: text.utf8))' \(error)")
            return nil
        }
    }

    private static func allowList(
        _ node: ConfigNode,
        key: String,
        context: String,
        clientCertificates: Bool?,
        _ reader: inout MappingReader
    ) -> AEAllowList? {
        let items: [ConfigNode]
        switch node.kind {
        case .sequence(let list): items = list
        case .scalar: items = [node]
        case .null, .mapping:
            reader.problem(
                node.line,
                "\(context): '\(key)' must be a list of AE titles, patterns or { ae, from, certificate } entries "
                    + "(remove the key to allow every AE title)"
            )
            return nil
        }
        guard !items.isEmpty else {
            reader.problem(node.line, "\(context): '\(key)' is empty; remove the key to allow every AE title")
            return nil
        }
        var rules: [AEAllowRule] = []
        for (index, item) in items.enumerated() {
            let what = "\(context): \(key)[\(index)]"
            if let text = item.scalar {
                if let pattern = Self.pattern(text, line: item.line, what: "\(what): AE title", &reader) {
                    rules.append(AEAllowRule(pattern: pattern))
                }
                continue
            }
            var entry = MappingReader(item, context: what)
            let ae = entry.string("ae")
            let from = entry.stringList("from")
            let certificateNode = entry.node("certificate")
            entry.finish()
            reader.absorb(entry)
            guard ae != nil || from != nil || certificateNode != nil else {
                reader.problem(
                    item.line,
                    "\(what): give 'ae' (a title or pattern), 'from' (client networks), 'certificate' or a combination"
                )
                continue
            }
            let binding = CertificateRequirement.readBinding(
                certificateNode, context: what, clientCertificates: clientCertificates, &reader)
            if case .invalid = binding { continue }
            let line = entry.entryLine("ae") ?? item.line
            guard let pattern = Self.pattern(ae ?? "*", line: line, what: "\(what): AE title", &reader) else {
                continue
            }
            var networks: [ClientNetwork] = []
            for text in from ?? [] {
                if let network = ClientNetwork(text) {
                    networks.append(network)
                } else {
                    reader.problem(
                        entry.entryLine("from") ?? item.line,
                        "\(what): '\(text)' is not a client network (use e.g. 10.1.2.0/24, 10.1.2.7 or fd00::/8)"
                    )
                }
            }
            if let from, from.isEmpty {
                reader.problem(entry.entryLine("from") ?? item.line, "\(what): 'from' lists no client network")
            }
            if from != nil, networks.isEmpty { continue }  // a rule limited to no valid network would allow nothing
            rules.append(AEAllowRule(pattern: pattern, networks: networks, certificate: binding.requirement))
        }
        return AEAllowList(rules)
    }

    private static func routes(
        _ node: ConfigNode,
        service: ServiceConfiguration,
        context: String,
        _ reader: inout MappingReader
    ) -> [AssociationRoute] {
        guard case .sequence(let items) = node.kind else {
            reader.problem(node.line, "\(context): 'routes' must be a list of { called_ae, servers } entries")
            return []
        }
        let labels = service.servers.map(\.label)
        var routes: [AssociationRoute] = []
        for (index, item) in items.enumerated() {
            let what = "\(context): routes[\(index)]"
            var entry = MappingReader(item, context: what)
            let calledAE = entry.string("called_ae", required: true)
            let servers = entry.stringList("servers")
            let serversLine = entry.entryLine("servers") ?? item.line
            let calledLine = entry.entryLine("called_ae") ?? item.line
            entry.finish()
            reader.absorb(entry)
            guard let calledAE else { continue }
            guard let pattern = Self.pattern(calledAE, line: calledLine, what: "\(what): called AE", &reader) else {
                continue
            }
            guard let servers, !servers.isEmpty else {
                reader.problem(serversLine, "\(what): 'servers' must list at least one server label")
                continue
            }
            let unknown = servers.filter { !labels.contains($0) }
            guard unknown.isEmpty else {
                for label in unknown {
                    reader.problem(
                        serversLine,
                        "\(what): no server '\(label)' in this service (servers: \(labels.joined(separator: ", ")))"
                    )
                }
                continue
            }
            routes.append(AssociationRoute(calledAE: pattern, servers: Set(servers)))
        }
        return routes
    }
}

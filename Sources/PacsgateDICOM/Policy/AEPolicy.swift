public import NIOCore
public import PacsgateCore

/// One entry of `calling_ae_allow` / `called_ae_allow`: an AE title or pattern, optionally only from some client
/// networks and only with a client certificate of a given identity (TLS services with client authentication).
public struct AEAllowRule: Sendable, Hashable, CustomStringConvertible {
    /// The title or pattern (`*` for any).
    public var pattern: AEPattern
    /// Client networks the rule is limited to; empty means from anywhere.
    public var networks: [ClientNetwork]
    /// The client certificate the title is bound to (`certificate: { san: … }`); `nil` means any client.
    public var certificate: CertificateRequirement?

    /// Creates a rule.
    public init(pattern: AEPattern, networks: [ClientNetwork] = [], certificate: CertificateRequirement? = nil) {
        self.pattern = pattern
        self.networks = networks
        self.certificate = certificate
    }

    /// Whether `title`, requested from `client` (with `certificate`, the verified client certificate), is allowed.
    public func allows(_ title: AETitle, from client: SocketAddress, certificate: PeerCertificate? = nil) -> Bool {
        self.claims(title, from: client) && (self.certificate?.matches(certificate) ?? true)
    }

    /// Whether the rule speaks about `title` from `client` (its title and networks match), whatever the certificate.
    func claims(_ title: AETitle, from client: SocketAddress) -> Bool {
        guard self.pattern.matches(title) else { return false }
        return self.networks.isEmpty || self.networks.contains { $0.contains(client) }
    }

    /// `PATTERN`, `PATTERN from NET,NET`, `PATTERN with certificate SAN …`.
    public var description: String {
        var text = self.pattern.text
        if !self.networks.isEmpty { text += " from \(self.networks.map(\.text).joined(separator: ","))" }
        if let certificate = self.certificate { text += " with certificate \(certificate)" }
        return text
    }
}

/// An allow-list of AE titles. A title passes when any rule allows it; an absent list allows everything.
public struct AEAllowList: Sendable, Hashable {
    /// The rules, in configuration order.
    public var rules: [AEAllowRule]

    /// Creates a list.
    public init(_ rules: [AEAllowRule]) {
        self.rules = rules
    }

    /// Whether `title` from `client` passes. Titles that break the AE rules (control bytes, backslash, all
    /// spaces) never pass a configured list: they cannot be "recognized".
    public func allows(_ title: AETitle, from client: SocketAddress, certificate: PeerCertificate? = nil) -> Bool {
        guard title.validation.isAcceptable else { return false }
        return self.rules.contains { $0.allows(title, from: client, certificate: certificate) }
    }

    /// Why `title` did not pass: the certificate its matching rules require when one of them spoke about it, else
    /// `nil` (the title is simply not on the list).
    func certificateMismatch(_ title: AETitle, from client: SocketAddress) -> [CertificateRequirement] {
        guard title.validation.isAcceptable else { return [] }
        return self.rules.filter { $0.claims(title, from: client) }.compactMap(\.certificate)
    }
}

/// One entry of `routes`: associations whose called AE matches go only to these servers.
public struct AssociationRoute: Sendable, Hashable {
    /// The called AE title or pattern.
    public var calledAE: AEPattern
    /// Server labels of the service.
    public var servers: Set<String>

    /// Creates a route.
    public init(calledAE: AEPattern, servers: Set<String>) {
        self.calledAE = calledAE
        self.servers = servers
    }
}

/// What the AE policy of a service says about one A-ASSOCIATE-RQ.
public enum AEPolicyDecision: Sendable, Hashable {
    /// Forward, to these servers only (`nil`: any server of the service); `route` names the matching route.
    case forward(servers: Set<String>?, route: String?)
    /// Refuse with this A-ASSOCIATE-RJ; `why` is for the log and the audit record.
    case reject(AssociateReject, why: String)
}

/// The AE policy and routing of one DICOM service: immutable, shared by all its connections.
public struct AEPolicy: Sendable, Hashable {
    /// `calling_ae_allow`; `nil` allows every calling AE.
    public var callingAllow: AEAllowList?
    /// `called_ae_allow`; `nil` allows every called AE.
    public var calledAllow: AEAllowList?
    /// `routes`, first match wins; an association no route matches may go to any server.
    public var routes: [AssociationRoute]

    /// Creates a policy.
    public init(callingAllow: AEAllowList? = nil, calledAllow: AEAllowList? = nil, routes: [AssociationRoute] = []) {
        self.callingAllow = callingAllow
        self.calledAllow = calledAllow
        self.routes = routes
    }

    /// Applies the allow-lists (calling AE first, then called AE) and the routes. `certificate` is the client's
    /// verified TLS certificate (`nil` on a plain service or without one), which `certificate:` entries require.
    public func decide(
        _ request: AssociateRequest,
        client: SocketAddress,
        certificate: PeerCertificate? = nil
    ) -> AEPolicyDecision {
        if let list = self.callingAllow, !list.allows(request.callingAETitle, from: client, certificate: certificate) {
            return .reject(
                .callingAETitleNotRecognized,
                why: Self.refusal(list, request.callingAETitle, "calling", client: client, certificate: certificate)
            )
        }
        if let list = self.calledAllow, !list.allows(request.calledAETitle, from: client, certificate: certificate) {
            return .reject(
                .calledAETitleNotRecognized,
                why: Self.refusal(list, request.calledAETitle, "called", client: client, certificate: certificate)
            )
        }
        if let route = self.routes.first(where: { $0.calledAE.matches(request.calledAETitle) }) {
            return .forward(servers: route.servers, route: route.calledAE.text)
        }
        return .forward(servers: nil, route: nil)
    }

    /// The audit record's words for a refused title: not listed, or bound to a certificate the client did not show.
    private static func refusal(
        _ list: AEAllowList,
        _ title: AETitle,
        _ which: String,
        client: SocketAddress,
        certificate: PeerCertificate?
    ) -> String {
        let required = list.certificateMismatch(title, from: client)
        guard !required.isEmpty else { return "\(which) AE title not on \(which)_ae_allow" }
        let wanted = required.map(\.description).joined(separator: " or ")
        let presented = certificate.map { "the client's certificate is \($0)" } ?? "the client presented no certificate"
        return "\(which) AE title \(title.auditText) is bound to a client certificate with \(wanted); \(presented)"
    }
}

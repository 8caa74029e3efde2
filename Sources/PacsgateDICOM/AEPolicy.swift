public import NIOCore
public import PacsgateCore

/// One entry of `calling_ae_allow` / `called_ae_allow`: an AE title or pattern, optionally only from some client
/// networks.
public struct AEAllowRule: Sendable, Hashable, CustomStringConvertible {
    /// The title or pattern (`*` for any).
    public var pattern: AEPattern
    /// Client networks the rule is limited to; empty means from anywhere.
    public var networks: [ClientNetwork]

    /// Creates a rule.
    public init(pattern: AEPattern, networks: [ClientNetwork] = []) {
        self.pattern = pattern
        self.networks = networks
    }

    /// Whether `title`, requested from `client`, is allowed by this rule.
    public func allows(_ title: AETitle, from client: SocketAddress) -> Bool {
        guard self.pattern.matches(title) else { return false }
        return self.networks.isEmpty || self.networks.contains { $0.contains(client) }
    }

    /// `PATTERN` or `PATTERN from NET,NET`.
    public var description: String {
        self.networks.isEmpty
            ? self.pattern.text : "\(self.pattern.text) from \(self.networks.map(\.text).joined(separator: ","))"
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
    public func allows(_ title: AETitle, from client: SocketAddress) -> Bool {
        guard title.validation.isAcceptable else { return false }
        return self.rules.contains { $0.allows(title, from: client) }
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

    /// Applies the allow-lists (calling AE first, then called AE) and the routes.
    public func decide(_ request: AssociateRequest, client: SocketAddress) -> AEPolicyDecision {
        if let list = self.callingAllow, !list.allows(request.callingAETitle, from: client) {
            return .reject(.callingAETitleNotRecognized, why: "calling AE title not on calling_ae_allow")
        }
        if let list = self.calledAllow, !list.allows(request.calledAETitle, from: client) {
            return .reject(.calledAETitleNotRecognized, why: "called AE title not on called_ae_allow")
        }
        if let route = self.routes.first(where: { $0.calledAE.matches(request.calledAETitle) }) {
            return .forward(servers: route.servers, route: route.calledAE.text)
        }
        return .forward(servers: nil, route: nil)
    }
}

import PacsgateCore

/// Everything the System Overview shows, as `GET /api/v1/overview` returns it (JSON, snake_case keys).
public struct Overview: Sendable, Codable, Equatable {
    /// One real server.
    public struct Server: Sendable, Codable, Equatable {
        public var label: String
        public var address: String
        public var weight: Int
        /// Administrative state: `online`, `drain` or `halt`.
        public var state: String
        /// Health as the balancer sees it: `up` or `down`.
        public var health: String
        /// Whether the server takes new (not stuck) connections now (a backup only while no primary does).
        public var acceptsNew: Bool
        /// A backup server: it takes new connections only while no primary server of the service can.
        public var backup: Bool = false
        public var activeConnections: Int
        public var totalConnections: Int
        public var connectFailures: Int
        public var lastCheck: Check?
        /// The certificate the server presented to the last health check that spoke TLS to it.
        public var certificate: CertificateExpiry?
    }

    /// When a certificate expires.
    public struct CertificateExpiry: Sendable, Codable, Equatable {
        /// The subject (`nil` for a server's certificate, which the health check names in its detail).
        public var subject: String?
        /// ISO 8601 end of validity.
        public var notAfter: String
        /// Whole days left (negative once expired).
        public var daysLeft: Int
    }

    /// A service that terminates TLS: the certificates it presents and how it checks clients.
    public struct ServiceTLS: Sendable, Codable, Equatable {
        public var certificates: [CertificateExpiry]
        /// `none`, `optional` or `required`.
        public var clientAuth: String
        /// ISO 8601 time the revocation list (`crl_file`) is due to be replaced, when one is configured.
        public var crlNextUpdate: String?
    }

    /// A server's last health check.
    public struct Check: Sendable, Codable, Equatable {
        public var ok: Bool
        /// What happened, in the checker's words.
        public var detail: String
        public var latencyMs: Double
        /// ISO 8601 time of the check.
        public var at: String?
        public var passed: Int
        public var failed: Int
    }

    /// One virtual service.
    public struct Service: Sendable, Codable, Equatable {
        public var label: String
        public var listen: String
        public var port: Int
        public var `protocol`: String
        public var balance: String
        /// `layer 7 · inspected` when a protocol module reads the traffic, `layer 7 · TCP` for plain forwarding (the
        /// appliance's "layer 7, TCP mode": every connection is terminated and re-opened from the gateway — SNAT).
        public var mode: String
        /// The data plane carrying the service's connections: `native` (pacsgate's reactors) or `nio`.
        public var engine: String
        public var persistence: String
        /// The health check: `connect every 2s`, `dicom-echo every 5s`, or `none`.
        public var healthCheck: String
        /// Up when at least one server takes new connections.
        public var up: Bool
        public var activeConnections: Int
        public var totalConnections: Int
        public var refusedConnections: Int
        public var bytesUp: Int
        public var bytesDown: Int
        public var servers: [Server]
        /// Set when the service terminates TLS.
        public var tls: ServiceTLS? = nil
    }

    /// One DICOM association.
    public struct Association: Sendable, Codable, Equatable {
        public var time: String
        public var service: String
        public var callingAe: String
        public var calledAe: String
        public var client: String
        public var server: String
        public var outcome: String
    }

    /// HL7 messages of one type.
    public struct HL7Row: Sendable, Codable, Equatable {
        public var service: String
        public var messageType: String
        public var messages: Int
        /// By acknowledgment code (`AA`, `AE`, `AR`, `CA`, `CE`, `CR`, `none`), most frequent first.
        public var acks: [AckCount]
        public var naks: Int
        public var rejected: Int
    }

    /// Messages answered with one acknowledgment code.
    public struct AckCount: Sendable, Codable, Equatable {
        public var code: String
        public var count: Int
    }

    /// TLS connections with one SNI.
    public struct SNIRow: Sendable, Codable, Equatable {
        public var service: String
        public var sni: String
        public var connections: Int
    }

    /// A service's traffic over the last hour.
    public struct Graph: Sendable, Codable, Equatable {
        public var service: String
        public var intervalSeconds: Int
        /// ISO 8601 time of the last point.
        public var end: String?
        public var connectionsPerSecond: [Double]
        public var bytesPerSecond: [Double]
    }

    /// The audit log's health.
    public struct AuditHealth: Sendable, Codable, Equatable {
        public var ok: Bool
        public var reason: String?
        /// Records waiting in memory to be written (none is ever dropped).
        public var buffered: Int
    }

    /// This unit's place in an HA pair (docs/operations.md), when the configuration has an `ha:` section.
    public struct Pair: Sendable, Codable, Equatable {
        public var node: String
        /// `primary` or `secondary`.
        public var role: String
        /// What keepalived's notify script last wrote: `MASTER`, `BACKUP`, `FAULT`, `STOP` or `unknown`.
        public var vrrp: String
        /// `up`, `connecting` or `down`.
        public var link: String
        /// Why the link is down.
        public var linkReason: String?
        public var peerAddress: String
        public var peerNode: String?
        public var peerReachable: Bool
        public var peerVRRP: String?
        /// Replication lag: persistence changes waiting here and (as last reported) on the peer.
        public var queued: Int
        public var peerQueued: Int?
        /// ISO 8601 time the queue was last empty after a send.
        public var lastSync: String?
        public var lastSnapshotReceived: String?
        public var entriesSent: Int
        public var entriesReceived: Int
        /// Connections or frames refused for failed authentication or malformed bytes.
        public var rejected: Int
        /// Persistence entries per service here and, as last reported, on the peer.
        public var entries: [String: Int]
        public var peerEntries: [String: Int]
        public var configSync: Bool
        /// The first 12 hex digits of each side's shared-configuration digest (`unknown` until reported).
        public var configVersion: String
        public var peerConfigVersion: String?
        /// Whether both sides run the same shared configuration (`nil` until the peer reports).
        public var configInSync: Bool?
        /// The last configuration sync, in a sentence.
        public var lastConfigSync: String?
        /// Whether this unit may hold the VIP: `starting` (the peer's snapshot is not in yet), `ready`, `standby`
        /// (after a switchover), `leaving` (stopping); and the peer's, as it last reported.
        public var readiness: String
        public var peerReadiness: String?
        /// The last time this unit took the VIP over, with its kind and reason, in a sentence.
        public var lastTakeover: String?
        /// Takeovers since this unit started.
        public var takeovers: Int
        /// Why this unit believes the peer's pacsgate is gone (it then asks keepalived to take over).
        public var peerGone: String?

        public init(
            node: String, role: String, vrrp: String, link: String, linkReason: String?, peerAddress: String, peerNode: String?,
            peerReachable: Bool, peerVRRP: String?, queued: Int, peerQueued: Int?, lastSync: String?, lastSnapshotReceived: String?,
            entriesSent: Int, entriesReceived: Int, rejected: Int, entries: [String: Int], peerEntries: [String: Int],
            readiness: String = "ready", peerReadiness: String? = nil, lastTakeover: String? = nil, takeovers: Int = 0,
            peerGone: String? = nil, configSync: Bool, configVersion: String,
            peerConfigVersion: String?, configInSync: Bool?, lastConfigSync: String?
        ) {
            self.readiness = readiness
            self.peerReadiness = peerReadiness
            self.lastTakeover = lastTakeover
            self.takeovers = takeovers
            self.peerGone = peerGone
            self.node = node
            self.role = role
            self.vrrp = vrrp
            self.link = link
            self.linkReason = linkReason
            self.peerAddress = peerAddress
            self.peerNode = peerNode
            self.peerReachable = peerReachable
            self.peerVRRP = peerVRRP
            self.queued = queued
            self.peerQueued = peerQueued
            self.lastSync = lastSync
            self.lastSnapshotReceived = lastSnapshotReceived
            self.entriesSent = entriesSent
            self.entriesReceived = entriesReceived
            self.rejected = rejected
            self.entries = entries
            self.peerEntries = peerEntries
            self.configSync = configSync
            self.configVersion = configVersion
            self.peerConfigVersion = peerConfigVersion
            self.configInSync = configInSync
            self.lastConfigSync = lastConfigSync
        }
    }

    public var generatedAt: String
    public var user: String?
    public var audit: AuditHealth
    public var services: [Service]
    public var associations: [Association]
    public var hl7: [HL7Row]
    public var tls: [SNIRow]
    public var graphs: [Graph]
    /// `nil` for a single unit.
    public var pair: Pair? = nil
    /// Alarms raised by other parts of the gateway (the audit export while it spools), one sentence each.
    public var alarms: [String]? = nil
    /// This build's release number and commit (what `pacsgate --version` prints).
    public var version: String? = nil
    public var commit: String? = nil
}

extension Overview {
    /// Builds the overview from the running gateway and the admin's activity and traffic records.
    static func build(
        services runtimes: [ServiceRuntime], listenPorts: [String: Int], audit: AuditLog.Status, activity: ActivityState,
        history: TrafficHistory, user: String?, alarms: [String] = [], now: WallClock.Instant = WallClock.now()
    ) -> Overview {
        var services: [Service] = []
        for runtime in runtimes {
            let configuration = runtime.configuration
            let servers = runtime.pool.snapshot().map { server in
                Server(
                    label: server.label, address: server.endpoint.description, weight: server.weight,
                    state: server.adminState.rawValue, health: server.health.rawValue,
                    acceptsNew: server.takesNew, backup: server.backup, activeConnections: server.activeConnections, totalConnections: server.totalConnections,
                    connectFailures: server.connectFailures,
                    lastCheck: server.lastCheck.map { check in
                        Check(
                            ok: check.succeeded, detail: check.detail,
                            latencyMs: (Double(check.latency.components.seconds) * 1000
                                + Double(check.latency.components.attoseconds) / 1e15).rounded(toPlaces: 1),
                            at: server.lastCheckAt?.iso8601, passed: server.checksPassed, failed: server.checksFailed)
                    },
                    certificate: server.lastCheck?.certificateExpiry.map {
                        CertificateExpiry(subject: nil, notAfter: $0.iso8601, daysLeft: Self.daysLeft($0, now: now))
                    })
            }
            let persistence =
                configuration.persistence.isEnabled
                ? "\(configuration.persistence.type) \(ConfigValueParser.format(configuration.persistence.timeout))" : "none"
            services.append(
                Service(
                    label: runtime.label, listen: configuration.listen.description,
                    port: listenPorts[runtime.label] ?? configuration.listen.port,
                    protocol: configuration.protocolName.rawValue,
                    balance: configuration.balance.rawValue,
                    mode: configuration.protocolHandler == nil ? "layer 7 · TCP" : "layer 7 · inspected",
                    engine: runtime.engine.rawValue,
                    persistence: persistence,
                    healthCheck: configuration.healthCheck.isEnabled
                        ? "\(configuration.healthCheck.type) every \(ConfigValueParser.format(configuration.healthCheck.interval))"
                        : "none",
                    up: servers.contains { $0.acceptsNew },
                    activeConnections: runtime.stats.activeConnections, totalConnections: runtime.stats.totalConnections,
                    refusedConnections: runtime.stats.refusedConnections, bytesUp: runtime.stats.bytesUpstream,
                    bytesDown: runtime.stats.bytesDownstream, servers: servers,
                    tls: configuration.protocolHandler?.transportSecurity.map { status in
                        ServiceTLS(
                            certificates: status.certificates.map {
                                CertificateExpiry(
                                    subject: $0.subject, notAfter: $0.notValidAfter.iso8601,
                                    daysLeft: Self.daysLeft($0.notValidAfter, now: now))
                            },
                            clientAuth: status.clientAuthentication.rawValue,
                            crlNextUpdate: status.revocationListNextUpdate?.iso8601)
                    }))
        }
        let alarms = alarms + Self.certificateAlarms(services, now: now)
        let associations = activity.associations.reversed().map {
            Association(
                time: $0.time, service: $0.service, callingAe: $0.callingAE, calledAe: $0.calledAE, client: $0.client,
                server: $0.server, outcome: $0.outcome)
        }
        var hl7: [HL7Row] = []
        for (service, types) in activity.hl7.sorted(by: { $0.key < $1.key }) {
            for (type, count) in types.sorted(by: { $0.value.messages + $0.value.rejected > $1.value.messages + $1.value.rejected || ($0.value.messages + $0.value.rejected == $1.value.messages + $1.value.rejected && $0.key < $1.key) }) {
                hl7.append(
                    HL7Row(
                        service: service, messageType: type, messages: count.messages,
                        acks: count.byAck.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
                            .map { AckCount(code: $0.key, count: $0.value) },
                        naks: count.naks,
                        rejected: count.rejected))
            }
        }
        var tls: [SNIRow] = []
        for (service, names) in activity.tls.sorted(by: { $0.key < $1.key }) {
            for (sni, count) in names.sorted(by: { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }) {
                tls.append(SNIRow(service: service, sni: sni, connections: count))
            }
        }
        let interval = Int(history.interval.components.seconds)
        let graphs = runtimes.map { runtime in
            let points = history.points(of: runtime.label)
            return Graph(
                service: runtime.label, intervalSeconds: max(1, interval), end: points.last?.time.iso8601,
                connectionsPerSecond: points.map { $0.connectionsPerSecond.rounded(toPlaces: 3) },
                bytesPerSecond: points.map { $0.bytesPerSecond.rounded(toPlaces: 1) })
        }
        let health: AuditHealth
        switch audit {
        case .ok: health = AuditHealth(ok: true, reason: nil, buffered: 0)
        case .failing(let reason, let buffered): health = AuditHealth(ok: false, reason: reason, buffered: buffered)
        }
        return Overview(
            generatedAt: now.iso8601, user: user, audit: health, services: services, associations: associations, hl7: hl7,
            tls: tls, graphs: graphs, alarms: alarms.isEmpty ? nil : alarms)
    }
}

extension Overview {
    /// A certificate this close to its end raises an overview alarm.
    static let certificateWarningDays = 14

    static func daysLeft(_ end: WallClock.Instant, now: WallClock.Instant) -> Int {
        let milliseconds = end.millisecondsSinceEpoch - now.millisecondsSinceEpoch
        return Int(milliseconds >= 0 ? milliseconds / 86_400_000 : -((-milliseconds + 86_399_999) / 86_400_000))
    }

    /// Alarms for certificates (the gateway's and the servers' last seen) that expire within
    /// ``certificateWarningDays`` or have expired, and for revocation lists past their next update.
    static func certificateAlarms(_ services: [Service], now: WallClock.Instant) -> [String] {
        func words(_ certificate: CertificateExpiry) -> String {
            let day = certificate.notAfter.prefix(10)
            return certificate.daysLeft < 0
                ? "EXPIRED on \(day)" : "expires \(day) (in \(certificate.daysLeft) day\(certificate.daysLeft == 1 ? "" : "s"))"
        }
        var alarms: [String] = []
        for service in services {
            if let tls = service.tls {
                for certificate in tls.certificates where certificate.daysLeft < Self.certificateWarningDays {
                    alarms.append(
                        "\(service.label): the gateway's certificate \(certificate.subject ?? "") \(words(certificate)); install a renewed one and reload.")
                }
                if let due = tls.crlNextUpdate, due < now.iso8601 {
                    alarms.append(
                        "\(service.label): the revocation list (crl_file) was due for replacement on \(due.prefix(10)); client certificates are refused until a current one is installed and reloaded.")
                }
            }
            for server in service.servers {
                if let certificate = server.certificate, certificate.daysLeft < Self.certificateWarningDays {
                    alarms.append("\(service.label): the certificate of server \(server.label) \(words(certificate)).")
                }
            }
        }
        return alarms
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        return (self * scale).rounded() / scale
    }
}

import enum CoreMetrics.MetricsSystem
import NIOConcurrencyHelpers
public import PacsgateCore
public import Prometheus

/// The `/metrics` page: Prometheus text format.
///
/// Two sources meet in one registry. The core counts each service's connections and bytes through swift-metrics
/// (`pacsgate_connections_total`, `pacsgate_bytes_up_total`, …); the executable bootstraps the Prometheus factory
/// with the same registry, so those appear here. This type adds, at scrape time, what only the control plane knows:
/// per-server state from the pools, and protocol activity from the audit records (``ActivityAggregator``).
///
/// Label values are bounded: services and servers come from the configuration; message types and SNI are capped per
/// service (``ActivityState/labelCap``); AE titles never become labels.
public final class AdminMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private struct State {
        /// Last running total seen per counter.
        var previous: [String: Int] = [:]
        /// Gauges and counters of each (service, server), so a server removed by a reload disappears from the page.
        var serverGauges: [String: [Gauge]] = [:]
        var serverCounters: [String: [Counter]] = [:]
        /// Certificate gauges of each service (a reload may change the certificate, and with it the labels).
        var certificateGauges: [String: [Gauge]] = [:]
    }

    private let state = NIOLockedValueBox(State())

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// Metrics over a registry of their own (swift-metrics not bootstrapped: only the admin's own series appear).
    public convenience init() {
        self.init(registry: PrometheusCollectorRegistry())
    }

    /// Bootstraps swift-metrics with a Prometheus factory on a new registry and returns the metrics page over it.
    ///
    /// Call once per process, from the executable's entry point (`pacsgate run`, `pacsgate demo`): libraries only
    /// emit through swift-metrics. Metrics created before this call (none, in the executable) are not collected.
    public static func bootstrap() -> AdminMetrics {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return AdminMetrics(registry: registry)
    }

    private static func descriptor(_ name: String, unit: String = "", help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "pacsgate", metricName: name, unitName: unit, helpText: help)
    }

    private static var serverActive: MetricNameDescriptor { descriptor("server_connections_active", help: "Client connections open now on a real server.") }
    private static var serverTotal: MetricNameDescriptor { descriptor("server_connections", unit: "total", help: "Connections forwarded to a real server.") }
    private static var serverConnectFailures: MetricNameDescriptor { descriptor(
        "server_connect_failures", unit: "total", help: "Connects to a real server that failed.") }
    private static var serverUp: MetricNameDescriptor { descriptor("server_up", help: "1 when the health checks find the server up.") }
    private static var serverState: MetricNameDescriptor { descriptor(
        "server_admin_state", help: "1 for the server's administrative state (online, drain, halt).") }
    private static var serverWeight: MetricNameDescriptor { descriptor("server_weight", help: "Balancing weight of the server.") }
    private static var serverBackup: MetricNameDescriptor { descriptor(
        "server_backup", help: "1 for a backup server (takes new connections only while no primary server can).") }
    private static var serverTakesNew: MetricNameDescriptor { descriptor(
        "server_takes_new", help: "1 while the server takes new connections (a backup: only while every primary is unavailable).") }
    private static var checkLatency: MetricNameDescriptor { descriptor(
        "health_check_latency", unit: "seconds", help: "Duration of the server's last health check.") }
    private static var checks: MetricNameDescriptor { descriptor("health_checks", unit: "total", help: "Health checks by result (ok, failed).") }
    private static var serviceUp: MetricNameDescriptor { descriptor("service_available", help: "1 when at least one server takes new connections.") }
    private static var associations: MetricNameDescriptor { descriptor(
        "dicom_associations", unit: "total", help: "DICOM associations by outcome (from the audit log).") }
    private static var hl7Messages: MetricNameDescriptor { descriptor(
        "hl7_messages", unit: "total", help: "HL7 messages by type and acknowledgment code (from the audit log).") }
    private static var hl7Rejected: MetricNameDescriptor { descriptor(
        "hl7_rejected", unit: "total", help: "HL7 input refused by the gateway, by message type (from the audit log).") }
    private static var tlsConnections: MetricNameDescriptor { descriptor(
        "tls_connections", unit: "total", help: "TLS connections by SNI; rare names are counted as (other).") }
    private static var handshakeFailures: MetricNameDescriptor { descriptor(
        "tls_handshake_failures", unit: "total",
        help: "Client TLS handshakes a terminating service refused or that failed (from the audit log).") }
    private static var certificateExpiry: MetricNameDescriptor { descriptor(
        "tls_certificate_expiry_timestamp", unit: "seconds",
        help: "When a certificate the service presents to clients expires (Unix time).") }
    private static var crlNextUpdate: MetricNameDescriptor { descriptor(
        "tls_crl_next_update_timestamp", unit: "seconds",
        help: "When the service's revocation list (crl_file) is due to be replaced (Unix time).") }
    private static var serverCertificateExpiry: MetricNameDescriptor { descriptor(
        "server_certificate_expiry_timestamp", unit: "seconds",
        help: "When the certificate a server presented to its last TLS health check expires (Unix time).") }
    private static var auditOK: MetricNameDescriptor { descriptor("audit_log_ok", help: "1 while the audit log is being written.") }
    private static var auditBuffered: MetricNameDescriptor { descriptor(
        "audit_log_buffered_records", help: "Audit records held in memory because the file cannot be written.") }

    private static var haMaster: MetricNameDescriptor { descriptor("ha_vrrp_master", help: "1 while this unit holds the virtual IPs (keepalived MASTER).") }
    private static var haLinkUp: MetricNameDescriptor { descriptor("ha_link_up", help: "1 while the HA link to the peer is up and the peer heard from.") }
    private static var haReady: MetricNameDescriptor { descriptor(
        "ha_ready", help: "1 while this unit may hold the virtual IPs (the peer's snapshot is in), 0 starting, standing by or leaving.") }
    private static var haTakeovers: MetricNameDescriptor { descriptor("ha_takeovers", unit: "total", help: "Times this unit took the virtual IPs over.") }
    private static var haRejected: MetricNameDescriptor { descriptor(
        "ha_rejected", unit: "total", help: "Connections or frames refused on the HA port (failed authentication, malformed, over the limits).") }
    private static var haQueued: MetricNameDescriptor { descriptor("ha_replication_queued", help: "Persistence changes waiting to be sent to the peer.") }

    /// Brings the registry up to date with `services` and `activity` (and the HA `pair`, for a unit of one), then
    /// renders it.
    public func render(services: [ServiceRuntime], activity: ActivityState, audit: AuditLog.Status, pair: Overview.Pair? = nil) -> String {
        self.state.withLockedValue { state in
            if let pair {
                self.registry.makeGauge(descriptor: Self.haMaster).set(to: pair.vrrp == "MASTER" ? 1 : 0)
                self.registry.makeGauge(descriptor: Self.haLinkUp).set(to: pair.link == "up" && pair.peerReachable ? 1 : 0)
                self.registry.makeGauge(descriptor: Self.haReady).set(to: pair.readiness == "ready" ? 1 : 0)
                self.registry.makeGauge(descriptor: Self.haQueued).set(to: Double(pair.queued))
                Self.advance(self.registry.makeCounter(descriptor: Self.haTakeovers), to: pair.takeovers, key: "ha\u{0}takeovers", previous: &state.previous)
                Self.advance(self.registry.makeCounter(descriptor: Self.haRejected), to: pair.rejected, key: "ha\u{0}rejected", previous: &state.previous)
            }
            var seen: Set<String> = []
            var certified: Set<String> = []
            for service in services {
                let available = service.pool.hasAvailableServer
                self.registry.makeGauge(descriptor: Self.serviceUp, labels: [("service", service.label)])
                    .set(to: available ? 1 : 0)
                if let status = service.configuration.protocolHandler?.transportSecurity {
                    certified.insert(service.label)
                    self.updateCertificates(status, service: service.label, state: &state)
                }
                for server in service.pool.snapshot() {
                    let key = "\(service.label)\u{0}\(server.label)"
                    seen.insert(key)
                    self.update(server, service: service.label, key: key, state: &state)
                }
            }
            for label in state.certificateGauges.keys where !certified.contains(label) {
                for gauge in state.certificateGauges.removeValue(forKey: label) ?? [] { self.registry.unregisterGauge(gauge) }
            }
            for key in Set(state.serverGauges.keys).union(state.serverCounters.keys) where !seen.contains(key) {
                for gauge in state.serverGauges.removeValue(forKey: key) ?? [] { self.registry.unregisterGauge(gauge) }
                for counter in state.serverCounters.removeValue(forKey: key) ?? [] { self.registry.unregisterCounter(counter) }
                state.previous = state.previous.filter { !$0.key.hasPrefix(key + "\u{0}") }
            }
            for (service, outcomes) in activity.associationOutcomes {
                for (outcome, count) in outcomes {
                    let counter = self.registry.makeCounter(descriptor: Self.associations, labels: [("service", service), ("outcome", outcome)])
                    Self.advance(counter, to: count, key: "dicom\u{0}\(service)\u{0}\(outcome)", previous: &state.previous)
                }
            }
            for (service, types) in activity.hl7 {
                for (type, count) in types {
                    for (ack, number) in count.byAck {
                        let counter = self.registry.makeCounter(
                            descriptor: Self.hl7Messages, labels: [("service", service), ("message_type", type), ("ack_code", ack)])
                        Self.advance(counter, to: number, key: "hl7\u{0}\(service)\u{0}\(type)\u{0}\(ack)", previous: &state.previous)
                    }
                    if count.rejected > 0 {
                        let counter = self.registry.makeCounter(
                            descriptor: Self.hl7Rejected, labels: [("service", service), ("message_type", type)])
                        Self.advance(counter, to: count.rejected, key: "hl7r\u{0}\(service)\u{0}\(type)", previous: &state.previous)
                    }
                }
            }
            for (service, names) in activity.tls {
                for (sni, count) in names {
                    let counter = self.registry.makeCounter(descriptor: Self.tlsConnections, labels: [("service", service), ("sni", sni)])
                    Self.advance(counter, to: count, key: "tls\u{0}\(service)\u{0}\(sni)", previous: &state.previous)
                }
            }
            for (service, count) in activity.handshakeFailures {
                let counter = self.registry.makeCounter(descriptor: Self.handshakeFailures, labels: [("service", service)])
                Self.advance(counter, to: count, key: "tlsfail\u{0}\(service)", previous: &state.previous)
            }
            switch audit {
            case .ok:
                self.registry.makeGauge(descriptor: Self.auditOK).set(to: 1)
                self.registry.makeGauge(descriptor: Self.auditBuffered).set(to: 0)
            case .failing(_, let buffered):
                self.registry.makeGauge(descriptor: Self.auditOK).set(to: 0)
                self.registry.makeGauge(descriptor: Self.auditBuffered).set(to: Double(buffered))
            }
        }
        return self.registry.emitToString()
    }

    private func update(_ server: ServerSnapshot, service: String, key: String, state: inout State) {
        let labels = [("service", service), ("server", server.label)]
        var gauges: [Gauge] = []
        func gauge(_ descriptor: MetricNameDescriptor, _ labels: [(String, String)], _ value: Double) {
            let gauge = self.registry.makeGauge(descriptor: descriptor, labels: labels)
            gauge.set(to: value)
            gauges.append(gauge)
        }
        gauge(Self.serverActive, labels, Double(server.activeConnections))
        gauge(Self.serverUp, labels, server.health == .up ? 1 : 0)
        gauge(Self.serverWeight, labels, Double(server.weight))
        gauge(Self.serverBackup, labels, server.backup ? 1 : 0)
        gauge(Self.serverTakesNew, labels, server.takesNew ? 1 : 0)
        for adminState in ServerAdminState.allCases {
            gauge(Self.serverState, labels + [("state", adminState.rawValue)], server.adminState == adminState ? 1 : 0)
        }
        if let check = server.lastCheck {
            let seconds = Double(check.latency.components.seconds) + Double(check.latency.components.attoseconds) / 1e18
            gauge(Self.checkLatency, labels, seconds)
            if let expiry = check.certificateExpiry {
                gauge(Self.serverCertificateExpiry, labels, Double(expiry.millisecondsSinceEpoch / 1000))
            }
        }
        var counters: [Counter] = []
        func counter(_ descriptor: MetricNameDescriptor, _ labels: [(String, String)], _ total: Int, _ name: String) {
            let counter = self.registry.makeCounter(descriptor: descriptor, labels: labels)
            Self.advance(counter, to: total, key: key + "\u{0}" + name, previous: &state.previous)
            counters.append(counter)
        }
        counter(Self.serverTotal, labels, server.totalConnections, "total")
        counter(Self.serverConnectFailures, labels, server.connectFailures, "connect-failures")
        counter(Self.checks, labels + [("result", "ok")], server.checksPassed, "checks-ok")
        counter(Self.checks, labels + [("result", "failed")], server.checksFailed, "checks-failed")
        state.serverGauges[key] = gauges
        state.serverCounters[key] = counters
    }

    /// The expiry of the certificates a service presents, and of its revocation list; series of a certificate a
    /// reload replaced are removed.
    private func updateCertificates(_ status: TransportSecurityStatus, service: String, state: inout State) {
        var gauges: [Gauge] = []
        for certificate in status.certificates {
            let gauge = self.registry.makeGauge(
                descriptor: Self.certificateExpiry, labels: [("service", service), ("subject", certificate.subject)])
            gauge.set(to: Double(certificate.notValidAfter.millisecondsSinceEpoch / 1000))
            gauges.append(gauge)
        }
        if let due = status.revocationListNextUpdate {
            let gauge = self.registry.makeGauge(descriptor: Self.crlNextUpdate, labels: [("service", service)])
            gauge.set(to: Double(due.millisecondsSinceEpoch / 1000))
            gauges.append(gauge)
        }
        for old in state.certificateGauges[service] ?? [] where !gauges.contains(where: { $0 === old }) {
            self.registry.unregisterGauge(old)
        }
        state.certificateGauges[service] = gauges
    }

    /// Moves a Prometheus counter to a running total read from elsewhere. A total that went down (a server re-added
    /// by a reload starts again from zero) adds the new total, so the counter never goes backwards.
    private static func advance(_ counter: Counter, to total: Int, key: String, previous: inout [String: Int]) {
        let last = previous[key] ?? 0
        let delta = total >= last ? total - last : total
        if delta > 0 { counter.increment(by: Int64(delta)) }
        previous[key] = total
    }
}

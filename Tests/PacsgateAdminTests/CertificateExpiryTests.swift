import Foundation
import Logging
import NIOCore
import NIOPosix
import PacsgateAuditRecords
import PacsgateCore
import Testing

@testable import PacsgateAdmin

/// Certificate expiry on the overview: the gateway's own certificates (from the service's protocol) and the servers'
/// (from their last TLS health check), with alarms shortly before and after the end, and a CRL past its next update.
@Suite("Certificate expiry on the overview")
struct CertificateExpiryTests {
    static let now = WallClock.Instant(millisecondsSinceEpoch: 1_800_000_000_000)

    static func days(_ count: Double) -> WallClock.Instant {
        WallClock.Instant(millisecondsSinceEpoch: now.millisecondsSinceEpoch + Int64(count * 86_400_000))
    }

    /// A protocol that terminates TLS, as far as the overview can tell.
    struct Terminating: ServiceProtocol {
        let status: TransportSecurityStatus

        func makeInspector(_ context: ConnectionContext) -> any ConnectionInspector { Plain() }
        var transportSecurity: TransportSecurityStatus? { self.status }

        final class Plain: ConnectionInspector {
            func inspect(_ buffered: ByteBuffer) -> InspectionVerdict { .forward(.any) }
            func peekFailed(_ failure: PeekFailure) -> Rejection { Rejection(reason: "test") }
            func unavailable(_ reason: UnavailableReason) -> Rejection { Rejection(reason: "test") }
        }
    }

    @Test("the service's certificates, client authentication and CRL, and a server's from its last check")
    func build() async throws {
        let status = TransportSecurityStatus(
            certificates: [.init(subject: "O=Radiology,CN=pacsgate.test", notValidAfter: Self.days(5.5))],
            clientAuthentication: .required, revocationListNextUpdate: Self.days(-1))
        var service = ServiceConfiguration(
            label: "DICOM-TLS", listen: Endpoint(host: "127.0.0.1", port: 0), protocolName: "dicom",
            servers: [
                ServerConfiguration(label: "DICOM1", endpoint: Endpoint(host: "127.0.0.1", port: 9)),
                ServerConfiguration(label: "DICOM2", endpoint: Endpoint(host: "127.0.0.1", port: 10)),
            ])
        service.protocolHandler = Terminating(status: status)
        let audit = AuditLog(configuration: AuditConfiguration(), logger: AdminHarness.logger)
        try audit.start()
        let gateway = Gateway(
            configuration: GatewayConfiguration(services: [service]), group: MultiThreadedEventLoopGroup.singleton,
            audit: audit, logger: AdminHarness.logger)
        try await gateway.start()
        let runtime = try #require(await gateway.service("DICOM-TLS"))
        _ = runtime.pool.recordHealth(
            "DICOM1",
            HealthCheckResult(
                succeeded: true, detail: "C-ECHO status 0x0000; TLS1.3, server certificate expires …",
                certificateExpiry: Self.days(400)))
        _ = runtime.pool.recordHealth(
            "DICOM2", HealthCheckResult(succeeded: true, detail: "C-ECHO status 0x0000", certificateExpiry: Self.days(-2.5)))

        let overview = Overview.build(
            services: [runtime], listenPorts: [:], audit: .ok, activity: ActivityState(), history: TrafficHistory(),
            user: nil, now: Self.now)
        let tls = try #require(overview.services.first?.tls)
        #expect(tls.clientAuth == "required")
        #expect(tls.certificates == [.init(subject: "O=Radiology,CN=pacsgate.test", notAfter: Self.days(5.5).iso8601, daysLeft: 5)])
        #expect(tls.crlNextUpdate == Self.days(-1).iso8601)
        let servers = try #require(overview.services.first?.servers)
        #expect(servers.first { $0.label == "DICOM1" }?.certificate?.daysLeft == 400)
        #expect(servers.first { $0.label == "DICOM2" }?.certificate?.daysLeft == -3)
        let day = { (instant: WallClock.Instant) in String(instant.iso8601.prefix(10)) }
        #expect(
            overview.alarms == [
                "DICOM-TLS: the gateway's certificate O=Radiology,CN=pacsgate.test expires \(day(Self.days(5.5))) (in 5 days); install a renewed one and reload.",
                "DICOM-TLS: the revocation list (crl_file) was due for replacement on \(day(Self.days(-1))); client certificates are refused until a current one is installed and reloaded.",
                "DICOM-TLS: the certificate of server DICOM2 EXPIRED on \(day(Self.days(-2.5))).",
            ])
        let page = OverviewPage.page(overview, csrfToken: "t", canUpload: false)
        #expect(page.contains("TLS · certificate O=Radiology,CN=pacsgate.test <span class=\"bad-text\">expires \(day(Self.days(5.5))) (in 5 days)</span> · client certificates required · CRL next update \(day(Self.days(-1)))"), "\(page)")
        let json = try JSONBody.encoder().encode(overview)
        #expect(String(decoding: json, as: UTF8.self).contains(#""client_auth":"required""#))
        await gateway.shutdown(grace: .seconds(1))
        await audit.shutdown()
    }

    @Test("failed handshakes of DICOM/HL7 TLS services are counted per service, not as SNI traffic")
    func handshakeFailures() {
        var state = ActivityState()
        let failed = ActivityRecords.failedHandshake(service: "DICOM-TLS", protocolName: "dicom")
        let https = ActivityRecords.tls(service: "HTTPS", sni: "a.test", outcome: "handshake_failed")
        state.ingest(failed)
        state.ingest(failed)
        state.ingest(https)
        #expect(state.handshakeFailures == ["DICOM-TLS": 2, "HTTPS": 1])
        #expect(state.tls == ["HTTPS": ["a.test": 1]])
        let metrics = AdminMetrics().render(services: [], activity: state, audit: .ok)
        #expect(metrics.contains(#"pacsgate_tls_handshake_failures_total{service="DICOM-TLS"} 2"#), "\(metrics)")
    }

    @Test("no alarm for certificates with two weeks or more left; a plain service has no tls field")
    func quiet() {
        let services = [
            Overview.Service(
                label: "A", listen: "x", port: 1, protocol: "dicom", balance: "roundrobin", mode: "", engine: "nio", persistence: "",
                healthCheck: "", up: true, activeConnections: 0, totalConnections: 0, refusedConnections: 0, bytesUp: 0,
                bytesDown: 0, servers: [],
                tls: .init(
                    certificates: [.init(subject: "CN=a", notAfter: Self.days(14).iso8601, daysLeft: 14)], clientAuth: "none",
                    crlNextUpdate: nil))
        ]
        #expect(Overview.certificateAlarms(services, now: Self.now).isEmpty)
        #expect(Overview.daysLeft(Self.days(-0.1), now: Self.now) == -1)
        #expect(Overview.daysLeft(Self.days(0.9), now: Self.now) == 0)
    }
}

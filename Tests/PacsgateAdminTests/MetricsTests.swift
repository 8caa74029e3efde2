import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import PacsgateAdmin
import PacsgateCore
import PacsgateTestSupport
import Testing

/// `/metrics` in the Prometheus text format, read with the reference parser (`prometheus_client`).
@Suite("Metrics")
struct MetricsTests {
    static let bearer: HTTPFields = [.authorization: "Bearer \(AdminHarness.token)"]

    static func scrape(_ client: some TestClientProtocol) async throws -> [String: Double] {
        let response = try await client.execute(uri: "/metrics", method: .get, headers: Self.bearer)
        #expect(response.status == .ok)
        #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
        return try await ExternalTools.parsePrometheus(response.text)
    }

    /// Audit records as the protocol modules write them (field names from their record types).
    static func association(outcome: String, calling: String = "MODALITY1") -> AuditRecord {
        ActivityRecords.association(calling: calling, outcome: outcome).auditRecord
    }

    static func hl7(type: String, ack: String) -> AuditRecord {
        ActivityRecords.hl7Message(type: type, ack: ack).auditRecord
    }

    static func tls(sni: String?) -> AuditRecord {
        ActivityRecords.tls(sni: sni).auditRecord
    }

    @Test("/metrics parses with prometheus_client and its counters move with traffic and audit records")
    func countersMove() async throws {
        let a = try await TestBackend.start("A")
        let b = try await TestBackend.start("B")
        let harness = try await AdminHarness.start(yaml: "services:\n" + serviceYAML("SVC", port: try Ports.free(), backends: [a, b]))
        let port = try #require(await harness.gateway.listenAddress(of: "SVC")?.port)
        try await harness.application.test(.router) { client in
            let before = try await Self.scrape(client)
            let key = #"pacsgate_server_connections_total{server="A",service="SVC"}"#
            #expect(before[key] == 0, "\(before.keys.sorted().prefix(40))")
            #expect(before[#"pacsgate_server_up{server="A",service="SVC"}"#] == 1)
            #expect(before[#"pacsgate_server_admin_state{server="A",service="SVC",state="online"}"#] == 1)
            #expect(before[#"pacsgate_service_available{service="SVC"}"#] == 1)
            #expect(before["pacsgate_audit_log_ok{}"] == 1)

            for _ in 0..<6 { _ = try await TestClient.identify(port: port) }
            try await harness.audit.writeAndWait(Self.association(outcome: "released"))
            try await harness.audit.writeAndWait(Self.association(outcome: "rejected-by-gateway"))
            try await harness.audit.writeAndWait(Self.hl7(type: "ADT^A01", ack: "AA"))
            try await harness.audit.writeAndWait(Self.hl7(type: "ADT^A01", ack: "AE"))
            try await harness.audit.writeAndWait(Self.tls(sni: "pacs.example.org"))
            try await harness.audit.writeAndWait(Self.tls(sni: nil))

            let after = try await Self.scrape(client)
            #expect(after[key] == 3, "round robin sent three of six connections to A")
            #expect(after[#"pacsgate_server_connections_total{server="B",service="SVC"}"#] == 3)
            #expect(after[#"pacsgate_dicom_associations_total{outcome="released",service="SVC"}"#] == 1)
            #expect(after[#"pacsgate_dicom_associations_total{outcome="rejected-by-gateway",service="SVC"}"#] == 1)
            #expect(after[#"pacsgate_hl7_messages_total{ack_code="AE",message_type="ADT^A01",service="SVC"}"#] == 1)
            #expect(after[#"pacsgate_tls_connections_total{service="SVC",sni="pacs.example.org"}"#] == 1)
            #expect(after[#"pacsgate_tls_connections_total{service="SVC",sni="(none)"}"#] == 1)
            #expect(!after.keys.contains { $0.contains("MODALITY1") }, "AE titles never become labels")

            // A drained server's state series flips.
            _ = try await client.execute(
                uri: "/api/v1/services/SVC/servers/A/state", method: .post, headers: Self.bearer.merging([.contentType: "application/json"]),
                body: ByteBuffer(string: #"{"state":"drain"}"#))
            let drained = try await Self.scrape(client)
            #expect(drained[#"pacsgate_server_admin_state{server="A",service="SVC",state="drain"}"#] == 1)
            #expect(drained[#"pacsgate_server_admin_state{server="A",service="SVC",state="online"}"#] == 0)
            #expect(drained[key] == 3, "a counter read twice without traffic does not move")
        }
        await harness.stop()
        await a.kill()
        await b.kill()
    }

    @Test("label values from the wire are capped per service: 200 distinct SNI make at most 32 series")
    func boundedCardinality() async throws {
        let a = try await TestBackend.start("A")
        let harness = try await AdminHarness.start(yaml: "services:\n" + serviceYAML("SVC", port: try Ports.free(), backends: [a]))
        for index in 0..<200 { harness.audit.write(Self.tls(sni: "host\(index).example.org")) }
        for index in 0..<200 { harness.audit.write(Self.hl7(type: "Z\(index)^Z\(index)", ack: "X\(index)")) }
        try await harness.audit.writeAndWait(Self.tls(sni: "last.example.org"))
        try await harness.application.test(.router) { client in
            let samples = try await Self.scrape(client)
            let sni = samples.filter { $0.key.hasPrefix("pacsgate_tls_connections_total{") }
            #expect(sni.count == ActivityState.labelCap)
            #expect(sni.values.reduce(0, +) == 201, "nothing is lost: the rest is counted as (other)")
            #expect(sni[#"pacsgate_tls_connections_total{service="SVC",sni="(other)"}"#] ?? 0 > 100)
            let hl7 = samples.filter { $0.key.hasPrefix("pacsgate_hl7_messages_total{") }
            #expect(hl7.count <= ActivityState.labelCap, "message types are capped")
            #expect(hl7.keys.allSatisfy { $0.contains(#"ack_code="(other)""#) }, "unknown ack codes are not labels")
        }
        await harness.stop()
        await a.kill()
    }
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var result = self
        for field in other { result.append(field) }
        return result
    }
}

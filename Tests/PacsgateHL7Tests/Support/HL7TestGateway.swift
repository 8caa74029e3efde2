import Foundation
import Logging
import NIOCore
import NIOPosix
import PacsgateConfig
import Testing
import PacsgateTestSupport

@testable import PacsgateCore
@testable import PacsgateHL7

/// A real in-process gateway on loopback with one `HL7` service, built from YAML by the real configuration
/// loader, with its audit log in a file of the test's directory.
struct HL7TestGateway {
    let gateway: Gateway
    let audit: AuditLog
    let auditPath: String
    let logs: LogRecorder

    /// 2025-01-01T12:00:00Z: the gateway's wall clock in these tests, so NAK bytes are exact.
    static let noon = WallClock.Instant(millisecondsSinceEpoch: 1_735_732_800_000)

    /// The module with a fixed clock and NAK control IDs `PGT-1`, `PGT-2`, … on every connection.
    static func module() -> HL7Module {
        HL7Module(clock: { noon }, connectionTag: { "T" })
    }

    /// Starts the gateway. `serverPorts` become servers `HL71`, `HL72`, …; `extra` holds more lines of the
    /// service mapping (already indented by four spaces), e.g. `    on_invalid: close`.
    static func start(
        serverPorts: [Int],
        extra: String = "",
        in directory: TemporaryDirectory
    ) async throws
        -> HL7TestGateway
    {
        let auditPath = directory.file("audit.jsonl")
        var servers = ""
        for (index, port) in serverPorts.enumerated() {
            servers += "      - { label: HL7\(index + 1), address: \"127.0.0.1:\(port)\" }\n"
        }
        let yaml = """
            services:
              - label: HL7
                listen: "127.0.0.1:1"
                protocol: hl7
                connect_timeout: 5s
            \(extra)
                servers:
            \(servers)
            audit: { path: "\(auditPath)", fsync: every }
            """
        let loader = ConfigurationLoader(registry: ProtocolRegistry.gateway([Self.module()]))
        let configuration: GatewayConfiguration
        switch loader.load(yaml: yaml) {
        case .success(let loaded): configuration = loaded.0
        case .failure(let errors): throw PeerFailure("configuration rejected: \(errors)\n\(yaml)")
        }
        let logs = LogRecorder()
        let started = try await GatewayUnderTest.inProcess(
            configuration, loopback: true, logger: logs.logger(label: "pacsgate-hl7-test"))
        return HL7TestGateway(gateway: started.gateway, audit: started.audit, auditPath: auditPath, logs: logs)
    }

    func port() async throws -> Int {
        guard let port = await self.gateway.listenAddress(of: "HL7")?.port else {
            throw PeerFailure("service HL7 not listening")
        }
        return port
    }

    func runtime() async throws -> ServiceRuntime {
        guard let runtime = await self.gateway.service("HL7") else { throw PeerFailure("no service HL7") }
        return runtime
    }

    /// The audit file's raw text (records are only there once durable).
    func auditText() -> String {
        (try? String(contentsOfFile: self.auditPath, encoding: .utf8)) ?? ""
    }

    /// The audit file's records, optionally only those of `event`, in file order.
    func auditRecords(_ event: String? = nil) -> [[String: Any]] {
        self.auditText().split(separator: "\n").compactMap { line in
            guard let data = line.data(using: .utf8),
                let record = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            else { return nil }
            if let event, record["event"] as? String != event { return nil }
            return record
        }
    }

    /// Waits until the audit file holds `count` records of `event`; returns them.
    func awaitRecords(_ event: String, count: Int, timeout: Duration = .seconds(30)) async -> [[String: Any]] {
        _ = await eventually(timeout: timeout) { self.auditRecords(event).count >= count }
        return self.auditRecords(event)
    }

    func stop() async {
        await self.gateway.shutdown(grace: .seconds(2))
        await self.audit.shutdown()
    }
}


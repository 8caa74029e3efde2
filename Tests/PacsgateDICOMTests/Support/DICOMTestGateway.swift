import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PacsgateConfig
import PacsgateCore
import PacsgateDICOM
import PacsgateTestSupport
import Testing

/// A real in-process gateway with the DICOM module, configured from YAML, its audit log in the test's directory.
struct DICOMTestGateway {
    let gateway: Gateway
    let audit: AuditLog
    let auditPath: String
    let logs: LogRecorder

    /// Loads `services` (the YAML list under `services:`) and starts the gateway. Every service listens on
    /// 127.0.0.1 and a free port whatever its `listen:` says.
    static func start(services: String, scope: TestScope) async throws -> DICOMTestGateway {
        let auditPath = "\(scope.directory)/audit.jsonl"
        let yaml = "services:\n\(services)\naudit: { path: \"\(auditPath)\", fsync: every }\n"
        let logs = LogRecorder()
        let logger = Logger(label: "pacsgate-dicom-test") { _ in logs.handler() }
        let started = try await GatewayUnderTest.inProcess(yaml: yaml, registry: ProtocolRegistry.gateway([DICOMModule()]), logger: logger, scope: scope)
        return DICOMTestGateway(gateway: started.gateway, audit: started.audit, auditPath: auditPath, logs: logs)
    }

    /// The port a service listens on.
    func port(_ service: String = "DICOM") async throws -> Int {
        let port = try #require(await self.gateway.listenAddress(of: service)?.port, "service \(service) not listening")
        return port
    }

    /// The runtime of a service (its server pool, for health).
    func runtime(_ service: String = "DICOM") async throws -> ServiceRuntime {
        try #require(await self.gateway.service(service), "no service \(service)")
    }

    /// Every record in the audit file (each line parsed as JSON), optionally only those of `event`.
    func records(_ event: PacsgateCore.AuditEvent? = nil) throws -> [AuditRecord] {
        guard let text = try? String(contentsOfFile: self.auditPath, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return AuditRecord(fields: try #require(object as? [String: Any], "audit line is not an object: \(line)"))
        }.filter { event == nil || $0.string("event") == event?.name }
    }

    /// Waits until the audit file holds `count` end records, and returns them.
    func associationRecords(count: Int, timeout: Duration = .seconds(30)) async throws -> [AuditRecord] {
        _ = try await eventually(timeout: timeout) { try self.records(AssociationRecord.event).count >= count }
        let records = try self.records(AssociationRecord.event)
        #expect(records.count == count, "expected \(count) dicom.association records, found \(records.count)")
        return records
    }
}

/// One parsed audit line.
struct AuditRecord: @unchecked Sendable {
    // Values from JSONSerialization (strings, NSNumber, arrays, dictionaries, NSNull); only read.
    let fields: [String: Any]

    func string(_ key: String) -> String? { self.fields[key] as? String }
    func int(_ key: String) -> Int? { (self.fields[key] as? NSNumber)?.intValue }
    func bool(_ key: String) -> Bool? { (self.fields[key] as? NSNumber)?.boolValue }
    func isNull(_ key: String) -> Bool { self.fields[key] is NSNull }
    func has(_ key: String) -> Bool { self.fields[key] != nil }
    func object(_ key: String) -> AuditRecord? {
        (self.fields[key] as? [String: Any]).map { AuditRecord(fields: $0) }
    }
    func objects(_ key: String) -> [AuditRecord] {
        ((self.fields[key] as? [Any]) ?? []).compactMap { ($0 as? [String: Any]).map { AuditRecord(fields: $0) } }
    }
    var keys: [String] { Array(self.fields.keys) }
}

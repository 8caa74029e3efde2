import Foundation
import Logging
import PacsgateCore
import PacsgateDICOM
import PacsgateHL7
import PacsgateTLS
import PacsgateTestSupport
import Testing

/// A real in-process gateway with the modules as the executable registers them (DICOM and HL7 with the TLS module's
/// termination, and the TLS module), its audit log in the test's directory and its log lines in memory.
struct SecureGateway {
    let gateway: Gateway
    let audit: AuditLog
    let auditPath: String
    let logs: LogRecorder

    static var registry: ProtocolRegistry {
        ProtocolRegistry.gateway([
            DICOMModule(secureTransport: TLSModule.secureTransport),
            HL7Module(secureTransport: TLSModule.secureTransport),
            TLSModule(),
        ])
    }

    /// Starts the services of `services` (the YAML list under `services:`), each on 127.0.0.1 and a free port.
    static func start(services: String, scope: TestScope) async throws -> SecureGateway {
        let auditPath = "\(scope.directory)/audit.jsonl"
        let yaml = "services:\n\(services)\naudit: { path: \"\(auditPath)\", fsync: every }\n"
        let logs = LogRecorder()
        let logger = Logger(label: "pacsgate-secure-test") { _ in logs.handler() }
        let started = try await GatewayUnderTest.inProcess(yaml: yaml, registry: Self.registry, logger: logger, scope: scope)
        return SecureGateway(gateway: started.gateway, audit: started.audit, auditPath: auditPath, logs: logs)
    }

    func port(_ service: String) async throws -> Int {
        try #require(await self.gateway.listenAddress(of: service)?.port, "service \(service) not listening")
    }

    func runtime(_ service: String) async throws -> ServiceRuntime {
        try #require(await self.gateway.service(service), "no service \(service)")
    }

    /// Every audit record so far (optionally of one `event`), parsed.
    func records(_ event: String? = nil) throws -> [Record] {
        guard let text = try? String(contentsOfFile: self.auditPath, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return Record(fields: try #require(object as? [String: Any], "not an object: \(line)"), line: String(line))
        }.filter { event == nil || $0.string("event") == event }
    }

    /// Waits until `count` records of `event` are durable, and returns all of them.
    func records(_ event: String, count: Int, timeout: Duration = .seconds(30)) async throws -> [Record] {
        _ = try await eventually(timeout: timeout) { try self.records(event).count >= count }
        let records = try self.records(event)
        #expect(records.count == count, "expected \(count) \(event) records, found \(records.count): \(records)")
        return records
    }

    /// Waits until a service has no open connection (its records are then written).
    func waitUntilIdle(_ service: String) async throws {
        let runtime = try await self.runtime(service)
        let idle = await eventually { runtime.connections.count == 0 }
        #expect(idle, "\(service) still has \(runtime.connections.count) connections")
    }
}

/// One parsed audit line.
struct Record: @unchecked Sendable, CustomStringConvertible {
    // Values from JSONSerialization (strings, NSNumber, arrays, dictionaries, NSNull); only read.
    let fields: [String: Any]
    let line: String

    func string(_ key: String) -> String? { self.fields[key] as? String }
    func int(_ key: String) -> Int? { (self.fields[key] as? NSNumber)?.intValue }
    func isNull(_ key: String) -> Bool { self.fields[key] is NSNull }
    func has(_ key: String) -> Bool { self.fields[key] != nil }
    func strings(_ key: String) -> [String]? { self.fields[key] as? [String] }
    func object(_ key: String) -> Record? {
        (self.fields[key] as? [String: Any]).map { Record(fields: $0, line: "") }
    }
    var description: String { self.line }
}

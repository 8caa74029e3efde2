import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PacsgateConfig
import PacsgateCore
import PacsgateDICOM
import PacsgateHL7
import PacsgateTLS
import PacsgateTestSupport
import Testing

/// A real in-process gateway with every protocol module, configured from YAML, its audit log in the test's directory.
struct RelGateway {
    let gateway: Gateway
    let audit: AuditLog
    let auditPath: String
    let logs: LogRecorder

    static let registry = ProtocolRegistry.gateway([DICOMModule(), HL7Module(), TLSModule()])

    /// Loads `services` (the YAML list under `services:`) and starts the gateway. Every service listens on
    /// 127.0.0.1 and a free port whatever its `listen:` says. `audit` is the YAML mapping under `audit:` without
    /// its `path` (the path is `auditPath`, default `<scope>/audit.jsonl`).
    static func start(
        services: String,
        audit auditYAML: String = "fsync: every",
        auditPath: String? = nil,
        scope: TestScope,
        logHandler: (@Sendable (String) -> any LogHandler)? = nil
    ) async throws -> RelGateway {
        let auditPath = auditPath ?? "\(scope.directory)/audit.jsonl"
        let yaml = "services:\n\(services)\naudit: { path: \"\(auditPath)\", \(auditYAML) }\n"
        let logs = LogRecorder()
        let logger = Logger(label: "pacsgate-rel-test") { label in logHandler?(label) ?? logs.handler() }
        let started = try await GatewayUnderTest.inProcess(yaml: yaml, registry: Self.registry, logger: logger, scope: scope)
        return RelGateway(gateway: started.gateway, audit: started.audit, auditPath: auditPath, logs: logs)
    }

    /// The port a service listens on.
    func port(_ service: String) async throws -> Int {
        try #require(await self.gateway.listenAddress(of: service)?.port, "service \(service) not listening")
    }

    /// The runtime of a service (its server pool, connection registry and counters).
    func runtime(_ service: String) async throws -> ServiceRuntime {
        try #require(await self.gateway.service(service), "no service \(service)")
    }

    /// Whether a service holds no connection any more: its active-connections gauge and its registry are zero.
    func drained(_ service: String, timeout: Duration = .seconds(20)) async throws -> Bool {
        let runtime = try await self.runtime(service)
        return await eventually(timeout: timeout) {
            runtime.stats.activeConnections == 0 && runtime.connections.count == 0
        }
    }

    /// Every record in the audit file, optionally only those of `event`.
    func records(_ event: String? = nil) throws -> [AuditRecord] {
        try AuditRecord.read(self.auditPath, event: event)
    }

    /// Waits until the audit file holds `count` records of `event`, and returns them.
    func records(_ event: String, count: Int, timeout: Duration = .seconds(30)) async throws -> [AuditRecord] {
        _ = try await eventually(timeout: timeout) { try self.records(event).count >= count }
        let records = try self.records(event)
        #expect(records.count == count, "expected \(count) \(event) records, found \(records.count)")
        return records
    }
}

/// One parsed audit line.
struct AuditRecord: @unchecked Sendable {
    // Values from JSONSerialization (strings, NSNumber, arrays, dictionaries, NSNull); only read.
    let fields: [String: Any]

    func string(_ key: String) -> String? { self.fields[key] as? String }
    func int(_ key: String) -> Int? { (self.fields[key] as? NSNumber)?.intValue }

    /// Every line of an audit file parsed as a JSON object; a line that is not one fails the test.
    static func read(_ path: String, event: String? = nil) throws -> [AuditRecord] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap {
            index, line in
            if line.isEmpty {
                // Only the end of the file may be empty (the last line's newline).
                #expect(index == text.split(separator: "\n", omittingEmptySubsequences: false).count - 1)
                return nil
            }
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return AuditRecord(fields: try #require(object as? [String: Any], "audit line is not an object: \(line)"))
        }.filter { event == nil || $0.string("event") == event }
    }
}

/// Captured bytes from the other test targets' fixtures (read by path: this target has no resources).
enum Fixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The bytes of `Tests/<target>/Fixtures/<name>`.
    static func bytes(_ target: String, _ name: String) throws -> ByteBuffer {
        let url = Self.root.appendingPathComponent("\(target)/Fixtures/\(name)")
        return ByteBuffer(bytes: try Data(contentsOf: url))
    }

    /// The first PDU of a captured DICOM stream (the A-ASSOCIATE-RQ of a `.client.bin`).
    static func firstPDU(_ name: String) throws -> ByteBuffer {
        let stream = try bytes("PacsgateDICOMTests", "\(name).bin")
        let length = try #require(stream.getInteger(at: 2, as: UInt32.self))
        return try #require(stream.getSlice(at: 0, length: 6 + Int(length)))
    }
}

/// The A-ABORT the gateway sends when it ends an association itself: source 2 (service provider), reason 0.
let gatewayAbortBytes: [UInt8] = [0x07, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x02, 0x00]

/// The process's resident set size in KiB (from /proc/self/status).
func residentKiB() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return 0
}

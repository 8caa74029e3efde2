import Foundation
import Logging
import NIOCore
import NIOPosix
import PacsgateConfig
import PacsgateCore
import PacsgateTLS
import PacsgateTestSupport

/// A gateway running in-process on loopback with the TLS module, configured from YAML (every service listens on
/// 127.0.0.1 and a free port), its logs and audit records kept in memory.
struct TLSTestGateway {
    let gateway: Gateway
    let audit: AuditLog
    let logs: LogRecorder

    /// Loads `yaml` with the TLS module registered and starts the gateway.
    static func start(yaml: String, audit: AuditConfiguration = AuditConfiguration()) async throws -> TLSTestGateway {
        var configuration = try loadConfiguration(yaml)
        configuration.audit = audit
        let logs = LogRecorder()
        let started = try await GatewayUnderTest.inProcess(
            configuration, loopback: true, logger: logs.logger(label: "pacsgate-tls-test"))
        return TLSTestGateway(gateway: started.gateway, audit: started.audit, logs: logs)
    }

    /// The configuration `yaml` describes, or a failure listing every problem.
    static func loadConfiguration(_ yaml: String) throws -> GatewayConfiguration {
        switch ConfigurationLoader(registry: ProtocolRegistry.gateway([TLSModule()])).load(yaml: yaml) {
        case .success(let (configuration, _)):
            return configuration
        case .failure(let errors):
            throw TestFailure("configuration rejected:\n\(errors)")
        }
    }

    func port(_ service: String = "HTTPS") async throws -> Int {
        guard let port = await self.gateway.listenAddress(of: service)?.port else {
            throw TestFailure("service \(service) is not listening")
        }
        return port
    }

    func runtime(_ service: String = "HTTPS") async throws -> ServiceRuntime {
        guard let runtime = await self.gateway.service(service) else { throw TestFailure("no service \(service)") }
        return runtime
    }

    /// The `tls.connection` audit records so far, oldest first.
    func auditRecords() -> [AuditRecord] {
        self.audit.recent(limit: 1000, event: "tls.connection").compactMap(AuditRecord.init(line:))
    }

    /// Waits until `count` `tls.connection` records exist and returns them.
    func waitForAuditRecords(_ count: Int, timeout: Duration = .seconds(30)) async throws -> [AuditRecord] {
        let arrived = await eventually(timeout: timeout) { self.auditRecords().count >= count }
        let records = self.auditRecords()
        guard arrived else {
            throw TestFailure("expected \(count) tls.connection audit records, found \(records.count): \(records)")
        }
        return records
    }

    /// Waits until the service has no open connection.
    func waitUntilIdle(_ service: String = "HTTPS") async throws {
        let runtime = try await self.runtime(service)
        guard await eventually({ runtime.connections.count == 0 }) else {
            throw TestFailure("service \(service) still has \(runtime.connections.count) open connections")
        }
    }

    func stop() async {
        await self.gateway.shutdown(grace: .seconds(2))
        await self.audit.shutdown()
    }
}

/// Starts a gateway for `body` and always stops it.
func withGateway<T>(
    yaml: String,
    audit: AuditConfiguration = AuditConfiguration(),
    _ body: (TLSTestGateway) async throws -> T
) async throws -> T {
    let gateway = try await TLSTestGateway.start(yaml: yaml, audit: audit)
    do {
        let result = try await body(gateway)
        await gateway.stop()
        return result
    } catch {
        await gateway.stop()
        throw error
    }
}

/// One audit line, parsed.
struct AuditRecord: CustomStringConvertible, @unchecked Sendable {
    let fields: [String: Any]
    let line: String

    init?(line: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            return nil
        }
        self.fields = object
        self.line = line
    }

    subscript(key: String) -> String? { self.fields[key] as? String }
    func list(_ key: String) -> [String]? { self.fields[key] as? [String] }
    func int(_ key: String) -> Int? { (self.fields[key] as? NSNumber)?.intValue }
    func isNull(_ key: String) -> Bool { self.fields[key] is NSNull }
    /// The `server` object (`{"label":…,"address":…}`) as `LABEL@address`; nil when absent, null or not that shape.
    var server: String? {
        guard let object = self.fields["server"] as? [String: Any], let label = object["label"] as? String,
            let address = object["address"] as? String
        else { return nil }
        return "\(label)@\(address)"
    }
    var description: String { self.line }
}

enum ConfigurationLoaderHelper {
    /// Every problem of `yaml` as `LINE: message` lines; empty when it loads.
    static func load(_ yaml: String) -> String {
        switch ConfigurationLoader(registry: ProtocolRegistry.gateway([TLSModule()])).load(yaml: yaml) {
        case .success: return ""
        case .failure(let errors): return errors.description
        }
    }
}

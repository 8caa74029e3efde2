import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import PacsgateAdmin
import PacsgateAuditIndex
import PacsgateConfig
import PacsgateCore
import PacsgateTestSupport

/// A gateway running in-process from a YAML file on disk, with the admin routes over it: what `pacsgate run` builds,
/// minus the signal handling.
struct AdminHarness {
    let gateway: Gateway
    let audit: AuditLog
    let manager: ConfigurationManager
    let routes: AdminRoutes
    let configuration: AdminConfiguration
    let directory: URL
    let configPath: String
    let metrics: AdminMetrics
    /// The audit log's search index (``start(yaml:admin:searchIndex:logs:prepare:)`` with `searchIndex: true`).
    let auditIndex: AuditIndex?

    static let logger: Logger = {
        var logger = Logger(label: "pacsgate-admin-test")
        logger.logLevel = .warning
        return logger
    }()

    /// The loader the tests validate with (no protocol modules: services forward plain TCP).
    static let loader = ConfigurationLoader(registry: ProtocolRegistry.gateway([]))

    /// A password for test users, hashed at bcrypt's lowest cost to keep tests fast.
    static let password = "correct horse battery staple"
    static let passwordHash: String = (try? PasswordHasher.hash(password, cost: 4)) ?? ""
    /// A bearer token in `admin.tokens` with scope `admin`.
    static let token = "test-token-0123456789-abcdefghij"
    /// One more token per lower scope: `metrics`, `read`, `operate`.
    static let scopedTokens: [APIToken.Scope: String] = [
        .metrics: "metrics-token-0123456789-abcdefgh", .read: "read-token-0123456789-abcdefghij",
        .operate: "operate-token-0123456789-abcdefgh",
    ]

    static var defaultAdmin: AdminConfiguration {
        AdminConfiguration(
            listen: Endpoint(host: "127.0.0.1", port: 0), users: [AdminUser(name: "alice", passwordHash: passwordHash)],
            tokens: [APIToken(name: "ci", digest: APIToken.Digest(of: token), scope: .admin)]
                + scopedTokens.map { APIToken(name: $0.key.rawValue, digest: APIToken.Digest(of: $0.value), scope: $0.key) })
    }

    /// Writes `yaml` to a fresh directory, loads it and starts a gateway with the admin routes. `prepare` runs on
    /// the directory before the audit log opens `audit.jsonl` in it (a test may make that path lead elsewhere).
    /// `searchIndex` adds the audit search index over `audit.jsonl`; `logs` the recent log lines of the logs page.
    static func start(
        yaml: String, admin: AdminConfiguration = AdminHarness.defaultAdmin, searchIndex: Bool = false,
        logs: RecentLogLines? = nil, prepare: (URL) throws -> Void = { _ in }
    ) async throws -> AdminHarness {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pacsgate-admin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try prepare(directory)
        let path = directory.appendingPathComponent("pacsgate.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        guard case .success(let (configuration, _)) = Self.loader.load(yaml: yaml) else {
            throw HarnessError("test configuration does not validate: \(Self.loader.load(yaml: yaml))")
        }
        let auditPath = directory.appendingPathComponent("audit.jsonl").path
        var withAudit = configuration
        withAudit.audit = AuditConfiguration(path: auditPath)
        let started = try await GatewayUnderTest.inProcess(withAudit, logger: logger)
        let (gateway, audit) = (started.gateway, started.audit)
        let manager = ConfigurationManager(
            gateway: gateway, loader: loader, audit: audit, logger: logger, path: path, runningText: yaml,
            backupDirectory: directory.appendingPathComponent("backups").path)
        let metrics = AdminMetrics()
        let auditIndex = searchIndex ? AuditIndex(location: .init(logPath: auditPath), logger: logger) : nil
        // As the gateway wires it: the writer hands the index each record's place and fields.
        if let auditIndex { audit.addPlacementObserver { auditIndex.take($0) } }
        let server = try AdminServer(
            configuration: admin, gateway: gateway, manager: manager, metrics: metrics, tls: nil, logger: logger,
            history: TrafficHistory(interval: .milliseconds(200)), features: AdminFeatures(auditIndex: auditIndex, logs: logs))
        return AdminHarness(
            gateway: gateway, audit: audit, manager: manager, routes: server.routes, configuration: admin,
            directory: directory, configPath: path, metrics: metrics, auditIndex: auditIndex)
    }

    /// A Hummingbird application over the routes, for `app.test(.router)`.
    var application: some ApplicationProtocol {
        Application(router: self.routes.makeRouter(), logger: Self.logger)
    }

    func stop() async {
        await self.gateway.shutdown(grace: .seconds(2))
        await self.audit.shutdown()
        await self.auditIndex?.shutdown()
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// The audit records of `event` written so far, as JSON objects.
    func auditRecords(_ event: String) -> [[String: Any]] {
        self.audit.recent(limit: 1000, event: AuditEvent(event)).compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A YAML service block for `backends` listening on `port`.
func serviceYAML(
    _ label: String, port: Int, protocolName: String = "tcp", backends: [TestBackend], weight: Int = 100, extra: String = ""
) -> String {
    var text = """
          - label: \(label)
            listen: "127.0.0.1:\(port)"
            protocol: \(protocolName)
            balance: roundrobin
        \(extra.isEmpty ? "" : "    " + extra + "\n")    servers:

        """
    for backend in backends {
        text += "          - { label: \(backend.label), address: \"127.0.0.1:\(backend.port)\", weight: \(weight) }\n"
    }
    return text
}

extension TestResponse {
    /// The body as text.
    var text: String { String(buffer: self.body) }

    /// The body as a JSON object.
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(self.text.utf8))) as? [String: Any] ?? [:]
    }
}

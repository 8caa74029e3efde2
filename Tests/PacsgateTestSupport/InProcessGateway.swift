package import Logging
import NIOPosix
import PacsgateConfig
package import PacsgateCore
import Testing

/// Loads `yaml` with `registry` and starts a real gateway in this process: every service listens on 127.0.0.1
/// and a free port whatever its `listen:` says, the audit log is started first, and both are shut down when `scope`
/// ends. A configuration the loader refuses is recorded as an issue of the calling test and thrown.
package func startInProcessGateway(
    yaml: String,
    registry: ProtocolRegistry,
    logger: Logger,
    scope: TestScope
) async throws -> (gateway: Gateway, audit: AuditLog) {
    let configuration: GatewayConfiguration
    switch ConfigurationLoader(registry: registry).load(yaml: yaml) {
    case .success(let (loaded, _)): configuration = loaded
    case .failure(let errors):
        Issue.record("configuration refused:\n\(errors.formatted(file: "test.yaml"))")
        throw errors
    }
    var services = configuration.services
    for index in services.indices { services[index].listen = Endpoint(host: "127.0.0.1", port: 0) }
    let audit = AuditLog(configuration: configuration.audit, logger: logger)
    try audit.start()
    let gateway = TestEngine.gateway(
        configuration: GatewayConfiguration(services: services, audit: configuration.audit), audit: audit,
        logger: logger)
    do {
        try await gateway.start()
    } catch {
        await audit.shutdown()
        throw error
    }
    await scope.onCleanup {
        await gateway.shutdown(grace: .seconds(2))
        await audit.shutdown()
    }
    return (gateway, audit)
}

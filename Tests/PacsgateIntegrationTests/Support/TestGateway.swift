import Logging
import NIOCore
import NIOPosix
import PacsgateTestSupport
@testable import PacsgateCore

/// A gateway running in-process on loopback, torn down by `stop()`.
struct TestGateway {
    let gateway: Gateway
    let audit: AuditLog

    static let logger: Logger = {
        var logger = Logger(label: "pacsgate-test")
        logger.logLevel = .info
        return logger
    }()

    /// Starts a gateway with the given services (listening on 127.0.0.1 and a free port unless set).
    static func start(_ services: [ServiceConfiguration], audit: AuditConfiguration = AuditConfiguration()) async throws -> TestGateway {
        let started = try await GatewayUnderTest.inProcess(GatewayConfiguration(services: services, audit: audit), logger: logger)
        return TestGateway(gateway: started.gateway, audit: started.audit)
    }

    /// A service listening on a free loopback port.
    static func service(
        _ label: String = "SVC", servers: [ServerConfigurationStub], balance: BalanceMethod = .roundrobin,
        persistence: PersistenceKind = .none, healthCheck: HealthCheckConfiguration = HealthCheckConfiguration(),
        maxConnections: Int = 10_000, timeouts: ServiceTimeouts = ServiceTimeouts(connect: .seconds(30))
    ) -> ServiceConfiguration {
        ServiceConfiguration(
            label: label, listen: Endpoint(host: "127.0.0.1", port: 0), balance: balance,
            persistence: PersistenceConfiguration(type: persistence), healthCheck: healthCheck,
            servers: servers.map {
                ServerConfiguration(label: $0.label, endpoint: Endpoint(host: $0.host, port: $0.port), weight: $0.weight)
            },
            maxConnections: maxConnections, timeouts: timeouts)
    }

    func port(_ service: String = "SVC") async throws -> Int {
        guard let port = await self.gateway.listenAddress(of: service)?.port else {
            throw TestClient.Failure(description: "service \(service) not listening")
        }
        return port
    }

    func runtime(_ service: String = "SVC") async throws -> ServiceRuntime {
        guard let runtime = await self.gateway.service(service) else {
            throw TestClient.Failure(description: "no service \(service)")
        }
        return runtime
    }

    func stop() async {
        await self.gateway.shutdown(grace: .seconds(2))
        await self.audit.shutdown()
    }
}


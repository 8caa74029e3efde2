import Logging
import NIOCore

/// Runs one server's health checks every `interval` until cancelled, feeding the pool's rise/fall state machine and
/// logging every change of state at `notice` with the reason.
enum HealthMonitor {
    static func run(
        server: ServerConfiguration, check: any HealthCheck, settings: HealthCheckConfiguration, pool: ServerPool,
        group: any EventLoopGroup, logger: Logger
    ) async {
        var lastDetail: String?
        while !Task.isCancelled {
            let result = await check.check(server.endpoint, timeout: settings.timeout, group: group)
            if Task.isCancelled { return }
            if let change = pool.recordHealth(server.label, result) {
                let level: Logger.Level = change == .up ? .notice : .warning
                logger.log(
                    level: level, "server is \(change.rawValue)",
                    metadata: [
                        "server": "\(server.label)", "address": "\(server.endpoint)", "check": "\(settings.type)",
                        "reason": "\(result.detail)",
                    ])
            } else if !result.succeeded, result.detail != lastDetail {
                logger.debug(
                    "health check failed", metadata: ["server": "\(server.label)", "reason": "\(result.detail)"])
            }
            lastDetail = result.detail
            try? await Task.sleep(for: settings.interval)
        }
    }
}

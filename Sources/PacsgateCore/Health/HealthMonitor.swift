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
        let clock = ContinuousClock()
        var next = clock.now
        while !Task.isCancelled {
            next += settings.interval
            let result = await ServerLegProxyHeader.$healthCheckVersion.withValue(server.sendProxy) {
                await check.check(server.endpoint, timeout: settings.timeout, group: group)
            }
            if Task.isCancelled { return }
            if let change = pool.recordHealth(server.label, result) {
                let level: Logger.Level = change == .up ? .notice : .warning
                logger.log(
                    level: level, "server is \(change.rawValue)",
                    metadata: [
                        "server": "\(server.label)", "address": "\(server.endpoint)", "check": "\(settings.type)",
                        "reason": "\(result.detail)",
                    ])
                Self.logBackupTier(pool, logger: logger)
            } else if !result.succeeded, result.detail != lastDetail {
                logger.debug(
                    "health check failed", metadata: ["server": "\(server.label)", "reason": "\(result.detail)"])
            }
            lastDetail = result.detail
            // Fixed rate: a check starts every `interval`, however long the previous one took (a slow check does
            // not stretch the time to detect a dead server beyond fall × interval).
            if next < clock.now { next = clock.now }
            try? await Task.sleep(until: next, clock: clock)
        }
    }

    /// Logs when the backup servers start or stop taking the new connections (after a health or state change).
    static func logBackupTier(_ pool: ServerPool, logger: Logger) {
        switch pool.backupTierChange() {
        case true?: logger.warning("no primary server takes new connections; the backup servers do")
        case false?: logger.notice("a primary server takes new connections again; the backup servers stand by")
        case nil: break
        }
    }
}

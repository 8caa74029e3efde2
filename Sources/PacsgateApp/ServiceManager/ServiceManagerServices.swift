import Logging
import PacsgateCore
import ServiceLifecycle

/// Tells the service manager `READY=1` once every listener is bound, and `STOPPING=1` the moment graceful shutdown
/// begins: the last service of the gateway's group, so the first one told to stop (the group stops its services in
/// reverse order, one after the other).
///
/// The services' listeners are bound and the audit log is open before the group runs; `listenersBound` waits for
/// those bound inside it (the admin server's first attempt, bound or failed; the HA link).
struct ServiceManagerNotices: Service {
    let notifier: ServiceManagerNotifier
    let gateway: Gateway
    let listenersBound: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown { await self.listenersBound() }
        if !Task.isShuttingDownGracefully, !Task.isCancelled {
            self.notifier.ready(status: await self.notifier.statusLine(self.gateway))
        }
        try? await gracefulShutdown()
        self.notifier.stopping()
    }
}

/// Pings the service manager's watchdog at half of `WATCHDOG_USEC` while ``LivenessProbe`` finds every event loop and
/// the audit writer answering, and keeps the status line current (also without a watchdog, every 10 s). Runs beside
/// the service group for the whole life of the gateway, the drain after SIGTERM included.
struct ServiceManagerHeartbeat: Sendable {
    let notifier: ServiceManagerNotifier
    let gateway: Gateway
    let probe: LivenessProbe
    let logger: Logger

    /// Until cancelled.
    func run() async {
        let watchdog = self.notifier.watchdogInterval
        let interval = watchdog ?? .seconds(10)
        let clock = ContinuousClock()
        var lastStatus = ""
        var silentBefore: [String] = []
        while !Task.isCancelled {
            let started = clock.now
            if watchdog != nil {
                // At most one interval: a probe that times out leaves the next round to start at once, and the
                // manager acts only after two intervals (WATCHDOG_USEC) without a ping.
                let silent = await self.probe.silentParts(within: interval)
                if Task.isCancelled { return }
                if silent.isEmpty {
                    self.notifier.watchdog()
                    if !silentBefore.isEmpty { self.logger.notice("liveness check passes again; watchdog pinged") }
                } else if silent != silentBefore {
                    self.logger.error(
                        "liveness check failed; watchdog not pinged (the service manager restarts the gateway if it lasts)",
                        metadata: ["silent": "\(silent.joined(separator: ","))", "timeout": "\(interval)"])
                }
                silentBefore = silent
            }
            let status = await self.notifier.statusLine(self.gateway)
            if status != lastStatus {
                self.notifier.status(status)
                lastStatus = status
            }
            try? await Task.sleep(until: started + interval, clock: clock)
        }
    }
}

/// Reported once by one task, awaited by another: the admin server's first attempt to listen, which the readiness
/// notice waits for.
final class FirstReport: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (self.stream, self.continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func report() {
        self.continuation.yield()
    }

    /// Returns at the first report (at once if it came already), or when the waiting task is cancelled.
    func wait() async {
        for await _ in self.stream { return }
    }
}

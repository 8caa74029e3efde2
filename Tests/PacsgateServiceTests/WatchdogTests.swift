import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PacsgateTestSupport
import Testing
@testable import PacsgateApp
@testable import PacsgateCore

#if canImport(Glibc)
import Glibc
#endif

/// The watchdog's liveness check for real: an event loop that is really blocked and an audit writer that is really
/// stuck in `write(2)` (its file is a FIFO nobody reads, like a hung disk) stop the pings; they resume when the
/// part answers again.
@Suite("systemd watchdog", .timeLimit(.minutes(3)))
struct WatchdogTests {
    static let interval = Duration.milliseconds(200)

    /// The heartbeat of a gateway (not started: its liveness is what is checked) pinging the test's socket.
    struct Rig {
        let group: MultiThreadedEventLoopGroup
        let audit: AuditLog
        let receiver: NotifyReceiver
        let logs: LogRecorder
        let heartbeat: Task<Void, Never>

        /// Waits for the heartbeat to log that `part` did not answer, then empties the socket: any ping after that
        /// was sent while the part was silent.
        func waitUntilSilent(_ part: String) async -> Bool {
            let logged = await eventually(timeout: .seconds(20), poll: .milliseconds(10)) {
                self.logs.all.contains { $0.message.hasPrefix("liveness check failed") && $0.metadata["silent"]?.contains(part) == true }
            }
            _ = self.receiver.drain()
            return logged
        }

        /// Waits for `count` pings (the status lines between them skipped); whether they came.
        func pingsArrive(_ count: Int = 2) async -> Bool {
            for _ in 0..<count {
                guard await self.receiver.next(timeout: .seconds(20), where: { $0["WATCHDOG"] == "1" }) != nil else { return false }
            }
            return true
        }

        /// Pings received within `window`.
        func pings(within window: Duration) async -> Int {
            let clock = ContinuousClock()
            let end = clock.now + window
            var count = 0
            while clock.now < end {
                if let text = await self.receiver.next(timeout: end - clock.now), Notification(text: text)["WATCHDOG"] == "1" { count += 1 }
            }
            return count
        }
    }

    static func rig(_ scope: TestScope, auditPath: String) async throws -> Rig {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let logs = LogRecorder()
        let logger = Logger(label: "watchdog-test") { _ in logs.handler() }
        let audit = AuditLog(configuration: AuditConfiguration(path: auditPath), logger: logger)
        try audit.start()
        let receiver = try NotifyReceiver(path: "\(scope.directory)/notify.sock")
        let gateway = Gateway(configuration: GatewayConfiguration(services: []), group: group, audit: audit, logger: logger)
        let notifier = ServiceManagerNotifier(
            socket: SystemdNotifySocket(address: .path(receiver.address)), watchdogInterval: Self.interval, logger: logger)
        let heartbeat = ServiceManagerHeartbeat(
            notifier: notifier, gateway: gateway, probe: LivenessProbe(group: group, audit: audit), logger: logger)
        return Rig(group: group, audit: audit, receiver: receiver, logs: logs, heartbeat: Task { await heartbeat.run() })
    }

    @Test("pings stop while an event loop is blocked and resume when it runs again")
    func blockedEventLoop() async throws {
        try await withTestScope { scope in
            let rig = try await Self.rig(scope, auditPath: "\(scope.directory)/audit.jsonl")
            #expect(await rig.pingsArrive(), "pings while everything answers")

            let blocked = ConditionLock(value: false)
            let loops = Array(rig.group.makeIterator())
            loops[1].execute {
                blocked.lock(whenValue: true)
                blocked.unlock()
            }
            #expect(await rig.waitUntilSilent("event loop 1"), "\(rig.logs.all.map(\.message))")
            #expect(await rig.pings(within: Self.interval * 8) == 0, "no ping while event loop 1 is blocked")

            blocked.lock()
            blocked.unlock(withValue: true)
            #expect(await rig.pingsArrive(), "pings resume")
            #expect(rig.logs.all.contains { $0.message == "liveness check passes again; watchdog pinged" })

            rig.heartbeat.cancel()
            await rig.heartbeat.value
            await rig.audit.shutdown()
            try await rig.group.shutdownGracefully()
        }
    }

    @Test("pings stop while the audit writer is stuck in a write and resume when the write completes")
    func stuckAuditWriter() async throws {
        try await withTestScope { scope in
            let fifo = "\(scope.directory)/audit.fifo"
            try #require(mkfifo(fifo, 0o600) == 0)
            let rig = try await Self.rig(scope, auditPath: fifo)
            #expect(await rig.pingsArrive(), "pings while everything answers")

            // More records than a pipe holds (64 KiB): the writer blocks in write(2), as on a hung disk.
            for index in 0..<3000 {
                var record = AuditLog.record(event: "test.filler")
                record.field("index", index)
                record.field("padding", String(repeating: "x", count: 40))
                rig.audit.write(record)
            }
            #expect(await rig.waitUntilSilent("audit writer"), "\(rig.logs.all.map(\.message))")
            #expect(await rig.pings(within: Self.interval * 8) == 0, "no ping while the audit writer is stuck")

            // A reader empties the FIFO: the write completes and the writer takes its queue again.
            let reading = ManagedAtomicFlag()
            let reader = Thread {
                let fd = open(fifo, O_RDONLY | O_NONBLOCK)
                defer { close(fd) }
                var buffer = [UInt8](repeating: 0, count: 65536)
                while !reading.isSet {
                    if buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) <= 0 { usleep(1000) }
                }
            }
            reader.start()
            #expect(await rig.pingsArrive(), "pings resume")

            rig.heartbeat.cancel()
            await rig.heartbeat.value
            await rig.audit.shutdown()
            reading.set()
            try await rig.group.shutdownGracefully()
        }
    }

    @Test("WATCHDOG_USEC: half of it, only for this process (WATCHDOG_PID), never zero")
    func watchdogInterval() {
        let pid = getpid()
        #expect(ServiceManagerNotifier.watchdogInterval(["WATCHDOG_USEC": "30000000"]) == .seconds(15))
        #expect(ServiceManagerNotifier.watchdogInterval(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(pid)"]) == .seconds(15))
        #expect(ServiceManagerNotifier.watchdogInterval(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(pid + 1)"]) == nil)
        #expect(ServiceManagerNotifier.watchdogInterval(["WATCHDOG_USEC": "0"]) == nil)
        #expect(ServiceManagerNotifier.watchdogInterval(["WATCHDOG_USEC": "soon"]) == nil)
        #expect(ServiceManagerNotifier.watchdogInterval([:]) == nil)
    }

    @Test("NOTIFY_SOCKET: a path, an abstract @name, nothing, or an address that is refused")
    func notifySocketAddress() throws {
        #expect(try SystemdNotifySocket(environment: ["NOTIFY_SOCKET": "/run/systemd/notify"])?.address == .path("/run/systemd/notify"))
        #expect(try SystemdNotifySocket(environment: ["NOTIFY_SOCKET": "@/org/freedesktop/systemd1/notify/1"])?.address
            == .abstract("/org/freedesktop/systemd1/notify/1"))
        #expect(try SystemdNotifySocket(environment: [:]) == nil)
        #expect(try SystemdNotifySocket(environment: ["NOTIFY_SOCKET": ""]) == nil)
        #expect(throws: SystemdNotifySocket.Failure.self) { try SystemdNotifySocket(environment: ["NOTIFY_SOCKET": "vsock:2:1234"]) }
        #expect(throws: SystemdNotifySocket.Failure.self) {
            try SystemdNotifySocket(environment: ["NOTIFY_SOCKET": "/" + String(repeating: "x", count: 120)])
        }
    }
}

/// A flag one thread sets and another polls.
final class ManagedAtomicFlag: Sendable {
    private let value = NIOLockedValueBox(false)
    var isSet: Bool { self.value.withLockedValue { $0 } }
    func set() { self.value.withLockedValue { $0 = true } }
}

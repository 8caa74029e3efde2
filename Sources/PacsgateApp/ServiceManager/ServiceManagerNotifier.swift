import Foundation
import Logging
import NIOConcurrencyHelpers
import PacsgateCore

#if canImport(Glibc)
import Glibc
#endif

/// Everything pacsgate tells a service manager (systemd's `Type=notify`): ready, reloading, stopping, a status line
/// and watchdog pings. Every notification of the process goes through this type; it exists only when `NOTIFY_SOCKET`
/// names a socket.
///
/// `Sendable`: the socket is immutable, the failure flag and the status notes are behind a lock.
final class ServiceManagerNotifier: Sendable {
    private let socket: SystemdNotifySocket
    /// How often to ping the watchdog: half of `WATCHDOG_USEC` (`nil`: no watchdog for this process).
    let watchdogInterval: Duration?
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    private struct State {
        /// The last send failed (logged once until a send works again).
        var failing = false
        /// Appended to the status line until replaced: the admin server's trouble, the last refused reload.
        var notes: [String: String] = [:]
        /// Graceful shutdown began: the status line counts what is left to finish.
        var stopping = false
    }

    init(socket: SystemdNotifySocket, watchdogInterval: Duration?, logger: Logger) {
        self.socket = socket
        self.watchdogInterval = watchdogInterval
        self.logger = logger
    }

    /// From the environment systemd sets: `NOTIFY_SOCKET`, and `WATCHDOG_USEC` (honoured only when `WATCHDOG_PID` is
    /// unset or this process). `nil` without a notify socket; an unusable one is logged.
    static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger
    ) -> ServiceManagerNotifier? {
        do {
            guard let socket = try SystemdNotifySocket(environment: environment) else { return nil }
            return ServiceManagerNotifier(socket: socket, watchdogInterval: Self.watchdogInterval(environment), logger: logger)
        } catch {
            logger.warning("service manager: cannot use the notify socket; no readiness notifications", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Half of `WATCHDOG_USEC`, as `sd_watchdog_enabled(3)` advises; `nil` when unset, zero, unparsable or meant for
    /// another process.
    static func watchdogInterval(_ environment: [String: String], pid: Int32 = getpid()) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let microseconds = UInt64(text), microseconds > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], !owner.isEmpty, Int32(owner) != pid { return nil }
        return .microseconds(Int64(clamping: microseconds / 2))
    }

    // MARK: the notifications

    /// Every listener is bound and the audit log is open.
    func ready(status: String) {
        self.send("READY=1\nSTATUS=\(status)")
    }

    /// A reload begins; `MONOTONIC_USEC` lets the manager match it with the reload it asked for.
    func reloading() {
        self.send("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())\nSTATUS=reloading the configuration")
    }

    /// The reload ended (applied or refused: the gateway serves either way).
    func reloaded(status: String) {
        self.send("READY=1\nSTATUS=\(status)")
    }

    /// Graceful shutdown began.
    func stopping() {
        self.state.withLockedValue { $0.stopping = true }
        self.send("STOPPING=1\nSTATUS=stopping: open connections finishing")
    }

    /// A new status line (shown by `systemctl status`).
    func status(_ line: String) {
        self.send("STATUS=\(line)")
    }

    /// The liveness check passed.
    func watchdog() {
        self.send("WATCHDOG=1")
    }

    // MARK: status notes

    /// Sets (or with `nil` clears) a note appended to the status line, e.g. the admin server cannot listen.
    func setNote(_ key: String, _ note: String?) {
        self.state.withLockedValue { $0.notes[key] = note }
    }

    /// `4 services, 7 of 8 servers up, 12 open connections` and the notes (while stopping: what is left to finish):
    /// one line.
    func statusLine(_ gateway: Gateway) async -> String {
        let (notes, stopping) = self.state.withLockedValue { ($0.notes, $0.stopping) }
        let connections = await gateway.openConnections
        if stopping { return "stopping: \(Self.counted(connections, "open connection")) finishing" }
        let services = await gateway.services
        let servers = services.flatMap { $0.pool.snapshot() }
        let up = servers.filter { $0.health == .up }.count
        var line =
            "\(Self.counted(services.count, "service")), \(up) of \(servers.count) servers up, "
            + Self.counted(connections, "open connection")
        for key in notes.keys.sorted() { line += "; \(notes[key] ?? "")" }
        // One line: a note may quote a message with a newline in it.
        return String(line.map { $0.isNewline ? " " : $0 })
    }

    private static func counted(_ count: Int, _ noun: String) -> String {
        "\(count) \(noun)\(count == 1 ? "" : "s")"
    }

    // MARK: sending

    private func send(_ message: String) {
        do {
            try self.socket.send(message)
            let recovered = self.state.withLockedValue { state -> Bool in
                defer { state.failing = false }
                return state.failing
            }
            if recovered { self.logger.notice("service manager: notifications reach the notify socket again") }
        } catch {
            let first = self.state.withLockedValue { state -> Bool in
                defer { state.failing = true }
                return !state.failing
            }
            if first {
                self.logger.warning(
                    "service manager: cannot send a notification",
                    metadata: ["notify_socket": "\(self.socket.addressDescription)", "error": "\(error)"])
            }
        }
    }

    private static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }
}

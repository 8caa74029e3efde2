import Foundation
import Glibc
import PacsgateBenchKit

/// Counts the system calls a target makes per proxied connection: `strace -f -c` attached to the running target
/// (one worker, pinned to one CPU) while the load tool makes 1,000 connections one after another. Counts, not
/// times: they are the same on a busy machine and a quiet one.
struct SystemCallCounter {
    let targets: Targets
    let loadTool: LoadTool
    let placement: Placement
    static let connections = 1000

    /// One measurement per target; the value is system calls per connection.
    func measure(
        _ variant: Variant, steps: [LoadTool.Step], route: Route, target: TargetName
    ) throws -> MeasuredRun {
        guard let process = try self.targets.start(target, self.placement) else {
            throw BenchError("no process to trace for \(target.rawValue)")
        }
        defer { self.targets.stop(process) }
        let port = self.targets.port(of: route, on: target)
        // Warm up outside the count (first connections fault in code and pools).
        _ = try self.loadTool.run(
            "\(variant.id)-syscalls", steps: steps, port: port, concurrency: 1, threads: 1, warmup: 0, duration: 1,
            operations: 50)
        let output = "\(self.targets.workDirectory)/\(target.rawValue)-\(variant.id).strace"
        // Through `pacsgate-load exec`, which unblocks the signals this thread blocks: strace must see the SIGINT.
        let strace = try ChildProcess(
            name: "strace", executable: self.loadTool.executable,
            arguments: ["exec", "/usr/bin/strace", "-f", "-c", "-o", output, "-p", String(process.pid)],
            log: "\(self.targets.workDirectory)/strace.log")
        // Counted only once strace traces every thread of the target (attaching takes a while on a busy machine).
        guard Self.waitUntilTraced(process.pid, timeout: 20) else {
            kill(strace.pid, SIGKILL)
            throw BenchError("strace did not attach to \(target.rawValue)")
        }
        let result = try self.loadTool.run(
            "\(variant.id)-syscalls", steps: steps, port: port, concurrency: 1, threads: 1, warmup: 0, duration: 1,
            operations: Self.connections)
        usleep(300_000)  // closing bookkeeping (audit records) counted too
        kill(strace.pid, SIGINT)
        strace.process.waitUntilExit()
        let counts = Self.parse(HostSystem.read(output) ?? "")
        guard let total = counts["total"], result.allOperations > 0 else {
            throw BenchError("strace gave no counts for \(target.rawValue): see \(output)")
        }
        let perConnection = Double(total) / Double(result.allOperations)
        let epoll = Double(counts["epoll_ctl"] ?? 0) / Double(result.allOperations)
        let top = counts.filter { $0.key != "total" }.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
            .prefix(5)
            .map { "\($0.key) \(MarkdownReport.format(Double($0.value) / Double(result.allOperations), digits: 1))" }
        return MeasuredRun(
            variant: variant.id, target: target, round: 1, layout: .strace, value: perConnection,
            extras: [Extra.epollCtlPerConnection: epoll, Extra.errors: Double(result.errors)],
            note: top.joined(separator: ", "))
    }

    /// Whether every thread of `pid` has a tracer (`TracerPid` in its status), waiting up to `timeout` seconds.
    static func waitUntilTraced(_ pid: pid_t, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            let traced = threads.allSatisfy { thread in
                let status = HostSystem.read("/proc/\(pid)/task/\(thread)/status") ?? ""
                return status.split(separator: "\n").contains { $0.hasPrefix("TracerPid:") && !$0.hasSuffix("\t0") }
            }
            if !threads.isEmpty, traced { return true }
            usleep(50_000)
        }
        return false
    }

    /// `strace -c`'s table: calls by system call name, and `total`.
    static func parse(_ text: String) -> [String: Int] {
        var counts: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // % time, seconds, usecs/call, calls, [errors], syscall
            guard fields.count >= 5, Double(fields[0]) != nil, let calls = Int(fields[3]), let name = fields.last else {
                continue
            }
            counts[String(name), default: 0] += calls
        }
        return counts
    }
}

import Foundation
import Glibc

/// What the load tool reads from and does to the host: CPU affinity, `/proc` counters, child processes, ports.
enum HostSystem {
    /// Number of online CPUs.
    static var cores: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// Pins every thread of this process (and the threads and children it creates afterwards) to `cpus`.
    static func pinSelf(to cpus: [Int]) {
        guard !cpus.isEmpty else { return }
        _ = capture("/usr/bin/taskset", ["-a", "-p", "-c", cpus.map(String.init).joined(separator: ","), String(getpid())])
    }

    /// Pins every thread of the processes `pids` to `cpus`.
    static func pin(_ pids: [pid_t], to cpus: [Int]) {
        guard !cpus.isEmpty else { return }
        for pid in pids {
            _ = capture("/usr/bin/taskset", ["-a", "-p", "-c", cpus.map(String.init).joined(separator: ","), String(pid)])
        }
    }

    /// First line of a file, or `nil`.
    static func read(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }

    /// Busy and total jiffies of each CPU (`/proc/stat`).
    static func cpuTimes() -> [Int: (busy: UInt64, total: UInt64)] {
        var result: [Int: (UInt64, UInt64)] = [:]
        guard let text = read("/proc/stat") else { return result }
        for line in text.split(separator: "\n") where line.hasPrefix("cpu") && !line.hasPrefix("cpu ") {
            let fields = line.split(separator: " ")
            guard let cpu = Int(fields[0].dropFirst(3)) else { continue }
            let values = fields.dropFirst().compactMap { UInt64($0) }
            guard values.count >= 5 else { continue }
            let total = values.prefix(8).reduce(0, +)
            let idle = values[3] + values[4]  // idle + iowait
            result[cpu] = (total - idle, total)
        }
        return result
    }

    /// Share (0…1) of `cpus` that was busy between two ``cpuTimes()`` readings.
    static func busyShare(
        _ cpus: [Int], from start: [Int: (busy: UInt64, total: UInt64)], to end: [Int: (busy: UInt64, total: UInt64)]
    ) -> Double {
        var busy: UInt64 = 0
        var total: UInt64 = 0
        for cpu in cpus {
            guard let before = start[cpu], let after = end[cpu] else { continue }
            busy += after.busy &- before.busy
            total += after.total &- before.total
        }
        return total == 0 ? 0 : Double(busy) / Double(total)
    }

    /// `pid` and all its descendants.
    static func processTree(_ pid: pid_t) -> [pid_t] {
        var children: [pid_t: [pid_t]] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let child = pid_t(entry), let stat = read("/proc/\(entry)/stat"),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let parent = pid_t(fields[1]) { children[parent, default: []].append(child) }
        }
        var all: [pid_t] = [pid]
        var index = 0
        while index < all.count {
            all += children[all[index]] ?? []
            index += 1
        }
        return all
    }

    /// User + system CPU seconds used so far by `pids`.
    static func cpuSeconds(_ pids: [pid_t]) -> Double {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var total = 0.0
        for pid in pids {
            guard let stat = read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // After the command: state(0) ppid(1) … utime(11) stime(12).
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            total += (user + system) / ticks
        }
        return total
    }

    /// Proportional set size (MiB) summed over `pids` (equals RSS for one process; shared pages are split
    /// between processes, so a master and its worker are not counted twice).
    static func memoryMiB(_ pids: [pid_t]) -> Double {
        var kib = 0.0
        for pid in pids {
            if let rollup = read("/proc/\(pid)/smaps_rollup"), let pss = field("Pss:", in: rollup) {
                kib += pss
            } else if let status = read("/proc/\(pid)/status"), let rss = field("VmRSS:", in: status) {
                kib += rss
            }
        }
        return kib / 1024
    }

    /// Threads of `pids`.
    static func threads(_ pids: [pid_t]) -> Int {
        pids.compactMap { read("/proc/\($0)/status").flatMap { field("Threads:", in: $0) } }.map { Int($0) }.reduce(0, +)
    }

    private static func field(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            return line.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Double($0) }
        }
        return nil
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    static func isListening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Waits until every port accepts connections; `false` after `timeout` seconds.
    static func waitForPorts(_ ports: [Int], timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        for port in ports {
            while !isListening(port) {
                if Date() > deadline { return false }
                usleep(20_000)
            }
        }
        return true
    }

    /// Waits until nothing listens on the ports any more (a stopped target released them).
    static func waitForPortsFree(_ ports: [Int], timeout: Double) {
        let deadline = Date().addingTimeInterval(timeout)
        for port in ports {
            while isListening(port), Date() < deadline { usleep(20_000) }
        }
    }

    /// Runs a command to completion and returns its standard output (standard error discarded).
    static func capture(_ executable: String, _ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// A child process started by the load tool; stopped by ``stop()`` (SIGTERM, then SIGKILL).
final class ChildProcess {
    let name: String
    let process: Process

    /// Starts `executable` with `arguments`, output appended to `log`, pinned to `cpus` when given (via `taskset`).
    init(name: String, executable: String, arguments: [String], log: String, cpus: [Int]? = nil) throws {
        self.name = name
        let process = Process()
        if let cpus, !cpus.isEmpty {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
            process.arguments = ["-c", cpus.map(String.init).joined(separator: ","), executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        }
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
    }

    var pid: pid_t { self.process.processIdentifier }
    var isRunning: Bool { self.process.isRunning }

    /// The process and its children (nginx's workers).
    var tree: [pid_t] { HostSystem.processTree(self.pid) }

    /// SIGTERM, up to `grace` seconds to exit, then SIGKILL to the whole tree.
    func stop(grace: Double = 3) {
        guard self.process.isRunning else { return }
        let tree = self.tree
        kill(self.pid, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while self.process.isRunning, Date() < deadline { usleep(10_000) }
        if self.process.isRunning {
            for pid in tree { kill(pid, SIGKILL) }
        }
        self.process.waitUntilExit()
    }
}

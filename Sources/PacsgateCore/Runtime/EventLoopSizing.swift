#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// How many event loops the gateway should run: one per core it may actually use.
///
/// NIO's `System.coreCount` honours cgroup quotas and the cgroup cpuset but not the process's CPU affinity, so a
/// gateway started with `taskset -c 1` (or pinned by systemd's `CPUAffinity=`) would run two event loops on one
/// core: two threads competing for it, more context switches and smaller batches per `epoll_wait`.
public enum EventLoopSizing {
    /// `System.coreCount` capped by the number of CPUs in this process's affinity mask (at least 1).
    public static var threadCount: Int {
        let cores = System.coreCount
        guard let allowed = self.allowedCPUCount() else { return max(1, cores) }
        return max(1, min(cores, allowed))
    }

    /// The number of CPUs in `Cpus_allowed_list` of `/proc/self/status` (Linux), or `nil` where it cannot be read.
    static func allowedCPUCount(status: String? = Self.readStatus()) -> Int? {
        guard let status else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
            return self.countCPUs(inList: line.dropFirst("Cpus_allowed_list:".count))
        }
        return nil
    }

    /// Counts the CPUs of a kernel CPU list such as `0-3,8,10-11`; `nil` if it does not parse.
    static func countCPUs(inList list: Substring) -> Int? {
        var count = 0
        for part in list.split(separator: ",") {
            let bounds = part.trimmingWhitespace.split(separator: "-")
            guard let first = bounds.first.flatMap({ Int($0) }) else { return nil }
            let last = bounds.count == 2 ? Int(bounds[1]) : first
            guard let last, last >= first, bounds.count <= 2 else { return nil }
            count += last - first + 1
        }
        return count > 0 ? count : nil
    }

    private static func readStatus() -> String? {
        #if os(Linux)
        guard let file = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(file) }
        var text = ""
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            text += String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return text
        #else
        return nil
        #endif
    }
}

extension Substring {
    fileprivate var trimmingWhitespace: Substring {
        var result = self
        while let first = result.first, first.isWhitespace { result = result.dropFirst() }
        while let last = result.last, last.isWhitespace { result = result.dropLast() }
        return result
    }
}

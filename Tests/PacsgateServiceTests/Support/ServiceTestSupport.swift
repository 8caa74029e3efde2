import Foundation
import PacsgateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` with a fresh ``TestScope`` of the service tests (scratch directory `pacsgate-svc-…`) and always tears
/// it down.
func withTestScope<T: Sendable>(_ body: (TestScope) async throws -> T) async throws -> T {
    try await withTestScope(
        directoryPrefix: "pacsgate-svc",
        missingPeerAdvice: "the service tests need systemd's tools (bash scripts/install-test-deps.sh installs them)",
        body
    )
}

enum ServiceTestSupport {
    /// The repository's root.
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// CLOCK_MONOTONIC in microseconds, the clock of `MONOTONIC_USEC`.
    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }

    /// Connects to `port` on 127.0.0.1 once, without retrying: whether something accepted.
    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

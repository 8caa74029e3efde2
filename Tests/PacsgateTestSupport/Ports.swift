import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Loopback ports for peers that need one on their command line.
package enum Ports {
    /// A port nothing listens on right now, below the kernel's ephemeral range so that no outgoing connection of
    /// a parallel test can take it before the peer binds it.
    package static func free() throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20000..<32000)
            if Self.canBind(port) { return port }
        }
        throw Peers.Missing(description: "no free port in 20000-31999")
    }

    private static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = INADDR_ANY
        address.sin_port = UInt16(port).bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) == 0 }
        }
    }

    /// Waits until something listens on `port`, looking at /proc/net/tcp rather than connecting (a probe
    /// connection would show up in the peer's own log).
    package static func waitListening(
        _ port: Int,
        timeout: Duration = .seconds(15),
        while alive: () -> Bool = { true }
    ) async -> Bool {
        let needle = String(format: ":%04X", port)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline, alive() {
            for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
                guard let text = Self.readWhole(table) else { continue }
                for line in text.split(separator: "\n").dropFirst() {
                    let fields = line.split(separator: " ")
                    if fields.count > 3, fields[1].hasSuffix(needle), fields[3] == "0A" { return true }
                }
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}

extension Ports {
    /// A /proc file read to its end (procfs reports size 0, and a large socket table spans many pages).
    fileprivate static func readWhole(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

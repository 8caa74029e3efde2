import Foundation
import Testing

/// `pacsgate demo` on a fresh machine: up, the four ports answer, SIGTERM stops it cleanly.
@Suite("pacsgate demo", .serialized)
struct DemoCommandTests {
    @Test("the demo starts, the four services accept connections, and SIGTERM stops it with exit 0")
    func demoRuns() throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("pacsgate-demo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: state) }
        let process = Process()
        process.executableURL = try PacsgateProcess.executable
        process.arguments = ["demo", "--state-dir", state.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let started = Date()
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        var banner = ""
        while !banner.contains("pacsgate demo is up") {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            banner += String(decoding: data, as: UTF8.self)
        }
        #expect(banner.contains("pacsgate demo is up"))
        let upAfter = Date().timeIntervalSince(started)
        for port in [11112, 6667, 5104, 8443] {
            #expect(Self.canConnect(port: port), "port \(port) does not accept connections")
        }
        print("demo: up and answering on 11112, 6667, 5104, 8443 after \(String(format: "%.2f", upAfter)) s")
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: state.appendingPathComponent("audit.jsonl").path))
    }

    static func canConnect(port: Int) -> Bool {
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
}

#if os(Linux)
import Foundation
import Glibc
import PacsgateTestSupport
import Testing

/// Must show 5 (native engine): the gateway's descriptor limit lowered to 256 and 600 clients connecting and
/// holding. While it is out of descriptors the gateway pauses accepting (closing one waiting client per pause with
/// its spare descriptor) instead of spinning; it does not crash; once the clients leave it serves a real association.
@Suite("Native engine: out of descriptors", .timeLimit(.minutes(3)))
struct DescriptorExhaustionTests {
    static func pacsgate() throws -> String {
        let path = ProcessInfo.processInfo.environment["PACSGATE_BIN"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/pacsgate").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            Issue.record("pacsgate executable not found at \(path): build it first or set PACSGATE_BIN")
            throw Peers.Missing(description: "no pacsgate executable")
        }
        return path
    }

    /// User + system CPU seconds the process has used (`/proc/PID/stat`).
    static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// A blocking TCP connection to 127.0.0.1:`port` that says nothing; `nil` when connect fails.
    static func holdingClient(port: Int) -> Int32? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            return nil
        }
        return descriptor
    }

    @Test("limit 256, 600 clients holding: low CPU while exhausted, no crash, a real association once they leave")
    func exhaustion() async throws {
        try await withTestScope(
            directoryPrefix: "pacsgate-native",
            missingPeerAdvice: "the native engine's fault tests need dcmtk (apt-get install dcmtk)"
        ) { scope in
            let binary = try Self.pacsgate()
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let port = try Ports.free()
            let audit = "\(scope.directory)/audit.jsonl"
            let config = "\(scope.directory)/pacsgate.yaml"
            try """
            engine: native
            services:
              - label: DICOM
                listen: "127.0.0.1:\(port)"
                protocol: dicom
                peek_timeout: 60s
                servers:
                  - \(scp.server("DICOM1"))
            audit: { path: "\(audit)", fsync: every }
            """.write(toFile: config, atomically: true, encoding: .utf8)
            chmod(config, 0o600)
            // `ulimit -n` lowers the hard limit too, so the gateway cannot raise it back.
            let gateway = try await ChildProcess.start(
                "/bin/sh", ["-c", "ulimit -n 256 && exec \(binary) run --config \(config)"], name: "pacsgate",
                directory: scope.directory, scope: scope)
            #expect(await Ports.waitListening(port, while: { gateway.isRunning }), "did not start: \(gateway.output)")

            var clients: [Int32] = []
            for _ in 0..<600 {
                if let client = Self.holdingClient(port: port) { clients.append(client) }
            }
            #expect(clients.count == 600, "only \(clients.count) clients could connect")
            #expect(
                await eventually(timeout: .seconds(20)) { gateway.output.contains("out of file descriptors") },
                "the gateway never ran out of descriptors: \(gateway.output.suffix(2000))")
            // Exhausted: a busy loop would use a whole core; pausing uses next to nothing.
            try await Task.sleep(for: .seconds(1))
            let before = try #require(Self.cpuSeconds(gateway.pid))
            try await Task.sleep(for: .seconds(3))
            let used = try #require(Self.cpuSeconds(gateway.pid)) - before
            #expect(used < 0.3, "the gateway used \(used) s of CPU in 3 s while out of descriptors")
            #expect(gateway.isRunning, "the gateway died: \(gateway.output.suffix(2000))")

            for client in clients { close(client) }
            var answered = false
            for _ in 0..<20 where !answered {
                let echo = try await Peers.run(
                    Peers.echoscu, ["-aet", "AFTERFLOOD", "-aec", "MACH7", "127.0.0.1", String(port)], name: "echoscu",
                    scope: scope)
                answered = echo.status == 0
                if !answered { try await Task.sleep(for: .milliseconds(500)) }
            }
            #expect(answered, "no association after the clients left: \(gateway.output.suffix(2000))")
            #expect(gateway.isRunning)
            #expect(
                await eventually(timeout: .seconds(20)) {
                    let text = (try? String(contentsOfFile: audit, encoding: .utf8)) ?? ""
                    return text.contains("\"calling_ae\":\"AFTERFLOOD\"") && text.contains("\"event\":\"dicom.association\"")
                },
                "no audit record of the association")
            #expect(scp.associationsReceived >= 1)
            kill(gateway.pid, SIGTERM)
            #expect(await gateway.waitForExit(timeout: .seconds(30)) != nil)
        }
    }
}
#endif

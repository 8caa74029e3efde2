import Foundation
import PacsgateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The gateway out of file descriptors: the real `pacsgate run` under a lowered `RLIMIT_NOFILE`, more clients than it
/// can hold, and a real association once they leave.
@Suite("Faults: out of file descriptors", .serialized, .timeLimit(.minutes(5)))
struct DescriptorLimitTests {
    /// The gateway's data plane, chosen by the configuration's top-level `engine:` key: the test runs on each.
    enum Engine: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case native
        case nio

        /// Top-level YAML lines that select the engine.
        var configuration: String { "engine: \(self.rawValue)" }

        var testDescription: String { self.rawValue }

        /// The engines this machine has: the native one is Linux only.
        static var available: [Engine] {
            #if os(Linux)
            return Self.allCases
            #else
            return [.nio]
            #endif
        }
    }

    /// A running `pacsgate run` child under `prlimit --nofile=SOFT:HARD`.
    struct Gateway {
        let process: ChildProcess
        let port: Int
        let directory: String
    }

    /// The one place the tests start a gateway: `prlimit` with the descriptor limits, then `pacsgate run` with a DICOM
    /// service in front of `scp` (peek timeout long enough that silent clients are held, not timed out).
    static func startGateway(
        engine: Engine, soft: Int, hard: Int, scp: RealSCP, name: String, scope: TestScope
    ) async throws -> Gateway {
        let port = try Ports.free()
        let directory = try scope.makeDirectory(name)
        let config = "\(directory)/pacsgate.yaml"
        try """
        services:
          - label: DICOM
            listen: "127.0.0.1:\(port)"
            protocol: dicom
            peek_timeout: 120s
            servers:
              - \(scp.server("DICOM1"))
        audit: { path: "\(directory)/audit.jsonl" }
        \(engine.configuration)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o600)
        try Peers.require("/usr/bin/prlimit", scope.missingPeerAdvice)
        let process = try await GatewayUnderTest.process(
            config: config, launcher: ["/usr/bin/prlimit", "--nofile=\(soft):\(hard)"], name: name, directory: directory, scope: scope)
        #expect(await Ports.waitListening(port, while: { process.isRunning }), "pacsgate did not start: \(process.output)")
        return Gateway(process: process, port: port, directory: directory)
    }

    /// User plus system CPU time of a process so far, in seconds (`/proc/PID/stat` fields 14 and 15).
    static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The soft descriptor limit of a process (`/proc/PID/limits`).
    static func softDescriptorLimit(_ pid: Int32) -> Int? {
        guard let limits = try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8) else { return nil }
        let line = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }
        return line?.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first.flatMap { Int($0) }
    }

    @Test("600 clients against a limit of 256: CPU stays low while out of descriptors, then a real association works", arguments: Engine.available)
    func outOfDescriptors(engine: Engine) async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await Self.startGateway(engine: engine, soft: 256, hard: 256, scp: scp, name: "pacsgate", scope: scope)
            #expect(Self.softDescriptorLimit(gateway.process.pid) == 256)
            #expect(
                await eventually(timeout: .seconds(10)) {
                    gateway.process.output.contains("the file-descriptor limit is below what maxconn allows")
                },
                "no warning about maxconn and the limit: \(gateway.process.output)")

            // 600 clients connect and hold, sending nothing: the gateway accepts until it is out of descriptors, the
            // rest wait in the listen backlog.
            var clients: [RawConnection] = []
            for _ in 0..<600 { clients.append(try await RawConnection.connect(port: gateway.port, scope: scope)) }
            try await Task.sleep(for: .seconds(1))
            let before = try #require(Self.cpuSeconds(gateway.process.pid))
            try await Task.sleep(for: .seconds(10))
            let after = try #require(Self.cpuSeconds(gateway.process.pid))
            let used = after - before
            print("descriptor limit 256, 600 clients holding: gateway CPU \(used) s over 10 s (engine \(engine))")
            #expect(used < 0.5, "the gateway spun while out of descriptors: \(used) s of CPU in 10 s")
            #expect(gateway.process.isRunning, "the gateway died: \(gateway.process.output)")
            #expect(gateway.process.output.contains("cannot accept connections; pausing accept"), "\(gateway.process.output.suffix(2000))")

            for client in clients { await client.close() }
            clients.removeAll()
            let echo = try await Peers.run(
                Peers.echoscu, ["-aet", "AFTERFLOOD", "-aec", "MACH7", "-to", "30", "127.0.0.1", String(gateway.port)],
                name: "echoscu", scope: scope, timeout: .seconds(90))
            #expect(echo.status == 0, "\(echo.output)")
            #expect(scp.associationsReceived >= 1)
            #expect(gateway.process.isRunning)
        }
    }

    @Test("run raises its soft descriptor limit to the hard limit and says what maxconn needs")
    func raisesTheSoftLimit() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await Self.startGateway(engine: .nio, soft: 256, hard: 4096, scp: scp, name: "pacsgate", scope: scope)
            #expect(Self.softDescriptorLimit(gateway.process.pid) == 4096)
            // 2 × maxconn 10,000 + 1 listener + 128 do not fit in 4,096.
            #expect(
                await eventually(timeout: .seconds(10)) {
                    let output = gateway.process.output
                    return output.contains("limit=4096") && output.contains("needed=20129")
                        && output.contains("raised the file-descriptor limit to the hard limit")
                },
                "\(gateway.process.output)")
        }
    }
}

import Foundation
import PacsgateAdmin
import PacsgateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Files with secrets are created owner-only in the `open` itself, never created with the umask and `chmod`-ed
/// afterwards: the real `pacsgate run` under `strace`, generating its admin user and key, keeping a configuration
/// backup and spooling audit messages for an unreachable repository.
@Suite("Files with secrets", .serialized)
struct SecretFileTests {
    /// One traced system call: `openat(…, "PATH", FLAGS, MODE)`, `rename("FROM", "TO")` or a `chmod` of a path.
    enum Call: Equatable {
        case create(path: String, mode: String)
        case rename(from: String, to: String)
        case chmod(path: String)
    }

    /// The calls in an `strace -f -e trace=openat,rename,renameat,renameat2,chmod,fchmodat` output that create,
    /// rename or chmod a file.
    static func calls(_ trace: String) -> [Call] {
        var calls: [Call] = []
        for line in trace.split(separator: "\n") {
            let quoted = line.split(separator: "\"", omittingEmptySubsequences: false)
            if line.contains("openat("), line.contains("O_CREAT"), quoted.count >= 3 {
                let mode = quoted[2].split(separator: ",").last?.split(separator: ")").first?.trimmingCharacters(in: .whitespaces) ?? ""
                calls.append(.create(path: String(quoted[1]), mode: mode))
            } else if line.contains("rename"), quoted.count >= 5 {
                calls.append(.rename(from: String(quoted[1]), to: String(quoted[3])))
            } else if line.contains("chmod"), quoted.count >= 3 {
                calls.append(.chmod(path: String(quoted[1])))
            }
        }
        return calls
    }

    /// How `path` came to be: the mode of the `openat` that created it (or the file renamed onto it), and whether it
    /// was `chmod`-ed after.
    static func origin(of path: String, in calls: [Call]) -> (mode: String?, chmodded: Bool) {
        var source = path
        for call in calls.reversed() {
            if case .rename(let from, let to) = call, to == path {
                source = from
                break
            }
        }
        let mode = calls.compactMap { call -> String? in
            if case .create(let created, let mode) = call, created == source { return mode }
            return nil
        }.first
        return (mode, calls.contains(.chmod(path: path)) || calls.contains(.chmod(path: source)))
    }

    /// Runs `pacsgate run --config CONFIG` under strace (following threads) until `body` returns, then stops it with
    /// SIGTERM; returns the trace.
    static func traced(config: String, directory: String, _ body: () async throws -> Void) async throws -> String {
        let trace = "\(directory)/trace-\(UUID().uuidString).txt"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/strace")
        process.arguments = [
            "-f", "-qq", "-e", "trace=openat,rename,renameat,renameat2,chmod,fchmodat", "-o", trace,
            try GatewayUnderTest.executable, "run", "--config", config,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        do {
            try await body()
        } catch {
            let children = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/task/\(process.processIdentifier)/children", encoding: .utf8)) ?? ""
            for child in children.split(separator: " ").compactMap({ Int32($0) }) { kill(child, SIGKILL) }
            process.terminate()
            throw error
        }
        // SIGTERM to pacsgate itself (strace's child), which shuts down (and rewrites its spool); strace ends with it.
        let children = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/task/\(process.processIdentifier)/children", encoding: .utf8)) ?? ""
        for child in children.split(separator: " ").compactMap({ Int32($0) }) { kill(child, SIGTERM) }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        while process.isRunning, clock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning {
            for child in children.split(separator: " ").compactMap({ Int32($0) }) { kill(child, SIGKILL) }
            process.terminate()
        }
        process.waitUntilExit()
        return try String(contentsOfFile: trace, encoding: .utf8)
    }

    @Test("admin-user, admin-key.pem, configuration backups and the ATNA spool are created 0600 in one step")
    func createdOwnerOnly() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/strace") else {
            throw ExternalTools.Failure(description: "/usr/bin/strace not found: run scripts/install-test-deps.sh")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pacsgate-secrets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let state = "\(directory)/state"
        let adminPort = try Ports.free()
        let service = """
            services:
              - label: T
                listen: "127.0.0.1:\(try Ports.free())"
                servers:
                  - { label: S, address: "127.0.0.1:\(try Ports.free())" }
            state_dir: "\(state)"

            """
        // First start: no users and no tokens, HTTPS — an admin user and a key are generated into the state directory.
        let first = "\(directory)/first.yaml"
        try (service + "admin: { listen: \"127.0.0.1:\(adminPort)\", tls: \"on\" }\n").write(toFile: first, atomically: true, encoding: .utf8)
        chmod(first, 0o600)
        let firstTrace = try await Self.traced(config: first, directory: directory) {
            #expect(await eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: "\(state)/admin-cert.pem") })
            #expect(await Ports.waitListening(adminPort, while: { true }))
        }
        // Second start: a token; an upload keeps a backup, and the audit export spools for a repository that is down.
        let second = "\(directory)/second.yaml"
        let text =
            service + """
            audit:
              path: "\(directory)/audit.jsonl"
              syslog: { address: "127.0.0.1:\(try Ports.free())", transport: tcp, retry_interval: 1s }
            admin:
              listen: "127.0.0.1:\(adminPort)"
              tls: "on"
              tokens: [{ name: ci, token_hash: "\(APIToken.Digest(of: AdminHarness.token))", scope: admin }]

            """
        try text.write(toFile: second, atomically: true, encoding: .utf8)
        chmod(second, 0o600)
        let secondTrace = try await Self.traced(config: second, directory: directory) {
            #expect(await Ports.waitListening(adminPort, while: { true }))
            let client = try AdminClient(
                baseURL: "https://127.0.0.1:\(adminPort)", token: AdminHarness.token, verification: .certificateFile("\(state)/admin-cert.pem"))
            let upload = try await client.send(.POST, "/api/v1/config", body: Array(text.utf8), contentType: "application/yaml")
            #expect(upload.status == 200, "\(upload.text)")
            #expect(await eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: "\(state)/audit-syslog.spool") })
        }

        let backups = try FileManager.default.contentsOfDirectory(atPath: "\(state)/config-backups").map { "\(state)/config-backups/\($0)" }
        #expect(backups.count == 1)
        let firstCalls = Self.calls(firstTrace)
        let secondCalls = Self.calls(secondTrace)
        for (path, calls) in [("\(state)/admin-user", firstCalls), ("\(state)/admin-key.pem", firstCalls)]
            + backups.map({ ($0, secondCalls) }) + [("\(state)/audit-syslog.spool", secondCalls)]
        {
            let (mode, chmodded) = Self.origin(of: path, in: calls)
            #expect(mode == "0600", "\(path) was created with mode \(mode ?? "?")")
            #expect(!chmodded, "\(path) was chmod-ed after its creation")
            var info = stat()
            #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600, "\(path)")
        }
    }
}

import Foundation
import PacsgateConfig
import PacsgateCore
import Logging
import NIOPosix
import PacsgateAdmin
import PacsgateTestSupport
import Testing

@testable import PacsgateApp

#if canImport(Glibc)
import Glibc
#endif

/// Hostile configuration texts — an alias bomb, deep nesting, an oversized file — are refused with `FILE:LINE:
/// message` before they cost time or memory, whether they come from a file, an admin upload or an HA push (all go
/// through ``ConfigurationLoader/parse(yaml:)``).
@Suite("Configuration bombs")
struct ConfigurationBombTests {
    let loader = ConfigurationLoader(registry: ProtocolRegistry.gateway([]))

    static let aliasBomb = ConfigurationBombs.aliasBomb
    static let keyBomb = ConfigurationBombs.keyBomb

    static func flowNesting(_ depth: Int) -> String {
        "services: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n"
    }

    static func blockNesting(_ depth: Int) -> String {
        (0..<depth).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n") + " x\n"
    }

    func problems(_ yaml: String) -> [ConfigProblem] {
        guard case .failure(let errors) = ConfigurationLoader.parse(yaml: yaml) else { return [] }
        return errors.problems
    }

    @Test("an alias bomb is refused at its first alias, whether the alias is a value or a key")
    func aliasBomb() {
        #expect(self.problems(Self.aliasBomb).map(\.line) == [2])
        #expect(self.problems(Self.aliasBomb).first?.message.hasPrefix("YAML aliases (*a) are not supported") == true)
        #expect(self.problems(Self.keyBomb).map(\.line) == [2])
        // One alias is enough to be refused: the loader never expands them.
        let single = """
            services:
              - label: A
                listen: "127.0.0.1:2"
                servers: [&b { label: A1, address: "127.0.0.1:1" }]
              - label: B
                listen: "127.0.0.1:3"
                servers: [*b]
            """
        #expect(self.problems(single).map(\.line) == [7])
        // Every place libyaml starts a token: after a flow indicator, ':' (JSON-like), '?', '-', at the start.
        for text in ["*x", "k: [a,*x]", "k: {a: 1,*x: 2}", "{\"k\":*x}", "? *x\n: 1", "- *x", "k: [*x]", "k:\n  -\n    *x"] {
            #expect(!self.problems("x: &x 1\n" + text).isEmpty, "not refused: \(text)")
        }
    }

    @Test("values with '*' that are not aliases still load: quoted wildcards, AE patterns, comments, arithmetic")
    func notAliases() {
        let yaml = """
            # a comment that mentions *aliases at the start of its words
            k1: "*.example.org"
            k2: '*.example.org'
            k3: [CT*, MR*, "US *", "*"]
            k4: 2 * 3
            k5: a*b
            k6: x   # *bold* in a trailing comment
            k7: |
              * a bullet in a block scalar
            k8: "anchors without aliases are harmless"
            k9: &anchor 1
            """
        #expect(self.problems(yaml).isEmpty, "\(self.problems(yaml))")
    }

    @Test("every sample configuration passes the guard")
    func samples() throws {
        let directory = CheckConfigCommandTests.repository.appendingPathComponent("Samples")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }
        #expect(!files.isEmpty)
        for file in files {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            #expect(YAMLGuard.check(text) == nil, "\(file)")
        }
    }

    @Test("deep nesting is refused with a line: past 64 levels by the loader, past 1000 by libyaml, flow or block")
    func deepNesting() {
        #expect(self.problems(Self.flowNesting(63)).allSatisfy { !$0.message.contains("nested") })
        #expect(self.problems(Self.flowNesting(100)).map(\.message) == ["nested deeper than 64 levels"])
        #expect(self.problems(Self.flowNesting(100)).map(\.line) == [1])
        let deep = self.problems(Self.flowNesting(100_000))
        #expect(deep.map(\.message) == ["nested deeper than 1000 levels"], "\(deep)")
        #expect(deep.map(\.line) == [1])
        let block = self.problems(Self.blockNesting(80))
        #expect(block.map(\.message) == ["nested deeper than 64 levels"], "\(block)")
        #expect(block.map(\.line) == [65], "the 65th mapping starts on line 65")
        #expect(self.problems(Self.blockNesting(1200)).map(\.message) == ["nested deeper than 1000 levels"])
    }

    @Test("deep nesting is refused on a thread with a small stack too (admin uploads and HA pushes run in tasks)")
    func deepNestingOnASmallStack() async {
        // Swift concurrency's threads have smaller stacks than the main thread's 8 MiB.
        let text = Self.flowNesting(999)
        let problems = await Task.detached { () -> [ConfigProblem] in
            guard case .failure(let errors) = ConfigurationLoader.parse(yaml: text) else { return [] }
            return errors.problems
        }.value
        #expect(problems.map(\.message) == ["nested deeper than 64 levels"])
    }

    @Test("a text over 1 MiB is refused before it is parsed, and a file over 1 MiB before it is read")
    func oversized() throws {
        let text = "k: \"" + String(repeating: "x", count: YAMLGuard.maximumBytes) + "\"\n"
        #expect(self.problems(text).map(\.line) == [1])
        #expect(self.problems(text).first?.message.contains("at most 1048576 (1 MiB)") == true)
        let path = NSTemporaryDirectory() + "pacsgate-oversized-\(getpid()).yaml"
        defer { unlink(path) }
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        guard case .failure(let errors) = ConfigurationLoader.read(path: path) else {
            Issue.record("an oversized file was read")
            return
        }
        #expect(errors.formatted(file: "big.yaml").hasPrefix("big.yaml:1: the file is \(text.utf8.count) bytes"))
    }

    @Test("an alias bomb pushed by the HA peer is refused with its line and changes nothing")
    func haPush() async throws {
        let directory = NSTemporaryDirectory() + "pacsgate-hapush-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = "services: []\n"
        try running.write(toFile: "\(directory)/pacsgate.yaml", atomically: true, encoding: .utf8)
        let logger = Logger(label: "bomb-test")
        let audit = AuditLog(configuration: AuditConfiguration(), logger: logger)
        try audit.start()
        let gateway = PacsgateCore.Gateway(
            configuration: GatewayConfiguration(services: []), group: MultiThreadedEventLoopGroup.singleton, audit: audit,
            logger: logger)
        try await gateway.start()
        let manager = ConfigurationManager(
            gateway: gateway, loader: ConfigurationFile.loader, audit: audit, logger: logger, path: "\(directory)/pacsgate.yaml",
            runningText: running, backupDirectory: "\(directory)/backups")
        let host = ManagerHost(manager: manager)
        #expect(host.parse(Self.aliasBomb) == nil)
        let (applied, message) = await host.applySynced(Self.aliasBomb, from: "gw-b")
        #expect(!applied)
        #expect(message.contains("uploaded:2: YAML aliases (*a) are not supported"), "\(message)")
        #expect(try String(contentsOfFile: "\(directory)/pacsgate.yaml", encoding: .utf8) == running)
        await gateway.shutdown(grace: .seconds(1))
        await audit.shutdown()
    }

    /// Runs `pacsgate check-config FILE` under `/usr/bin/time`, with at most 2 GiB of address space and killed after
    /// 10 s (so a regression cannot take the machine down); returns its exit status, its standard error, its peak RSS
    /// in KiB and its elapsed time as `time` reports it (printed, not asserted).
    static func checkConfig(_ yaml: String, name: String) throws -> (status: Int32, stderr: String, peakKiB: Int, elapsed: String) {
        let directory = NSTemporaryDirectory() + "pacsgate-bomb-\(getpid())-\(name)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try yaml.write(toFile: "\(directory)/\(name).yaml", atomically: false, encoding: .utf8)
        for tool in ["/usr/bin/time", "/usr/bin/prlimit", "/usr/bin/timeout"] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw PacsgateProcess.Missing(description: "\(tool) not found: run scripts/install-test-deps.sh")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/time")
        process.arguments = [
            "-f", "%M %e", "-o", "\(directory)/time.txt", "/usr/bin/prlimit", "--as=\(2 << 30)", "/usr/bin/timeout", "-s", "KILL",
            "10", try PacsgateProcess.executable.path, "check-config", "\(name).yaml",
        ]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let error = Pipe()
        process.standardError = error
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let report = (try? String(contentsOfFile: "\(directory)/time.txt", encoding: .utf8)) ?? ""
        // The last line is "%M %e" (a killed child adds a "Command terminated" line before it).
        let fields = report.split(separator: "\n").last?.split(separator: " ") ?? []
        let peak = fields.first.flatMap { Int($0) } ?? -1
        return (process.terminationStatus, stderr, peak, fields.count > 1 ? "\(fields[1]) s" : "?")
    }

    @Test("check-config answers an alias bomb and deep nesting with FILE:LINE: message, in a few MB")
    func checkConfigExecutable() throws {
        let baseline = try Self.checkConfig("services: []\n", name: "empty")
        #expect(baseline.status == 1)
        #expect(baseline.peakKiB > 0, "no RSS figure from /usr/bin/time")
        for (name, yaml, expected) in [
            ("bomb", Self.aliasBomb, "bomb.yaml:2: YAML aliases (*a) are not supported"),
            ("keys", Self.keyBomb, "keys.yaml:2: YAML aliases (*a) are not supported"),
            ("deep", Self.flowNesting(100_000), "deep.yaml:1: nested deeper than 1000 levels"),
        ] {
            let result = try Self.checkConfig(yaml, name: name)
            print(
                "check-config \(name): exit \(result.status), \(result.elapsed), peak RSS \(result.peakKiB) KiB "
                    + "(empty file: \(baseline.peakKiB) KiB)")
            #expect(result.status == 1, "\(name): \(result.stderr)")
            #expect(result.stderr.hasPrefix(expected), "\(name): \(result.stderr)")
            #expect(result.peakKiB <= baseline.peakKiB + 8 * 1024, "\(name) took \(result.peakKiB) KiB")
        }
    }
}

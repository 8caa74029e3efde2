// pacsgate-bench: the load tool of pacsgate's benchmark suite. See `Options.usage` and docs/benchmarks.md.

import Foundation
import Glibc
import NIOCore
import NIOPosix
import NIOSSL
import PacsgateBenchKit

/// Writes a progress line to standard error.
func progress(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

enum BenchCommand {
    static func main() async -> Int32 {
        var arguments = Array(CommandLine.arguments.dropFirst())
        guard let command = arguments.first else {
            progress(Options.usage)
            return 2
        }
        arguments.removeFirst()
        do {
            switch command {
            case "run":
                try await Self.run(try Options.parse(arguments))
            case "render":
                try Self.render(arguments)
            case "serve":
                try await Self.serve(workDirectory: arguments.count == 2 && arguments[0] == "--work" ? arguments[1] : "/tmp/pacsgate-bench")
            default:
                progress(Options.usage)
                return 2
            }
            return 0
        } catch {
            progress("pacsgate-bench: \(error)")
            return 1
        }
    }

    // MARK: render

    /// Re-renders the markdown of a finished run from its JSON (after a change to the report's layout).
    static func render(_ arguments: [String]) throws {
        guard arguments.count == 4, arguments[0] == "--json", arguments[2] == "--markdown" else {
            throw BenchError("usage: pacsgate-bench render --json PATH --markdown PATH")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: arguments[1]))
        let report = try JSONDecoder().decode(RunReport.self, from: data)
        try MarkdownReport.render(report, chartPath: "bench/results.png").write(
            toFile: arguments[3], atomically: true, encoding: .utf8)
        progress("wrote \(arguments[3]) from \(arguments[1])")
    }

    // MARK: serve

    /// Runs the built-in backends until killed.
    static func serve(workDirectory: String) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let certificate = try NIOSSLCertificate.fromPEMFile("\(workDirectory)/cert.pem")
        let key = try NIOSSLPrivateKey(file: "\(workDirectory)/key.pem", format: .pem)
        let tls = try NIOSSLContext(
            configuration: .makeServerConfiguration(certificateChain: certificate.map { .certificate($0) }, privateKey: .privateKey(key)))
        var channels: [any Channel] = []
        for (kind, port) in [(Backends.Kind.echo, 24206), (.scp, 24202), (.mllp, 24204), (.tls, 24205), (.scpTLS, 24207)] {
            channels.append(try await Backends.bind(kind, port: port, group: group, tls: tls))
        }
        progress("backends listening: echo 24206, scp 24202, mllp 24204, tls 24205, scp over tls 24207")
        for channel in channels { try await channel.closeFuture.get() }
    }

    // MARK: run

    static func run(_ options: Options) async throws {
        guard !options.pacsgate.isEmpty, FileManager.default.isExecutableFile(atPath: options.pacsgate) else {
            throw BenchError("--pacsgate must name the release binary (got '\(options.pacsgate)')")
        }
        let cores = HostSystem.cores
        let proxyCPUs: [Int]
        let loadCPUs: [Int]
        let layout: String
        if options.layout == "split", cores >= 2 {
            loadCPUs = Array(0..<(cores / 2))
            proxyCPUs = Array((cores / 2)..<cores)
            layout = "split: targets pinned to CPU \(proxyCPUs.map(String.init).joined(separator: ",")), "
                + "client and backends pinned to CPU \(loadCPUs.map(String.init).joined(separator: ","))"
        } else {
            loadCPUs = Array(0..<cores)
            proxyCPUs = Array(0..<cores)
            layout = "shared: nothing pinned, everything shares \(cores) cores"
        }
        let workers = proxyCPUs.count
        let loadAverage = HostSystem.read("/proc/loadavg")?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
        let busy = Self.busyProcesses()
        HostSystem.pinSelf(to: loadCPUs)

        let work = options.workDirectory
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try Self.makeCertificate(in: work)
        let dicomFile = "\(work)/instance-20MB.dcm"
        if !FileManager.default.fileExists(atPath: dicomFile) {
            try SyntheticData.writeDICOMFile(at: dicomFile, pixelBytes: 20 * 1_000_000)
        }

        let routes = Catalogue.routes(protocols: options.protocols)
        let targets = Targets(
            routes: routes, workDirectory: work, proxyCPUs: options.layout == "split" ? proxyCPUs : [], workers: workers,
            pacsgateBinary: options.pacsgate, haproxySplice: options.haproxySplice,
            certificate: try Self.terminationCertificate(in: work))
        let configurations = try targets.writeConfigurations()

        // Backends: the built-in ones in a process of their own, iperf3 and dcmtk's storescp as real peers.
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let backends = [
            try ChildProcess(name: "backends", executable: me, arguments: ["serve", "--work", work], log: "\(work)/backends.log"),
            try ChildProcess(name: "iperf3", executable: "/usr/bin/iperf3", arguments: ["-s", "-p", "24201"], log: "\(work)/iperf3.log"),
            try ChildProcess(
                name: "storescp", executable: "/usr/bin/storescp", arguments: ["--ignore", "-aet", "MACH7", "24203"],
                log: "\(work)/storescp.log"),
        ]
        defer { for backend in backends { backend.stop() } }
        guard HostSystem.waitForPorts(routes.map(\.back) + routes.compactMap(\.directPort), timeout: 20) else {
            throw BenchError("backends did not start; see \(work)/backends.log, iperf3.log, storescp.log")
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: loadCPUs.count)
        var clientTLS = TLSConfiguration.makeClientConfiguration()
        clientTLS.certificateVerification = .none
        // The TLS-terminating targets: TLS 1.3 and X25519 only, so BoringSSL (pacsgate, the client) and OpenSSL
        // (HAProxy, nginx) agree on the key exchange; HAProxy and nginx are held to the suite BoringSSL picks
        // (TargetConfigurations.tls13Suite).
        var tls13 = clientTLS
        tls13.minimumTLSVersion = .tlsv13
        tls13.maximumTLSVersion = .tlsv13
        tls13.curves = [.x25519]
        tls13.shutdownTimeout = .seconds(1)
        let runner = ScenarioRunner(
            options: options, group: group, targets: targets, tlsClient: try NIOSSLContext(configuration: clientTLS),
            tls13Client: try NIOSSLContext(configuration: tls13), dicomFile: dicomFile, proxyCPUs: proxyCPUs,
            loadCPUs: loadCPUs)

        let variants = Catalogue.variants.filter { options.variants?.contains($0.id) ?? true }
        let chosen = TargetName.allCases.filter { options.targets?.contains($0.rawValue) ?? true }
        var measurements: [MeasuredRun] = []
        var busyMeasurements = 0
        var busySeen = Set<String>()
        progress("pacsgate-bench: \(variants.count) variants × \(chosen.count) targets × \(options.rounds) rounds; \(layout)")
        for round in 1...options.rounds {
            for variant in variants {
                // Rotate the order every round so no target always runs first (or right after another).
                let offset = (round - 1) % chosen.count
                for target in Array(chosen[offset...] + chosen[..<offset]) {
                    let process = try targets.start(target)
                    let measurement: MeasuredRun
                    do {
                        measurement = try await runner.measure(variant, target: target, round: round, process: process)
                    } catch {
                        // One failed measurement is recorded as such; the run goes on.
                        measurement = MeasuredRun(
                            variant: variant.id, target: target, round: round, value: 0, extras: [Extra.errors: 1],
                            note: "measurement failed: \(error)")
                    }
                    targets.stop(process)
                    let busyNow = Self.busyProcesses()
                    if !busyNow.isEmpty {
                        busyMeasurements += 1
                        busySeen.formUnion(busyNow.map { $0.split(separator: " ").first.map(String.init) ?? $0 })
                    }
                    measurements.append(measurement)
                    progress(Self.describe(measurement, variant))
                }
            }
        }
        try await group.shutdownGracefully()

        // A protocol whose module is not built into the binary is forwarded as plain TCP (pacsgate warns at start):
        // say so rather than report the configured protocol.
        var protocols = options.protocols
        let pacsgateLog = HostSystem.read("\(work)/pacsgate.log") ?? ""
        for (name, configured) in options.protocols where configured != "tcp" {
            if pacsgateLog.contains("protocol '\(configured)' is not built into this gateway") {
                protocols[name] = "\(configured), not built into this binary: forwarded as tcp"
            }
        }
        let settings = RunSettings(
            date: ISO8601DateFormatter().string(from: Date()), quick: options.quick, rounds: options.rounds,
            secondsPerMeasurement: options.duration, cores: cores, cpuModel: Self.cpuModel(),
            kernel: HostSystem.capture("/bin/uname", ["-r"])?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?",
            loadAverageAtStart: loadAverage, busyProcessesAtStart: busy, layout: layout,
            proxyCPUs: proxyCPUs.map(String.init).joined(separator: ","),
            loadCPUs: loadCPUs.map(String.init).joined(separator: ","), workersPerTarget: workers,
            protocols: protocols, versions: Self.versions(pacsgate: options.pacsgate, label: options.pacsgateVersion),
            idleConnections: options.idleConnections,
            concurrency: [
                "dicom-assoc": options.concurrency, "mllp-connect": options.concurrency, "tls-hello": options.concurrency,
                "dicom-tls-assoc": options.concurrency,
                "mllp-persistent": options.persistentConnections,
            ],
            loadAverageAtEnd: HostSystem.read("/proc/loadavg")?.split(separator: " ").prefix(3).joined(separator: " "),
            measurementsWithBusyMachine: busyMeasurements, busyProcessesDuringRun: busySeen.sorted(),
            command: (["pacsgate-bench"] + CommandLine.arguments.dropFirst()).joined(separator: " "))
        let report = RunReport(
            settings: settings, variants: variants, goals: Catalogue.goals.filter { goal in variants.contains { $0.id == goal.variant } },
            measurements: measurements, configurations: configurations)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(report).write(to: URL(fileURLWithPath: options.output))
        try MarkdownReport.render(report, chartPath: "bench/results.png").write(
            toFile: options.markdown, atomically: true, encoding: .utf8)
        progress("wrote \(options.output) and \(options.markdown)")
    }

    private static func describe(_ measurement: MeasuredRun, _ variant: Variant) -> String {
        var line = "  round \(measurement.round) \(variant.id) \(measurement.target.rawValue): "
            + "\(MarkdownReport.format(measurement.value)) \(variant.unit)"
        if let p99 = measurement.extras[Extra.p99] { line += ", p99 \(MarkdownReport.format(p99, digits: 2)) ms" }
        if let cpu = measurement.extras[Extra.targetCPUPerOp] { line += ", target CPU \(MarkdownReport.format(cpu, digits: 1)) µs/op" }
        if let load = measurement.extras[Extra.loadCPUShare] { line += ", load CPU \(Int(load * 100))%" }
        if let share = measurement.extras[Extra.targetCPUShare] { line += ", target CPU \(Int(share * 100))%" }
        if let errors = measurement.extras[Extra.errors], errors > 0 { line += ", \(Int(errors)) errors" }
        if measurement.clientBound { line += " [client-bound]" }
        return line
    }

    /// A self-signed ECDSA P-256 certificate for the TLS backend (made once per work directory).
    private static func makeCertificate(in work: String) throws {
        guard !FileManager.default.fileExists(atPath: "\(work)/cert.pem") else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
            "-subj", "/CN=pacs.mach7.test", "-keyout", "\(work)/key.pem", "-out", "\(work)/cert.pem",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError("openssl could not make a certificate") }
    }

    /// The run's certificate as every TLS-terminating target takes it (HAProxy wants certificate and key in one file).
    private static func terminationCertificate(in work: String) throws -> TerminationCertificate {
        let certificate = TerminationCertificate(
            certificate: "\(work)/cert.pem", key: "\(work)/key.pem", combined: "\(work)/cert-and-key.pem")
        let combined = try String(contentsOfFile: certificate.certificate, encoding: .utf8)
            + String(contentsOfFile: certificate.key, encoding: .utf8)
        try combined.write(toFile: certificate.combined, atomically: true, encoding: .utf8)
        return certificate
    }

    private static func cpuModel() -> String {
        let info = HostSystem.read("/proc/cpuinfo") ?? ""
        for line in info.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?"
        }
        return "?"
    }

    /// Compilers and builds that were running: a busy machine makes every figure lower and noisier.
    private static func busyProcesses() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var names: [String: Int] = [:]
        for entry in entries where Int(entry) != nil {
            guard let comm = HostSystem.read("/proc/\(entry)/comm")?.trimmingCharacters(in: .whitespacesAndNewlines)
            else { continue }
            let compilers = ["swift-build", "swift-frontend", "swift-test", "clang", "cc1", "ld", "ld.gold", "swift-driver"]
            // Test bundles of other checkouts (`pacsgatePackageTests.xctest`, the name cut to 15 characters) and
            // fuzzers (`FuzzDICOMPDU`, …).
            if compilers.contains(comm) || comm.hasPrefix("pacsgatePackage") || comm.hasPrefix("Fuzz") {
                names[comm, default: 0] += 1
            }
        }
        return names.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }
    }

    private static func versions(pacsgate: String, label: String?) -> [String: String] {
        func first(_ command: String) -> String {
            HostSystem.capture("/bin/sh", ["-c", "\(command) 2>&1"])?.split(separator: "\n").first.map(String.init) ?? "?"
        }
        var versions = [
            "HAProxy": first("/usr/sbin/haproxy -v"),
            "nginx": first("/usr/sbin/nginx -v"),
            "iperf3": first("/usr/bin/iperf3 --version"),
            "dcmtk": first("/usr/bin/storescp --version"),
            "OpenSSL": first("/usr/bin/openssl version"),
            "Swift": first("swift --version"),
        ]
        if let label {
            versions["pacsgate"] = "\(label), release build"
        } else {
            let commit = first("git rev-parse --short HEAD")
            let dirty = (HostSystem.capture("/bin/sh", ["-c", "git status --porcelain -- Sources 2>/dev/null"]) ?? "").isEmpty
                ? "" : " with uncommitted changes in Sources/"
            versions["pacsgate"] = "commit \(commit)\(dirty), release build"
        }
        return versions
    }
}

exit(await BenchCommand.main())

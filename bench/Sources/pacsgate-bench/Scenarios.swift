import Foundation
import Glibc
import NIOCore
import NIOPosix
import NIOSSL
import PacsgateBenchKit

/// The scenarios, their variants and the goals the issue sets.
enum Catalogue {
    static let variants: [Variant] = [
        Variant(id: "throughput-1", scenario: "throughput", title: "Throughput, 1 stream", unit: "Gbit/s"),
        Variant(id: "throughput-8", scenario: "throughput", title: "Throughput, 8 streams", unit: "Gbit/s"),
        Variant(id: "dicom-assoc", scenario: "dicom-assoc", title: "DICOM associate → C-ECHO → release", unit: "assoc/s"),
        Variant(id: "dicom-store", scenario: "dicom-store", title: "DICOM C-STORE, 20 MB instances", unit: "MB/s"),
        Variant(id: "mllp-persistent", scenario: "mllp", title: "MLLP message → ACK, persistent", unit: "msg/s"),
        Variant(id: "mllp-connect", scenario: "mllp", title: "MLLP message → ACK, connect per message", unit: "msg/s"),
        Variant(id: "tls-hello", scenario: "tls-hello", title: "TLS handshakes with SNI (passthrough)", unit: "hs/s"),
        Variant(
            id: "dicom-tls-assoc", scenario: "dicom-tls-assoc",
            title: "DICOM over TLS, terminated: TLS 1.3 handshake → associate → C-ECHO → release", unit: "assoc/s"),
        Variant(
            id: "idle-conns", scenario: "idle-conns", title: "Memory per idle connection", unit: "KiB/conn",
            higherIsBetter: false),
    ]

    static let goals: [Goal] = [
        Goal(variant: "throughput-1", figure: .value, reference: .haproxy, ratio: 1.3, text: "throughput, 1 stream ≥ 1.3 × HAProxy"),
        Goal(variant: "throughput-8", figure: .value, reference: .haproxy, ratio: 1.3, text: "throughput, 8 streams ≥ 1.3 × HAProxy"),
        Goal(variant: "throughput-1", figure: .value, reference: .direct, ratio: 0.7, text: "throughput, 1 stream ≥ 0.7 × direct"),
        Goal(variant: "throughput-8", figure: .value, reference: .direct, ratio: 0.7, text: "throughput, 8 streams ≥ 0.7 × direct"),
        Goal(variant: "dicom-assoc", figure: .value, reference: .haproxy, ratio: 1.0, text: "associations/s ≥ HAProxy"),
        Goal(
            variant: "dicom-assoc", figure: .extra(Extra.p99), reference: .haproxy, ratio: 1.0, atMost: true,
            text: "association p99 latency ≤ HAProxy"),
        Goal(variant: "mllp-persistent", figure: .value, reference: .haproxy, ratio: 1.0, text: "MLLP messages/s (persistent) ≥ HAProxy"),
        Goal(
            variant: "mllp-persistent", figure: .extra(Extra.p99), reference: .haproxy, ratio: 1.0, atMost: true,
            text: "MLLP p99 latency (persistent) ≤ HAProxy"),
        Goal(variant: "mllp-connect", figure: .value, reference: .haproxy, ratio: 1.0, text: "MLLP messages/s (connect per message) ≥ HAProxy"),
        Goal(
            variant: "mllp-connect", figure: .extra(Extra.p99), reference: .haproxy, ratio: 1.0, atMost: true,
            text: "MLLP p99 latency (connect per message) ≤ HAProxy"),
        Goal(variant: "tls-hello", figure: .value, reference: .haproxy, ratio: 1.0, text: "TLS handshakes/s ≥ HAProxy"),
        Goal(
            variant: "tls-hello", figure: .extra(Extra.p99), reference: .haproxy, ratio: 1.0, atMost: true,
            text: "TLS handshake p99 latency ≤ HAProxy"),
        Goal(
            variant: "idle-conns", figure: .value, reference: .haproxy, ratio: 1.0, atMost: true,
            text: "memory per idle connection ≤ HAProxy"),
    ]

    /// The forwarded ports (front = what the proxies listen on, back = the backend).
    static func routes(protocols: [String: String]) -> [Route] {
        [
            Route(name: "THROUGHPUT", front: 24101, back: 24201),
            Route(name: "DICOM", front: 24102, back: 24202, pacsgateProtocol: protocols["dicom"] ?? "tcp"),
            Route(name: "STORE", front: 24103, back: 24203, pacsgateProtocol: protocols["dicom"] ?? "tcp"),
            Route(name: "HL7", front: 24104, back: 24204, pacsgateProtocol: protocols["hl7"] ?? "tcp"),
            Route(name: "HTTPS", front: 24105, back: 24205, pacsgateProtocol: protocols["tls"] ?? "tcp"),
            Route(name: "IDLE", front: 24106, back: 24206),
            // Every target terminates TLS 1.3 (same certificate) and forwards the plaintext association to the SCP
            // backend; direct connects to the same SCP behind its own TLS on 24207.
            Route(
                name: "DICOM-TLS", front: 24107, back: 24202, pacsgateProtocol: "dicom", terminatesTLS: true,
                directPort: 24207),
        ]
    }

    /// The route a variant uses.
    static func route(for variant: String, in routes: [Route]) -> Route {
        let name: String
        switch variant {
        case "throughput-1", "throughput-8": name = "THROUGHPUT"
        case "dicom-assoc": name = "DICOM"
        case "dicom-store": name = "STORE"
        case "mllp-persistent", "mllp-connect": name = "HL7"
        case "tls-hello": name = "HTTPS"
        case "dicom-tls-assoc": name = "DICOM-TLS"
        default: name = "IDLE"
        }
        return routes.first { $0.name == name } ?? routes[0]
    }
}

/// Runs one variant against one running target.
struct ScenarioRunner {
    let options: Options
    let group: any EventLoopGroup
    let targets: Targets
    let tlsClient: NIOSSLContext
    /// TLS 1.3 only, X25519 only: what every TLS-terminating target negotiates with the same suites.
    let tls13Client: NIOSSLContext
    let dicomFile: String
    let proxyCPUs: [Int]
    let loadCPUs: [Int]

    var warmup: TimeAmount { .milliseconds(Int64(self.options.warmup * 1000)) }
    var duration: TimeAmount { .milliseconds(Int64(self.options.duration * 1000)) }

    func measure(_ variant: Variant, target: TargetName, round: Int, process: ChildProcess?) async throws -> MeasuredRun {
        let route = Catalogue.route(for: variant.id, in: self.targets.routes)
        let port = self.targets.port(of: route, on: target)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        let pids = process?.tree ?? []
        if variant.id == "idle-conns" {
            guard target != .direct else {
                return MeasuredRun(
                    variant: variant.id, target: target, round: round, value: 0, note: "no proxy: nothing to measure")
            }
            return try await self.idle(variant, target: target, round: round, address: address, pids: pids)
        }

        let cpuBefore = HostSystem.cpuTimes()
        let wallStart = Date()
        let targetCPUBefore = HostSystem.cpuSeconds(pids)
        var value: Double
        var operations: Double
        var extras: [String: Double] = [:]
        var note: String?

        switch variant.id {
        case "throughput-1", "throughput-8":
            let streams = variant.id == "throughput-1" ? 1 : 8
            let (bitsPerSecond, bytes) = try self.iperf(port: port, streams: streams)
            value = bitsPerSecond / 1e9
            operations = bytes / Double(1 << 20)
            note = "CPU per op: per MiB"
        case "dicom-store":
            let (megabytesPerSecond, instances, failures) = try self.storescu(port: port)
            value = megabytesPerSecond
            operations = Double(instances)
            extras[Extra.errors] = Double(failures)
            note = "CPU per op: per 20 MB instance"
        default:
            let script: ClientScript
            var concurrency = self.options.concurrency
            let association = [
                Exchange(send: ByteBuffer(bytes: EchoSCUBytes.associateRequest), reply: .dicomPDU(type: 0x02)),
                Exchange(send: ByteBuffer(bytes: EchoSCUBytes.echoRequest), reply: .dicomPDU(type: 0x04)),
                Exchange(send: ByteBuffer(bytes: EchoSCUBytes.releaseRequest), reply: .dicomPDU(type: 0x06)),
            ]
            switch variant.id {
            case "dicom-assoc":
                script = .connectPerOperation(association)
            case "dicom-tls-assoc":
                script = .tlsConnectPerOperation(context: self.tls13Client, serverName: "pacs.mach7.test", association)
                note = "CPU per op: per association, its TLS 1.3 handshake included"
            case "mllp-persistent":
                script = .persistent(Exchange(send: ByteBuffer(bytes: SyntheticData.hl7Message(controlID: "MSG00001")), reply: .mllpFrame))
                concurrency = self.options.persistentConnections
            case "mllp-connect":
                script = .connectPerOperation([
                    Exchange(send: ByteBuffer(bytes: SyntheticData.hl7Message(controlID: "MSG00001")), reply: .mllpFrame)
                ])
            default:
                script = .tlsHandshake(context: self.tlsClient, serverName: "pacs.mach7.test")
            }
            let result = try await LoadClient.run(
                script, to: address, concurrency: concurrency, warmup: self.warmup, duration: self.duration,
                group: self.group)
            value = result.window > 0 ? Double(result.operations) / result.window : 0
            operations = Double(result.allOperations)
            let sorted = result.latencies.sorted()
            extras[Extra.p50] = (Statistics.quantile(sorted, 0.5) ?? 0) * 1000
            extras[Extra.p99] = (Statistics.quantile(sorted, 0.99) ?? 0) * 1000
            extras[Extra.p999] = (Statistics.quantile(sorted, 0.999) ?? 0) * 1000
            extras[Extra.errors] = Double(result.errors)
        }

        let cpuAfter = HostSystem.cpuTimes()
        let targetCPU = HostSystem.cpuSeconds(pids) - targetCPUBefore
        let loadShare = HostSystem.busyShare(self.loadCPUs, from: cpuBefore, to: cpuAfter)
        // The target's own CPU time over the time its CPUs were available (other processes on them do not count).
        let elapsed = Date().timeIntervalSince(wallStart)
        let targetShare = elapsed > 0 ? targetCPU / elapsed / Double(max(1, self.proxyCPUs.count)) : 0
        extras[Extra.loadCPUShare] = loadShare
        extras[Extra.operations] = operations
        if target != .direct {
            extras[Extra.targetCPUShare] = targetShare
            extras[Extra.threads] = Double(HostSystem.threads(pids))
            if operations > 0 { extras[Extra.targetCPUPerOp] = targetCPU / operations * 1e6 }
        }
        let split = !self.proxyCPUs.isEmpty && Set(self.proxyCPUs).isDisjoint(with: self.loadCPUs)
        let clientBound = target != .direct && split && loadShare >= 0.95 && targetShare < 0.9
        return MeasuredRun(
            variant: variant.id, target: target, round: round, value: value, extras: extras, clientBound: clientBound,
            note: note)
    }

    // MARK: idle connections

    private func idle(
        _ variant: Variant, target: TargetName, round: Int, address: SocketAddress, pids: [pid_t]
    ) async throws -> MeasuredRun {
        let count = self.options.idleConnections
        let holder = IdleConnections(group: self.group, address: address)
        usleep(300_000)
        let baseline = HostSystem.memoryMiB(pids)
        let failedConnects = await holder.open(count)
        usleep(500_000)
        let connected = HostSystem.memoryMiB(pids)
        let missing = await holder.exchange(size: 64, timeout: .seconds(30))
        usleep(500_000)
        let after = HostSystem.memoryMiB(pids)
        let threads = HostSystem.threads(pids)
        await holder.closeAll()
        var extras: [String: Double] = [Extra.errors: Double(failedConnects + missing)]
        extras[Extra.baselineRSSMiB] = baseline
        extras[Extra.rssBeforeExchangeMiB] = connected
        extras[Extra.rssMiB] = after
        extras[Extra.threads] = Double(threads)
        let value = (after - baseline) * 1024 / Double(max(1, count - failedConnects))
        return MeasuredRun(variant: variant.id, target: target, round: round, value: value, extras: extras)
    }

    // MARK: external clients

    /// Runs iperf3 through `port`; returns bits/s received and bytes received.
    private func iperf(port: Int, streams: Int) throws -> (Double, Double) {
        let seconds = max(1, Int(self.options.duration.rounded()))
        var arguments = ["-c", "127.0.0.1", "-p", String(port), "-t", String(seconds), "-P", String(streams), "-J"]
        if self.options.warmup >= 1 { arguments += ["-O", String(Int(self.options.warmup))] }
        // The iperf3 server runs one test at a time and may still be finishing the previous one: try twice.
        var failure = "no output"
        for attempt in 1...2 {
            if attempt > 1 { usleep(1_000_000) }
            guard let output = HostSystem.capture("/usr/bin/iperf3", arguments),
                let json = try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
            else { continue }
            if let end = json["end"] as? [String: Any], let received = end["sum_received"] as? [String: Any],
                let bits = received["bits_per_second"] as? Double, let bytes = received["bytes"] as? Double
            {
                return (bits, bytes)
            }
            failure = (json["error"] as? String) ?? "no result"
        }
        throw BenchError("iperf3 through port \(port): \(failure)")
    }

    /// Sends 20 MB instances with dcmtk's storescu until the duration is used up; returns MB/s (10⁶ bytes), the
    /// instances sent and failed runs.
    private func storescu(port: Int) throws -> (Double, Int, Int) {
        let perRun = self.options.quick ? 2 : 5
        let size = (try? FileManager.default.attributesOfItem(atPath: self.dicomFile)[.size] as? Int) ?? 0
        var instances = 0
        var failures = 0
        let start = Date()
        repeat {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/storescu")
            process.arguments = ["-aet", "MODALITY1", "-aec", "MACH7", "127.0.0.1", String(port)]
                + Array(repeating: self.dicomFile, count: perRun)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            if process.terminationStatus == 0 { instances += perRun } else { failures += 1 }
        } while Date().timeIntervalSince(start) < self.options.duration + self.options.warmup
        let elapsed = Date().timeIntervalSince(start)
        return (Double(instances * size) / elapsed / 1e6, instances, failures)
    }
}

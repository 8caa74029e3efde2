import Foundation
import Glibc
import PacsgateBenchKit

/// Where targets and load run in one layout.
struct Placement {
    let layout: Layout
    /// CPUs the targets are pinned to (empty: not pinned).
    let proxyCPUs: [Int]
    /// CPUs the client and backends run on.
    let loadCPUs: [Int]
    /// HAProxy's `nbthread`, nginx's `worker_processes`; pacsgate sizes itself to its CPUs.
    let workers: Int

    /// `split`: targets on the upper half of the CPUs, load on the lower; `shared`: nothing pinned, a worker per CPU.
    static func of(_ layout: Layout, cores: Int) -> Placement {
        if layout == .split, cores >= 2 {
            return Placement(
                layout: .split, proxyCPUs: Array((cores / 2)..<cores), loadCPUs: Array(0..<(cores / 2)),
                workers: cores - cores / 2)
        }
        return Placement(layout: layout, proxyCPUs: [], loadCPUs: Array(0..<cores), workers: cores)
    }

    var description: String {
        self.proxyCPUs.isEmpty
            ? "\(self.layout.rawValue): nothing pinned, targets, client and backends share \(self.loadCPUs.count) cores"
            : "\(self.layout.rawValue): targets pinned to CPU \(self.proxyCPUs.map(String.init).joined(separator: ",")), "
                + "client and backends pinned to CPU \(self.loadCPUs.map(String.init).joined(separator: ","))"
    }
}

/// Starts and stops the targets with equivalent configurations.
struct Targets {
    let routes: [Route]
    let workDirectory: String
    let pacsgateBinary: String
    let haproxySplice: Bool
    /// What the targets present on routes that terminate TLS.
    let certificate: TerminationCertificate

    /// The configuration files, written once (HAProxy's and nginx's per worker count).
    func writeConfigurations(workers: [Int]) throws -> [String: String] {
        var configurations = [
            "pacsgate": TargetConfigurations.pacsgate(
                routes: self.routes, workDirectory: self.workDirectory, tls: self.certificate),
            "pacsgate-nio": TargetConfigurations.pacsgate(
                routes: self.routes, workDirectory: self.workDirectory, engine: "nio", tls: self.certificate),
        ]
        for count in Set(workers) {
            configurations["haproxy-\(count)"] = TargetConfigurations.haproxy(
                routes: self.routes, threads: count, splice: self.haproxySplice, tls: self.certificate)
            configurations["nginx-\(count)"] = TargetConfigurations.nginx(
                routes: self.routes, workers: count, workDirectory: self.workDirectory, tls: self.certificate)
        }
        for (name, text) in configurations {
            try text.write(toFile: self.path(name), atomically: true, encoding: .utf8)
        }
        return configurations
    }

    private func path(_ name: String) -> String {
        if name.hasPrefix("haproxy") { return "\(self.workDirectory)/\(name).cfg" }
        if name.hasPrefix("nginx") { return "\(self.workDirectory)/\(name).conf" }
        return "\(self.workDirectory)/\(name).yaml"
    }

    /// The port a client connects to for `route` on `target`.
    func port(of route: Route, on target: TargetName) -> Int {
        target == .direct ? route.directPort ?? route.back : route.front
    }

    /// Starts `target` (nothing for direct) placed as `placement` says and waits until all its listeners accept.
    func start(_ target: TargetName, _ placement: Placement) throws -> ChildProcess? {
        let log = "\(self.workDirectory)/\(target.rawValue).log"
        if target != .direct, let busy = self.routes.map(\.front).first(where: HostSystem.isListening) {
            // Something else (a target left over from an interrupted run) holds a port: measuring it would be wrong.
            throw BenchError("port \(busy) is already in use before \(target.rawValue) starts")
        }
        let process: ChildProcess
        let cpus = placement.proxyCPUs
        switch target {
        case .direct:
            return nil
        case .haproxy:
            process = try ChildProcess(
                name: "haproxy", executable: "/usr/sbin/haproxy",
                arguments: ["-db", "-f", self.path("haproxy-\(placement.workers)")], log: log, cpus: cpus)
        case .nginx:
            process = try ChildProcess(
                name: "nginx", executable: "/usr/sbin/nginx",
                arguments: [
                    "-c", self.path("nginx-\(placement.workers)"), "-p", self.workDirectory, "-e",
                    "\(self.workDirectory)/nginx-error.log",
                ],
                log: log, cpus: cpus)
        case .pacsgate, .pacsgateNIO:
            process = try ChildProcess(
                name: target.rawValue, executable: self.pacsgateBinary,
                arguments: ["run", "--config", self.path(target.rawValue)], log: log, cpus: cpus)
        }
        guard HostSystem.waitForPorts(self.routes.map(\.front), timeout: 20), process.isRunning else {
            process.stop()
            let tail = (HostSystem.read(log) ?? "").split(separator: "\n").suffix(5).joined(separator: "\n")
            throw BenchError("\(target.rawValue) did not start listening within 20 s; its log ends:\n\(tail)")
        }
        return process
    }

    /// Stops a target and waits until its ports are free again.
    func stop(_ process: ChildProcess?) {
        guard let process else { return }
        process.stop()
        HostSystem.waitForPortsFree(self.routes.map(\.front), timeout: 5)
    }
}

import Foundation
import Glibc
import PacsgateBenchKit

/// Starts and stops the four targets with equivalent configurations.
struct Targets {
    let routes: [Route]
    let workDirectory: String
    let proxyCPUs: [Int]
    let workers: Int
    let pacsgateBinary: String
    let haproxySplice: Bool
    /// What the targets present on routes that terminate TLS.
    let certificate: TerminationCertificate

    /// The configuration files, written once.
    func writeConfigurations() throws -> [String: String] {
        let configurations = [
            "haproxy": TargetConfigurations.haproxy(
                routes: self.routes, threads: self.workers, splice: self.haproxySplice, tls: self.certificate),
            "nginx": TargetConfigurations.nginx(
                routes: self.routes, workers: self.workers, workDirectory: self.workDirectory, tls: self.certificate),
            "pacsgate": TargetConfigurations.pacsgate(
                routes: self.routes, workDirectory: self.workDirectory, tls: self.certificate),
        ]
        for (name, text) in configurations {
            try text.write(toFile: self.path(name), atomically: true, encoding: .utf8)
        }
        return configurations
    }

    private func path(_ name: String) -> String {
        switch name {
        case "haproxy": return "\(self.workDirectory)/haproxy.cfg"
        case "nginx": return "\(self.workDirectory)/nginx.conf"
        default: return "\(self.workDirectory)/pacsgate.yaml"
        }
    }

    /// The port a client connects to for `route` on `target`.
    func port(of route: Route, on target: TargetName) -> Int {
        target == .direct ? route.directPort ?? route.back : route.front
    }

    /// Starts `target` (nothing for direct) and waits until all its listeners accept connections.
    func start(_ target: TargetName) throws -> ChildProcess? {
        let log = "\(self.workDirectory)/\(target.rawValue).log"
        let process: ChildProcess
        switch target {
        case .direct:
            return nil
        case .haproxy:
            process = try ChildProcess(
                name: "haproxy", executable: "/usr/sbin/haproxy", arguments: ["-db", "-f", self.path("haproxy")],
                log: log, cpus: self.proxyCPUs)
        case .nginx:
            process = try ChildProcess(
                name: "nginx", executable: "/usr/sbin/nginx",
                arguments: ["-c", self.path("nginx"), "-p", self.workDirectory, "-e", "\(self.workDirectory)/nginx-error.log"],
                log: log, cpus: self.proxyCPUs)
        case .pacsgate:
            process = try ChildProcess(
                name: "pacsgate", executable: self.pacsgateBinary, arguments: ["run", "--config", self.path("pacsgate")],
                log: log, cpus: self.proxyCPUs)
        }
        guard HostSystem.waitForPorts(self.routes.map(\.front), timeout: 20) else {
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

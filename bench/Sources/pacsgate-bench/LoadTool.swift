import Foundation
import PacsgateBenchKit

/// The C load generator (`pacsgate-load`, a target of this package): an epoll client fast enough to saturate HAProxy
/// on two cores, and the request/response backend of `tcp-connect`.
struct LoadTool {
    let executable: String
    let workDirectory: String

    /// One exchange of a script: the bytes to send and how the reply ends.
    struct Step {
        enum Reply {
            /// One DICOM PDU of this type.
            case pdu(UInt8)
            /// One MLLP frame.
            case mllp
            /// Exactly this many bytes.
            case bytes(Int)
        }

        var send: [UInt8]
        var reply: Reply

        var line: String {
            let framing: String
            switch self.reply {
            case .pdu(let type): framing = "pdu:\(type)"
            case .mllp: framing = "mllp"
            case .bytes(let count): framing = "bytes:\(count)"
            }
            return framing + " " + self.send.map { String(format: "%02x", $0) }.joined()
        }
    }

    /// What one run of the client measured.
    struct Result: Decodable {
        var operations: Int
        var allOperations: Int
        var errors: Int
        var window: Double
        var p50: Double
        var p99: Double
        var p999: Double

        enum CodingKeys: String, CodingKey {
            case operations, errors, window
            case allOperations = "all_operations"
            case p50 = "p50_ms"
            case p99 = "p99_ms"
            case p999 = "p999_ms"
        }
    }

    /// The request/response backend: answers `response` bytes to every `request` bytes.
    func startBackend(port: Int, threads: Int, request: Int, response: Int) throws -> ChildProcess {
        try ChildProcess(
            name: "pacsgate-load-serve", executable: self.executable,
            arguments: [
                "serve", "--port", String(port), "--threads", String(threads), "--request", String(request),
                "--response", String(response),
            ],
            log: "\(self.workDirectory)/pacsgate-load-serve.log")
    }

    /// Runs the client: time-bound (`operations` nil) or a fixed number of operations one at a time.
    func run(
        _ name: String, steps: [Step], port: Int, concurrency: Int, threads: Int, warmup: Double, duration: Double,
        persistent: Bool = false, operations: Int? = nil
    ) throws -> Result {
        let script = "\(self.workDirectory)/\(name).script"
        try (steps.map(\.line).joined(separator: "\n") + "\n").write(toFile: script, atomically: true, encoding: .utf8)
        var arguments = [
            "client", "--port", String(port), "--script", script, "--concurrency", String(concurrency), "--threads",
            String(threads), "--warmup", String(warmup), "--duration", String(duration),
        ]
        if persistent { arguments.append("--persistent") }
        if let operations { arguments += ["--operations", String(operations)] }
        guard let output = HostSystem.capture(self.executable, arguments),
            let line = output.split(separator: "\n").last
        else {
            throw BenchError("\(self.executable) gave no result")
        }
        return try JSONDecoder().decode(Result.self, from: Data(line.utf8))
    }
}

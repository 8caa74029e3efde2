import Foundation
import PacsgateTestSupport
import Testing

/// Real peers speaking TLS: dcmtk's storescp as a Mach7 node that only speaks TLS, and the MLLP peers of
/// `Fixtures/mllp_tls.py` (python-hl7 framing over Python's `ssl`).
enum TLSPeers {
    /// `storescp -v +tls NODE.key NODE.crt +cf CA -aet MACH7 +B -od DIR PORT`: requires and verifies a client
    /// certificate (dcmtk's default `-rc`), writes every instance as it arrived.
    static func storescp(_ name: String, site: SecureSite, scope: TestScope) async throws -> RealSCP {
        let directory = try scope.makeDirectory("\(name)-received")
        return try await RealSCP.start(name, scope: scope, directory: directory) { port in
            (
                Peers.storescp,
                [
                    "-v", "+tls", site.node.key, site.node.certificate, "+cf", site.ca.certificate, "-aet", "MACH7",
                    "+B", "-od", directory, String(port),
                ]
            )
        }
    }

    /// The MLLP peer script.
    static var script: String {
        get throws {
            try #require(Bundle.module.path(forResource: "mllp_tls", ofType: "py", inDirectory: "Fixtures"))
        }
    }

    /// An MLLP receiver (python-hl7's server) answering AA to every message; over TLS requiring a client certificate
    /// of the CA when `tls` is set. Received bytes go to `<dir>/<name>.received`.
    static func receiver(_ name: String, site: SecureSite?, scope: TestScope) async throws -> MLLPReceiver {
        let portFile = "\(scope.directory)/\(name).port"
        let received = "\(scope.directory)/\(name).received"
        var arguments = ["python3", try Self.script, "receive", "--port-file", portFile, "--out", received]
        if let site {
            arguments += ["--cert", site.node.certificate, "--key", site.node.key, "--ca", site.ca.certificate]
        }
        let process = try await ChildProcess.start(
            Peers.env, arguments, name: name, directory: scope.directory, scope: scope)
        let ready = await eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: portFile) }
        guard ready, let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) else {
            Issue.record("\(name) did not start: \(process.output)")
            throw Peers.Missing(description: "\(name) did not start")
        }
        return MLLPReceiver(process: process, port: port, receivedPath: received)
    }

    /// Sends `frames` (hex of raw bytes, each written as is) to `port` over TLS as a client presenting `pair` (none:
    /// no certificate), or in plaintext when `site` is nil; prints each answer frame as one hex line.
    static func send(
        _ frames: [[UInt8]],
        port: Int,
        site: SecureSite?,
        client pair: TestCA.Pair?,
        scope: TestScope,
        answers: Int
    ) async throws -> (status: Int32?, answers: [String], output: String) {
        var arguments = [try Self.script, "send", "--port", String(port), "--answers", String(answers)]
        if let site {
            arguments += ["--ca", site.ca.certificate, "--server-name", "pacsgate.test"]
            if let pair { arguments += ["--cert", pair.certificate, "--key", pair.key] }
        }
        arguments += frames.map { $0.map { String(format: "%02x", $0) }.joined() }
        let result = try await Peers.run(
            Peers.env, ["python3"] + arguments, name: "mllp-send-\(UUID().uuidString.prefix(6))", scope: scope)
        let answers = result.output.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("ANSWER ") else { return nil }
            let hex = Array(line.dropFirst(7).utf8)
            var bytes: [UInt8] = []
            var index = 0
            while index + 1 < hex.count {
                bytes.append(UInt8(String(decoding: hex[index...index + 1], as: UTF8.self), radix: 16) ?? 0)
                index += 2
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        return (result.status, answers, result.output)
    }
}

/// The python-hl7 receiver of `mllp_tls.py`.
struct MLLPReceiver: Sendable {
    let process: ChildProcess
    let port: Int
    let receivedPath: String

    /// Everything it received, as received.
    var received: String {
        (try? String(contentsOfFile: self.receivedPath, encoding: .isoLatin1)) ?? ""
    }
}

/// An MLLP frame of `payload`.
func framed(_ payload: String) -> [UInt8] {
    [0x0B] + Array(payload.utf8) + [0x1C, 0x0D]
}

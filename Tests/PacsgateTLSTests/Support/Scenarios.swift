import Foundation
import Testing

/// The real peers most integration tests share: two `openssl s_server` nodes, A (`a.mach7.test`) and B
/// (`b.mach7.test`), each with its own self-signed certificate, answering `GET /id.txt` with their label.
struct TwoServers: Sendable {
    let a: OpenSSLServer
    let b: OpenSSLServer
    let certificateA: TestPKI.Pair
    let certificateB: TestPKI.Pair

    static func start(in environment: TestEnvironment) async throws -> TwoServers {
        let pki = TestPKI(environment: environment)
        let certificateA = try await pki.selfSigned("a", dnsNames: ["a.mach7.test"])
        let certificateB = try await pki.selfSigned("b", dnsNames: ["b.mach7.test", "*.b.mach7.test"])
        let a = try await environment.startOpenSSLServer(label: "A", pair: certificateA)
        let b = try await environment.startOpenSSLServer(label: "B", pair: certificateB)
        return TwoServers(a: a, b: b, certificateA: certificateA, certificateB: certificateB)
    }

    /// A passthrough service routing `a.mach7.test` to A and `b.mach7.test` / `*.b.mach7.test` to B, everything else
    /// to `defaultServer`.
    func passthroughYAML(defaultServer: String = "A", unknownSNI: String = "default", extra: String = "") -> String {
        """
        services:
          - label: HTTPS
            listen: "127.0.0.1:1"
            protocol: tls
            sni_routes:
              a.mach7.test: A
              b.mach7.test: [B]
              "*.b.mach7.test": [B]
            default_servers: [\(defaultServer)]
            unknown_sni: \(unknownSNI)
        \(extra)
            servers:
              - \(self.a.yaml())
              - \(self.b.yaml())
        """
    }
}

/// The helper script driving real ClientHellos of chosen shapes (see `Fixtures/tls_client.py`).
func tlsClientScript() throws -> String {
    guard let url = Bundle.module.url(forResource: "tls_client", withExtension: "py", subdirectory: "Fixtures") else {
        throw TestFailure("Fixtures/tls_client.py missing from the test bundle")
    }
    return url.path
}

extension TestEnvironment {
    /// `curl --http1.1 --resolve NAME:PORT:127.0.0.1 https://NAME:PORT/PATH` with extra arguments (e.g. `-k` or
    /// `--cacert FILE`); prints the body, then `\nHTTP=<status>`.
    func curl(_ name: String, port: Int, path: String = "/id.txt", _ arguments: [String]) async throws -> ProcessOutput
    {
        try await self.run(
            .curl,
            ["-sS", "--http1.1", "--max-time", "20", "--resolve", "\(name):\(port):127.0.0.1"] + arguments + [
                "-w", "\nHTTP=%{http_code}", "https://\(name):\(port)\(path)",
            ]
        )
    }

    /// `openssl s_client` through `port` with `servername` and `alpn`, sending `GET /id.txt`.
    func sClient(port: Int, serverName: String?, alpn: String?) async throws -> ProcessOutput {
        var arguments = ["s_client", "-connect", "127.0.0.1:\(port)", "-ign_eof"]
        if let serverName { arguments += ["-servername", serverName] } else { arguments += ["-noservername"] }
        if let alpn { arguments += ["-alpn", alpn] }
        return try await self.run(
            .openssl,
            arguments,
            input: Data("GET /id.txt HTTP/1.0\r\n\r\n".utf8),
            timeout: .seconds(30)
        )
    }
}

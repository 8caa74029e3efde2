import Foundation
import PacsgateTestSupport
import Testing

@testable import PacsgateCore

/// The parser against headers written by a real sender: HAProxy 2.6 with `send-proxy`, `send-proxy-v2` (with its
/// SSL, authority and CRC32C options, behind its own TLS termination) and `check-send-proxy` health checks, each
/// captured by a small listener and parsed byte for byte.
@Suite("PROXY headers from HAProxy", .serialized, .timeLimit(.minutes(2)))
struct ProxyHeaderHAProxyTests {
    static let haproxy = "/usr/sbin/haproxy"

    /// Accepts `count` connections one after another and appends each one's bytes (in hex, one line per
    /// connection) to `OUT`; the port it listens on goes to `OUT.port`.
    static let captureScript = """
        import binascii, os, socket, sys
        out, count = sys.argv[1], int(sys.argv[2])
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        with open(out + ".tmp", "w") as f:
            f.write(str(listener.getsockname()[1]))
        os.rename(out + ".tmp", out + ".port")
        for _ in range(count):
            connection, _ = listener.accept()
            connection.settimeout(20)
            data = b""
            while True:
                try:
                    chunk = connection.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    break
                if not chunk:
                    break
                data += chunk
            connection.close()
            with open(out, "a") as f:
                f.write(binascii.hexlify(data).decode() + "\\n")
        """

    /// Connects from 127.0.0.9 to `PORT` (over TLS with SNI and ALPN when `MODE` is `tls`), sends `PAYLOAD`, closes;
    /// prints its own port.
    static let clientScript = """
        import socket, ssl, sys
        port, mode, payload = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
        raw = socket.socket()
        raw.bind(("127.0.0.9", 0))
        raw.connect(("127.0.0.1", port))
        print(raw.getsockname()[1])
        if mode == "tls":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.set_alpn_protocols(["http/1.1"])
            raw = context.wrap_socket(raw, server_hostname="pacs.example.org")
        raw.sendall(payload)
        if mode == "tls":
            raw = raw.unwrap()
        raw.close()
        """

    struct Capture {
        let process: ChildProcess
        let output: String
        let port: Int

        static func start(_ name: String, count: Int, scope: TestScope) async throws -> Capture {
            let script = "\(scope.directory)/capture.py"
            try ProxyHeaderHAProxyTests.captureScript.write(toFile: script, atomically: true, encoding: .utf8)
            let output = "\(scope.directory)/\(name).hex"
            let process = try await ChildProcess.start(
                Peers.env, ["python3", script, output, String(count)], name: name, directory: scope.directory, scope: scope)
            #expect(await eventually { FileManager.default.fileExists(atPath: output + ".port") })
            let port = try #require(Int(try String(contentsOfFile: output + ".port", encoding: .utf8)))
            return Capture(process: process, output: output, port: port)
        }

        /// The bytes of each connection captured so far.
        var connections: [[UInt8]] {
            let text = (try? String(contentsOfFile: self.output, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").map { line in
                var bytes: [UInt8] = []
                var index = line.startIndex
                while index < line.endIndex, let next = line.index(index, offsetBy: 2, limitedBy: line.endIndex) {
                    bytes.append(UInt8(line[index..<next], radix: 16) ?? 0)
                    index = next
                }
                return bytes
            }
        }
    }

    @Test("send-proxy, send-proxy-v2 with ssl/authority/crc32c, and a check-send-proxy health check")
    func haproxyHeaders() async throws {
        try await withTestScope(
            directoryPrefix: "pacsgate-proxyproto",
            missingPeerAdvice: "the PROXY protocol tests need haproxy, openssl and python3 (scripts/install-test-deps.sh)"
        ) { scope in
            try Peers.require(Self.haproxy, scope.missingPeerAdvice)
            let ca = try await TestCA.make("Proxy CA", in: scope.directory)
            let leaf = try await ca.issue("haproxy", commonName: "pacs.example.org", alternativeNames: ["DNS:pacs.example.org"], usage: .server)
            let pem = "\(scope.directory)/haproxy.pem"
            try (try String(contentsOfFile: leaf.certificate, encoding: .utf8) + String(contentsOfFile: leaf.key, encoding: .utf8))
                .write(toFile: pem, atomically: true, encoding: .utf8)

            let data = try await Capture.start("capture-data", count: 2, scope: scope)
            let checks = try await Capture.start("capture-checks", count: 1, scope: scope)
            let plainPort = try Ports.free()
            let tlsPort = try Ports.free()
            let configuration = """
                defaults
                  mode tcp
                  timeout connect 5s
                  timeout client 20s
                  timeout server 20s
                frontend plain
                  bind 127.0.0.1:\(plainPort)
                  default_backend v1
                frontend terminated
                  bind 127.0.0.1:\(tlsPort) ssl crt \(pem) alpn http/1.1
                  default_backend v2
                backend v1
                  server node 127.0.0.1:\(data.port) send-proxy
                backend v2
                  server node 127.0.0.1:\(data.port) send-proxy-v2 proxy-v2-options ssl,ssl-cipher,authority,crc32c
                backend checked
                  server node 127.0.0.1:\(checks.port) send-proxy-v2 check check-send-proxy inter 60s

                """
            let configPath = "\(scope.directory)/haproxy.cfg"
            try configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
            let haproxy = try await ChildProcess.start(
                Self.haproxy, ["-db", "-f", configPath], name: "haproxy", directory: scope.directory, scope: scope)
            #expect(await Ports.waitListening(tlsPort, while: { haproxy.isRunning }), "haproxy: \(haproxy.output)")

            let parser = ProxyHeaderParser()
            // v1 through the plain frontend.
            let v1Client = try await Peers.python(Self.clientScript, [String(plainPort), "plain", "hello-v1"], name: "client-v1", scope: scope)
            let v1Port = try #require(UInt16(v1Client.trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(await eventually { data.connections.count >= 1 })
            let v1Bytes = try #require(data.connections.first)
            guard case .header(let v1, let v1Length) = parser.parse(v1Bytes) else {
                Issue.record("HAProxy's v1 line did not parse: \(String(decoding: v1Bytes, as: UTF8.self))")
                return
            }
            #expect(String(decoding: v1Bytes[0..<v1Length], as: UTF8.self) == "PROXY TCP4 127.0.0.9 127.0.0.1 \(v1Port) \(plainPort)\r\n")
            #expect(v1.version == .v1)
            #expect(v1.clientAddress?.description == "127.0.0.9:\(v1Port)")
            #expect(Array(v1Bytes[v1Length...]) == Array("hello-v1".utf8), "the bytes after the header belong to the connection")
            // The encoder writes the same line.
            #expect(ProxyHeaderEncoder.v1(source: v1.clientAddress, destination: v1.destinationAddress) == Array(v1Bytes[0..<v1Length]))

            // v2 behind HAProxy's TLS termination: SNI, ALPN, SSL and a checksum the parser verifies.
            let v2Client = try await Peers.python(Self.clientScript, [String(tlsPort), "tls", "hello-v2"], name: "client-v2", scope: scope)
            let v2Port = try #require(UInt16(v2Client.trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(await eventually { data.connections.count >= 2 })
            let v2Bytes = data.connections[1]
            guard case .header(let v2, let v2Length) = parser.parse(v2Bytes) else {
                Issue.record("HAProxy's v2 header did not parse: \(parser.parse(v2Bytes))")
                return
            }
            #expect(v2.version == .v2)
            #expect(v2.command == .proxy)
            #expect(v2.clientAddress?.description == "127.0.0.9:\(v2Port)")
            #expect(v2.destinationAddress?.description == "127.0.0.1:\(tlsPort)")
            #expect(v2.authority == "pacs.example.org")
            #expect(v2.alpn == Array("http/1.1".utf8))
            let ssl = try #require(v2.ssl)
            #expect(ssl.client & ProxySSLInfo.clientSSL != 0)
            #expect(ssl.version?.hasPrefix("TLSv1.") == true, "\(ssl)")
            #expect(ssl.cipher?.isEmpty == false)
            #expect(v2.tlvs.contains { $0.type == ProxyTLV.Kind.crc32c.rawValue }, "crc32c was asked for")
            #expect(Array(v2Bytes[v2Length...]) == Array("hello-v2".utf8))
            // A flipped byte in HAProxy's own header fails its checksum.
            var corrupted = v2Bytes
            corrupted[17] ^= 0x40
            #expect(parser.parse(corrupted) == .invalid(.checksum))

            // The health check with send-proxy-v2 sends LOCAL.
            #expect(await eventually { checks.connections.count >= 1 })
            let checkBytes = try #require(checks.connections.first)
            guard case .header(let check, let checkLength) = parser.parse(checkBytes) else {
                Issue.record("HAProxy's health check header did not parse: \(checkBytes)")
                return
            }
            #expect(check.command == .local)
            #expect(check.clientAddress == nil)
            #expect(checkLength == checkBytes.count)
        }
    }
}

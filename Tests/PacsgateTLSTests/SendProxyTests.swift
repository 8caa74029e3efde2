import Foundation
import PacsgateCore
import PacsgateTestSupport
import Testing

/// `send_proxy: v1 | v2` (issue 20, must show 2): real PROXY receivers behind the gateway — HAProxy (`accept-proxy`)
/// and nginx (`listen … proxy_protocol`) — log the client's own address (a client bound to 127.0.0.9; the gateway
/// connects from 127.0.0.1), HAProxy the SNI from the v2 `PP2_TYPE_AUTHORITY` TLV; health checks to such servers
/// send a `LOCAL` header and pass where the same check without it fails. Runs on both engines (scripts/test.sh).
@Suite("PROXY protocol towards servers, read by HAProxy and nginx", .serialized, .timeLimit(.minutes(3)))
struct SendProxyTests {
    /// The loopback address the test's clients connect from.
    static let clientAddress = "127.0.0.9"

    @Test("HAProxy accept-proxy behind a TLS passthrough service logs the client's address (v1, v2) and the SNI (v2)")
    func haproxyReadsTheHeaders() async throws {
        try await TestEnvironment.with { environment in
            let pki = TestPKI(environment: environment)
            let pair = try await pki.selfSigned("a", dnsNames: ["a.mach7.test"])
            let server = try await environment.startOpenSSLServer(label: "A", pair: pair)
            let haproxy = try await HAProxyReceiver.start(in: environment, backendPort: server.port)
            let yaml = """
                services:
                  - label: V2
                    listen: "127.0.0.1:1"
                    protocol: tls
                    health_check: { type: tls, interval: 300ms, timeout: 2s, rise: 1, fall: 1, path: /id.txt }
                    servers:
                      - { label: HAPROXY, address: "127.0.0.1:\(haproxy.v2Port)", send_proxy: v2 }
                  - label: V1
                    listen: "127.0.0.1:2"
                    protocol: tls
                    health_check: { type: tls, interval: 300ms, timeout: 2s, rise: 1, fall: 1, path: /id.txt }
                    servers:
                      - { label: HAPROXY, address: "127.0.0.1:\(haproxy.v1Port)", send_proxy: v1 }
                  - label: NONE
                    listen: "127.0.0.1:3"
                    protocol: tls
                    health_check: { type: tls, interval: 300ms, timeout: 2s, rise: 1, fall: 1, path: /id.txt }
                    servers:
                      - { label: HAPROXY, address: "127.0.0.1:\(haproxy.v2Port)" }
                """
            try await withGateway(yaml: yaml) { gateway in
                // Health checks: a LOCAL header (v2) or `PROXY UNKNOWN` (v1) first, then TLS and GET /id.txt through
                // HAProxy; without a header HAProxy drops the check's connection.
                for service in ["V2", "V1", "NONE"] {
                    let runtime = try await gateway.runtime(service)
                    #expect(
                        await eventually { runtime.pool.snapshot().first?.lastCheck != nil },
                        "no health check result for \(service)")
                }
                for service in ["V2", "V1"] {
                    let check = try await gateway.runtime(service).pool.snapshot().first?.lastCheck
                    #expect(check?.succeeded == true, "\(service): \(String(describing: check))\n\(haproxy.process.output)")
                }
                let control = try await gateway.runtime("NONE").pool.snapshot().first?.lastCheck
                #expect(control?.succeeded == false, "a check without a header passed: \(String(describing: control))")

                for service in ["V2", "V1"] {
                    let port = try await gateway.port(service)
                    let reply = try await environment.curl(
                        "a.mach7.test", port: port, ["-k", "--interface", Self.clientAddress])
                    #expect(reply.status == 0 && reply.out.hasPrefix("A\n"), "\(service): \(reply.summary)")
                }
                let v2Port = try await gateway.port("V2")
                let v1Port = try await gateway.port("V1")
                let output = try await haproxy.process.waitForOutput(containing: "V1 CLIENT \(Self.clientAddress)")
                _ = try await haproxy.process.waitForOutput(containing: "V2 CLIENT \(Self.clientAddress)")
                let lines = haproxy.process.output.split(separator: "\n").filter { $0.contains(Self.clientAddress) }
                let v2 = try #require(lines.first { $0.hasPrefix("V2 ") }, "\(output)")
                #expect(v2.hasSuffix("DST 127.0.0.1:\(v2Port) AUTHORITY a.mach7.test"), "\(v2)")
                let v1 = try #require(lines.first { $0.hasPrefix("V1 ") }, "\(output)")
                // v1 carries no TLVs.
                #expect(v1.hasSuffix("DST 127.0.0.1:\(v1Port) AUTHORITY -"), "\(v1)")
            }
        }
    }

    @Test("nginx listen … proxy_protocol behind a TCP service logs the client's address", arguments: ["v1", "v2"])
    func nginxReadsTheHeader(version: String) async throws {
        try await TestEnvironment.with { environment in
            let nginx = try await NginxReceiver.start(in: environment)
            let yaml = """
                services:
                  - label: TCP
                    listen: "127.0.0.1:1"
                    servers:
                      - { label: NGINX, address: "127.0.0.1:\(nginx.port)", send_proxy: \(version) }
                """
            try await withGateway(yaml: yaml) { gateway in
                let port = try await gateway.port("TCP")
                let reply = try await environment.run(
                    .python,
                    [
                        "-c",
                        """
                        import socket, sys
                        s = socket.socket()
                        s.bind(("\(Self.clientAddress)", 0))
                        s.connect(("127.0.0.1", \(port)))
                        data = b""
                        while True:
                            chunk = s.recv(4096)
                            if not chunk:
                                break
                            data += chunk
                        print(s.getsockname()[1], data.decode().strip())
                        """,
                    ])
                #expect(reply.status == 0, "\(reply.summary)")
                let fields = reply.out.split(whereSeparator: \.isWhitespace)
                #expect(fields.last == "hello", "\(reply.summary)")
                let clientPort = try #require(fields.first.map(String.init))
                #expect(
                    await eventually {
                        nginx.accessLog.contains("CLIENT \(Self.clientAddress):\(clientPort) TO 127.0.0.1:\(port)")
                    },
                    "nginx logged: \(nginx.accessLog)\nerrors: \(nginx.process.output)")
            }
        }
    }
}

/// HAProxy 2.6 with two `accept-proxy` listeners (v1 and v2 are both accepted on each; the names say what the
/// gateway sends) in front of `backendPort`, logging each connection's client, destination and `fc_pp_authority`.
struct HAProxyReceiver {
    let v1Port: Int
    let v2Port: Int
    let process: BackgroundProcess

    static func start(in environment: TestEnvironment, backendPort: Int) async throws -> HAProxyReceiver {
        let v1Port = try Ports.free()
        let v2Port = try Ports.free()
        let configuration = try environment.write(
            "haproxy.cfg",
            """
            global
                log stdout format raw local0
                maxconn 200
            defaults
                mode tcp
                log global
                timeout connect 5s
                timeout client 30s
                timeout server 30s
            listen v1
                bind 127.0.0.1:\(v1Port) accept-proxy
                log-format "V1 CLIENT %ci:%cp DST %fi:%fp AUTHORITY %[fc_pp_authority]"
                server backend 127.0.0.1:\(backendPort)
            listen v2
                bind 127.0.0.1:\(v2Port) accept-proxy
                log-format "V2 CLIENT %ci:%cp DST %fi:%fp AUTHORITY %[fc_pp_authority]"
                server backend 127.0.0.1:\(backendPort)

            """)
        let process = try environment.launch(.haproxy, ["-db", "-f", configuration], logName: "haproxy")
        for port in [v1Port, v2Port] {
            guard await Ports.waitListening(port, while: { process.process.isRunning }) else {
                throw TestFailure("HAProxy did not listen on \(port):\n\(process.output)")
            }
        }
        return HAProxyReceiver(v1Port: v1Port, v2Port: v2Port, process: process)
    }
}

/// nginx's stream module on `listen … proxy_protocol`, answering `hello` and logging `$proxy_protocol_addr`.
struct NginxReceiver {
    let port: Int
    let process: BackgroundProcess
    let accessLogPath: String

    var accessLog: String { (try? String(contentsOfFile: self.accessLogPath, encoding: .utf8)) ?? "" }

    static func start(in environment: TestEnvironment) async throws -> NginxReceiver {
        let port = try Ports.free()
        let directory = environment.path("nginx")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let accessLog = "\(directory)/access.log"
        let configuration = try environment.write(
            "nginx/nginx.conf",
            """
            load_module /usr/lib/nginx/modules/ngx_stream_module.so;
            daemon off;
            master_process off;
            pid \(directory)/nginx.pid;
            error_log stderr notice;
            events { worker_connections 64; }
            stream {
                log_format pp 'CLIENT $proxy_protocol_addr:$proxy_protocol_port TO $proxy_protocol_server_addr:$proxy_protocol_server_port';
                server {
                    listen 127.0.0.1:\(port) proxy_protocol;
                    access_log \(accessLog) pp;
                    return "hello\\n";
                }
            }

            """)
        let process = try environment.launch(
            .nginx, ["-c", configuration, "-p", directory, "-e", "stderr"], logName: "nginx")
        guard await Ports.waitListening(port, while: { process.process.isRunning }) else {
            throw TestFailure("nginx did not listen on \(port):\n\(process.output)")
        }
        return NginxReceiver(port: port, process: process, accessLogPath: accessLog)
    }
}

extension Tool {
    static let haproxy = Tool(name: "haproxy", candidates: ["/usr/sbin/haproxy"], package: "apt-get install haproxy")
    static let nginx = Tool(
        name: "nginx", candidates: ["/usr/sbin/nginx"], package: "apt-get install nginx-light libnginx-mod-stream")
}

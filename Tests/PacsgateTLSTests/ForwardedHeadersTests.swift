import Foundation
import NIOCore
import PacsgateCore
import Testing

@testable import PacsgateTLS

/// `forwarded_headers: true` in terminate mode: the rewriter alone, fed whole and one byte at a time, and (must
/// show 4) a real HTTP server behind the gateway seeing the client's address in every request of a keep-alive
/// connection, never what the client sent.
@Suite("Forwarded headers in terminate mode", .timeLimit(.minutes(3)))
struct ForwardedHeadersTests {
    static let added = "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\nForwarded: for=192.0.2.7;proto=https\r\n"

    /// What the rewriter forwards for `input` fed in chunks of `chunk` bytes, and its refusal if any.
    func rewrite(_ input: String, chunk: Int = .max, client: String = "192.0.2.7") -> (String, String?) {
        var rewriter = ForwardedHeaderRewriter(clientAddress: client)
        var forwarded = ""
        var refusal: String?
        let bytes = Array(input.utf8)
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + min(chunk, bytes.count))
            for action in rewriter.receive(ByteBuffer(bytes: bytes[index..<end])) {
                switch action {
                case .forward(let buffer): forwarded += String(buffer: buffer)
                case .refuse(let status, _): refusal = status
                }
            }
            index = end
        }
        return (forwarded, refusal)
    }

    @Test("every request of a keep-alive stream gets the headers; the client's copies are gone; bodies pass untouched")
    func keepAliveStream() {
        let requests =
            "GET /a HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\nx-forwarded-proto: http\r\n\r\n"
            + "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nFORWARDED: for=6.6.6.6\r\n\r\nhello"
            + "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"
            + "GET /d HTTP/1.0\r\nHost: x\r\n\r\n"
        let expected =
            "GET /a HTTP/1.1\r\nHost: x\r\n" + Self.added + "\r\n"
            + "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n" + Self.added + "\r\nhello"
            + "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + Self.added
            + "\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"
            + "GET /d HTTP/1.0\r\nHost: x\r\n" + Self.added + "\r\n"
        for chunk in [Int.max, 1, 2, 7] {
            let (forwarded, refusal) = self.rewrite(requests, chunk: chunk)
            #expect(refusal == nil, "chunk \(chunk)")
            #expect(forwarded == expected, "chunk \(chunk)")
        }
        // A request body that looks like a request head is body, not a request.
        let smuggled = "POST / HTTP/1.1\r\nContent-Length: 44\r\n\r\nGET / HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"
        #expect(self.rewrite(smuggled).0.components(separatedBy: "X-Forwarded-For").count == 3)
        // IPv6 clients are quoted and bracketed in Forwarded.
        #expect(self.rewrite("GET / HTTP/1.1\r\n\r\n", client: "2001:db8::1").0.contains("Forwarded: for=\"[2001:db8::1]\";proto=https\r\n"))
    }

    @Test("what cannot be framed safely is refused before it reaches the server")
    func refusals() {
        let cases: [(String, String)] = [
            ("GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "400 Bad Request"),
            ("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "400 Bad Request"),
            ("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "400 Bad Request"),
            ("GET / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "400 Bad Request"),
            ("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "400 Bad Request"),
            ("GET / HTTP/1.1\nHost: x\r\n\r\n", "400 Bad Request"),
            ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "400 Bad Request"),
            ("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "501 Not Implemented"),
            ("CONNECT node:443 HTTP/1.1\r\n\r\n", "501 Not Implemented"),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "400 Bad Request"),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", "400 Bad Request"),
            ("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 33 * 1024), "431 Request Header Fields Too Large"),
        ]
        for (input, status) in cases {
            let (forwarded, refusal) = self.rewrite(input)
            #expect(refusal == status, "\(input.prefix(60))")
            #expect(!forwarded.contains("HTTP/1.1\r\n") || input.hasPrefix("POST"), "nothing of a refused head is forwarded: \(forwarded.prefix(60))")
        }
        // After a refusal nothing more is forwarded.
        var rewriter = ForwardedHeaderRewriter(clientAddress: "192.0.2.7")
        _ = rewriter.receive(ByteBuffer(string: "CONNECT x:1 HTTP/1.1\r\n\r\n"))
        #expect(rewriter.receive(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n")).isEmpty)
    }

    @Test("check-config: forwarded_headers needs terminate mode")
    func configuration() throws {
        let pki = """
            services:
              - label: HTTPS
                listen: "127.0.0.1:1"
                protocol: tls
                forwarded_headers: true
                servers:
                  - { label: WEB, address: "127.0.0.1:2" }
            """
        do {
            _ = try TLSTestGateway.loadConfiguration(pki)
            Issue.record("forwarded_headers accepted in passthrough")
        } catch {
            #expect("\(error)".contains("'forwarded_headers' applies only with 'mode: terminate'"), "\(error)")
        }
    }

    /// A Python HTTP/1.1 server (keep-alive) answering each request with what it saw, as one JSON line: path, the three
    /// forwarding headers (every copy), the body length, and the port of the connection it came on.
    static let headerEcho = #"""
        import http.server, json
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b""):
                                pass
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", "0")))
            def answer(self):
                data = self.body()
                seen = {"path": self.path, "xff": self.headers.get_all("X-Forwarded-For") or [],
                        "proto": self.headers.get_all("X-Forwarded-Proto") or [],
                        "forwarded": self.headers.get_all("Forwarded") or [], "body": len(data),
                        "port": self.client_address[1]}
                out = (json.dumps(seen) + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
            do_GET = answer
            do_POST = answer
            def log_message(self, *args):
                pass
        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        print("PORT", server.server_address[1], flush=True)
        server.serve_forever()
        """#

    @Test("curl with forged headers, keep-alive and a chunked POST: the server sees only the client's address")
    func realServerBehindTermination() async throws {
        try await TestEnvironment.with { environment in
            let script = try environment.write("header_echo.py", Self.headerEcho)
            let web = try environment.launch(.python, [script], logName: "web")
            let printed = try await web.waitForOutput(containing: "\n")
            let webPort = try #require(printed.split(separator: " ").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
            let certificate = try await TestPKI(environment: environment).selfSigned("gateway", dnsNames: ["viewer.mach7.test"])
            let yaml = """
                services:
                  - label: HTTPS
                    listen: "127.0.0.1:1"
                    protocol: tls
                    mode: terminate
                    certificate: \(certificate.certificate)
                    key: \(certificate.key)
                    forwarded_headers: true
                    servers:
                      - { label: WEB, address: "127.0.0.1:\(webPort)" }
                """
            // HTTP/2 is not offered: its headers are not rewritten.
            do {
                _ = try TLSTestGateway.loadConfiguration(yaml.replacingOccurrences(of: "forwarded_headers: true", with: "forwarded_headers: true\n    alpn: [h2, http/1.1]"))
                Issue.record("h2 with forwarded_headers accepted")
            } catch {
                #expect("\(error)".contains("remove h2 from 'alpn'"), "\(error)")
            }
            try await withGateway(yaml: yaml) { gateway in
                let port = try await gateway.port()
                let body = try environment.write("body.txt", "a body of 21 bytes...")
                let common = [
                    "-sS", "-v", "--http1.1", "--max-time", "20", "--interface", "127.0.0.9", "--cacert", certificate.certificate,
                    "--resolve", "viewer.mach7.test:\(port):127.0.0.1",
                ]
                let url = "https://viewer.mach7.test:\(port)"
                let forged = ["-H", "X-Forwarded-For: 6.6.6.6", "-H", "x-forwarded-proto: http", "-H", "Forwarded: for=6.6.6.6"]
                let output = try await environment.run(
                    .curl,
                    common + forged + ["\(url)/one"] + ["--next"] + common + forged
                        + ["-H", "Transfer-Encoding: chunked", "--data-binary", "@\(body)", "\(url)/two"] + ["--next"] + common
                        + ["-H", "X-FORWARDED-FOR: 7.7.7.7, 8.8.8.8", "\(url)/three"])
                #expect(output.status == 0, "\(output.summary)")
                #expect(output.err.contains("Re-using existing connection"), "curl kept the connection: \(output.err)")
                let seen = try output.out.split(separator: "\n").map {
                    try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
                }
                #expect(seen.map { $0["path"] as? String } == ["/one", "/two", "/three"])
                for request in seen {
                    #expect(request["xff"] as? [String] == ["127.0.0.9"], "\(request)")
                    #expect(request["proto"] as? [String] == ["https"], "\(request)")
                    #expect(request["forwarded"] as? [String] == ["for=127.0.0.9;proto=https"], "\(request)")
                }
                #expect(seen[1]["body"] as? Int == 21, "the chunked body arrived whole")
                let ports = Set(seen.compactMap { $0["port"] as? Int })
                #expect(ports.count == 1, "the three requests came on one server connection: \(ports)")
                #expect(!output.out.contains("6.6.6.6") && !output.out.contains("7.7.7.7"))
            }
        }
    }
}

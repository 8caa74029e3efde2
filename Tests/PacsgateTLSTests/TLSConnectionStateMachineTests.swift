import NIOCore
import PacsgateCore
import Testing

@testable import PacsgateTLS

@Suite("TLSConnectionStateMachine")
struct TLSConnectionStateMachineTests {
    static func machine(
        mode: TLSMode = .passthrough,
        unknown: UnknownServerNamePolicy = .default,
        defaultServers: Set<String>? = ["B"]
    ) throws -> TLSConnectionStateMachine {
        let routes = try SNIRouteTable([
            (pattern: "a.mach7.test", route: SNIRoute(pattern: "a.mach7.test", servers: ["A"])),
            (pattern: "*.b.mach7.test", route: SNIRoute(pattern: "*.b.mach7.test", servers: ["B"])),
        ])
        return TLSConnectionStateMachine(
            configuration: .init(
                mode: mode,
                parser: ClientHelloParser(),
                routes: routes,
                defaultServers: defaultServers,
                unknownServerName: unknown
            )
        )
    }

    static func hello(_ name: String?, alpn: [String] = ["h2", "http/1.1"]) -> ByteBuffer {
        var extensions = alpnExtension(alpn) + supportedVersionsExtension([0x0A0A, 0x0304, 0x0303])
        if let name { extensions = sniExtension(name) + extensions }
        return ByteBuffer(bytes: HelloBuilder(extensions: extensions).bytes)
    }

    static let server = ServerIdentity(label: "A", endpoint: Endpoint(host: "127.0.0.1", port: 4433))

    @Test("passthrough: an exact name, a wildcard, an unknown name and no name are each routed")
    func routing() throws {
        var exact = try Self.machine()
        #expect(
            exact.clientHelloBytes(Self.hello("A.mach7.test"))
                == .forward(servers: ["A"], note: "SNI route a.mach7.test")
        )
        #expect(exact.facts.route == "a.mach7.test")
        #expect(exact.facts.hello?.alpn == ["h2", "http/1.1"])
        #expect(exact.facts.hello?.versions == ["TLS1.3", "TLS1.2"])

        var wildcard = try Self.machine()
        #expect(
            wildcard.clientHelloBytes(Self.hello("x.b.mach7.test"))
                == .forward(servers: ["B"], note: "SNI route *.b.mach7.test")
        )

        var unknown = try Self.machine()
        #expect(unknown.clientHelloBytes(Self.hello("c.mach7.test")) == .forward(servers: ["B"], note: "default pool"))
        #expect(unknown.facts.route == "default")

        var anonymous = try Self.machine(defaultServers: nil)
        #expect(anonymous.clientHelloBytes(Self.hello(nil)) == .forward(servers: nil, note: "default pool"))
        anonymous.forwarding(to: Self.server)
        #expect(anonymous.outcome == .forwarded)
    }

    @Test("passthrough: a partial hello needs more, whole or fed in pieces")
    func incremental() throws {
        var machine = try Self.machine()
        let hello = Self.hello("a.mach7.test")
        for length in [1, 5, 6, 40, hello.readableBytes - 1] {
            #expect(machine.clientHelloBytes(hello.getSlice(at: 0, length: length)!) == .needMore)
        }
        #expect(machine.facts.helloBytesSeen == hello.readableBytes - 1)
        #expect(machine.clientHelloBytes(hello) == .forward(servers: ["A"], note: "SNI route a.mach7.test"))
    }

    @Test("unknown_sni: refuse answers unrecognized_name, with or without a name")
    func refuseUnknown() throws {
        for name in ["c.mach7.test", nil] {
            var machine = try Self.machine(unknown: .refuse)
            guard case .refuse(let refusal) = machine.clientHelloBytes(Self.hello(name)) else {
                Issue.record("not refused")
                continue
            }
            #expect(refusal.kind == .unknownServerName)
            #expect(refusal.answer == .alert(.unrecognizedName))
            #expect(machine.outcome == .rejected)
        }
    }

    @Test("plaintext HTTP is told apart from garbage, waiting while the method is incomplete")
    func notTLS() throws {
        var http = try Self.machine()
        #expect(http.clientHelloBytes(ByteBuffer(string: "GE")) == .needMore)
        guard case .refuse(let refusal) = http.clientHelloBytes(ByteBuffer(string: "GET / HTTP/1.1\r\n")) else {
            Issue.record("HTTP not refused")
            return
        }
        #expect(refusal.kind == .plaintextHTTP)
        #expect(refusal.answer == .plaintextBadRequest)

        var garbage = try Self.machine()
        guard case .refuse(let other) = garbage.clientHelloBytes(ByteBuffer(string: "GEX")) else {
            Issue.record("garbage not refused")
            return
        }
        #expect(other.kind == .notTLS)
        #expect(other.answer == .none)

        var sslv2 = try Self.machine()
        guard case .refuse(let old) = sslv2.clientHelloBytes(ByteBuffer(bytes: [0x80, 0x2E, 0x01])) else {
            Issue.record("SSLv2 not refused")
            return
        }
        #expect(old.kind == .notTLS)
    }

    @Test("a malformed hello is refused with the parser's alert")
    func malformed() throws {
        var sni = sniExtension("a.mach7.test")
        sni[5] &+= 20
        var machine = try Self.machine()
        guard
            case .refuse(let refusal) = machine.clientHelloBytes(ByteBuffer(bytes: HelloBuilder(extensions: sni).bytes))
        else {
            Issue.record("not refused")
            return
        }
        #expect(refusal.kind == .malformedHello)
        #expect(refusal.answer == .alert(.decodeError))
        #expect(refusal.reason.hasPrefix("malformed ClientHello: serverNameList overruns its parent at byte"))
    }

    @Test("peek failures name how far the client got")
    func peekFailures() throws {
        var silent = try Self.machine()
        #expect(silent.peekFailed(.clientClosed).reason == "client closed the connection before sending anything")
        var partial = try Self.machine()
        _ = partial.clientHelloBytes(ByteBuffer(bytes: [0x16, 0x03, 0x01]))
        let refusal = partial.peekFailed(.timeout)
        #expect(refusal.kind == .incompleteHello)
        #expect(refusal.reason == "no complete ClientHello within the peek timeout (3 bytes received)")
        #expect(partial.outcome == .incomplete)
        #expect(partial.peekFailed(.clientClosed) == refusal, "a refusal is final")
    }

    @Test("no server: an alert in passthrough, nothing before the hello")
    func unavailablePassthrough() throws {
        var early = try Self.machine()
        #expect(early.unavailable(.maxConnections).answer == .none)
        var routed = try Self.machine()
        _ = routed.clientHelloBytes(Self.hello("a.mach7.test"))
        let refusal = routed.unavailable(.noServer)
        #expect(refusal.answer == .alert(.internalError))
        #expect(refusal.reason == "no server available")
        #expect(routed.outcome == .unavailable)
    }

    @Test("terminate: hello, handshake, request head, verdict; the fallback page only for HTTP")
    func terminate() throws {
        var machine = try Self.machine(mode: .terminate)
        #expect(machine.clientHelloBytes(Self.hello("a.mach7.test")) == .terminate)
        #expect(machine.decryptedBytes(ByteBuffer(string: "GET")) == .needMore, "before the handshake")
        machine.clientHandshakeCompleted(negotiatedProtocol: "http/1.1", version: "TLS1.3")
        #expect(machine.decryptedBytes(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\n")) == .needMore)
        #expect(
            machine.decryptedBytes(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
                == .forward(servers: ["A"], note: "SNI route a.mach7.test")
        )
        #expect(machine.facts.requestIsHTTP)
        #expect(machine.unavailable(.connectFailed("all 1 tried servers failed")).answer == .fallbackPage)

        var binary = try Self.machine(mode: .terminate)
        _ = binary.clientHelloBytes(Self.hello(nil))
        binary.clientHandshakeCompleted(negotiatedProtocol: nil, version: "TLS1.2")
        #expect(
            binary.decryptedBytes(ByteBuffer(bytes: [0x0B, 0x4D, 0x53, 0x48]))
                == .forward(servers: ["B"], note: "default pool")
        )
        #expect(binary.unavailable(.noServer).answer == .none)

        var http2 = try Self.machine(mode: .terminate)
        _ = http2.clientHelloBytes(Self.hello("a.mach7.test"))
        http2.clientHandshakeCompleted(negotiatedProtocol: "h2", version: "TLS1.3")
        #expect(
            http2.decryptedBytes(ByteBuffer(string: "PRI * HTTP/2.0\r\n"))
                == .forward(servers: ["A"], note: "SNI route a.mach7.test")
        )
        #expect(http2.unavailable(.noServer).answer == .none)
    }

    @Test("terminate: a refusal on the raw bytes is handed to the core once, on its next read")
    func terminateRefusal() throws {
        var machine = try Self.machine(mode: .terminate)
        guard case .refuse = machine.clientHelloBytes(ByteBuffer(string: "GET / HTTP/1.1\r\n")) else {
            Issue.record("not refused")
            return
        }
        guard case .refuse(let refusal) = machine.decryptedBytes(ByteBuffer()) else {
            Issue.record("the core was not given the refusal")
            return
        }
        #expect(refusal.kind == .plaintextHTTP)
        #expect(machine.decryptedBytes(ByteBuffer()) == .needMore)
    }

    @Test("terminate: a failed client handshake is the outcome, with the TLS error as the reason")
    func clientHandshakeFailure() throws {
        var machine = try Self.machine(mode: .terminate)
        _ = machine.clientHelloBytes(Self.hello("a.mach7.test"))
        machine.clientHandshakeFailed("TLS handshake failed: tlsv1 alert unknown ca")
        #expect(machine.outcome == .handshakeFailed)
        #expect(machine.facts.clientHandshakeError == "TLS handshake failed: tlsv1 alert unknown ca")
        #expect(machine.peekFailed(.timeout).reason == "TLS handshake failed: tlsv1 alert unknown ca")
    }
}

@Suite("ServerHandshakeStateMachine")
struct ServerHandshakeStateMachineTests {
    @Test("completion succeeds the connect once; later events pass, a ragged FIN is swallowed")
    func ready() {
        var machine = ServerHandshakeStateMachine()
        #expect(machine.handshakeCompleted() == .succeed)
        #expect(machine.handshakeCompleted() == .swallow)
        #expect(machine.errorCaught("reset", isUncleanShutdown: false) == .propagate)
        #expect(machine.errorCaught("unclean", isUncleanShutdown: true) == .swallow)
        #expect(machine.closed() == .propagate)
        #expect(machine.timedOut(after: .seconds(1)) == .swallow)
    }

    @Test("an error, a close or the timeout during the handshake fails the connect once and hides the rest")
    func failing() {
        var error = ServerHandshakeStateMachine()
        #expect(
            error.errorCaught("certificate verify failed", isUncleanShutdown: false)
                == .fail("certificate verify failed")
        )
        #expect(error.closed() == .swallow)
        #expect(error.handshakeCompleted() == .swallow)

        var closed = ServerHandshakeStateMachine()
        #expect(closed.closed() == .fail("the server closed the connection during the TLS handshake"))

        var slow = ServerHandshakeStateMachine()
        #expect(slow.timedOut(after: .milliseconds(1500)) == .fail("no TLS handshake within 1500 ms"))
        #expect(slow.errorCaught("late", isUncleanShutdown: false) == .swallow)
    }
}

@Suite("Small TLS helpers")
struct TLSHelperTests {
    @Test("BoringSSL error lines become short words; other lines give nothing")
    func errorWords() {
        #expect(
            TLSErrorText.reason(
                from:
                    "Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at /x/handshake.cc:393"
            )
                == "certificate verify failed"
        )
        #expect(
            TLSErrorText.reason(from: "error:10000412:SSL routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA")
                == "tlsv1 alert unknown ca"
        )
        #expect(TLSErrorText.reason(from: "something else: lower case") == "")
    }

    @Test("certificate expiry words")
    func expiry() {
        let now = 1_800_000_000
        #expect(
            CertificateExpiry.describe(notValidAfter: now + 86_400 * 40 + 5, now: now)
                == "certificate expires 2027-02-24 (in 40 days)"
        )
        #expect(
            CertificateExpiry.describe(notValidAfter: now + 86_400, now: now)
                == "certificate expires 2027-01-16 (in 1 day)"
        )
        #expect(
            CertificateExpiry.describe(notValidAfter: now - 86_400 * 3, now: now)
                == "certificate EXPIRED on 2027-01-12 (3 days ago)"
        )
    }

    @Test("HTTP status probe: request, status line, wrong status, not HTTP, server gone")
    func statusProbe() {
        var probe = HTTPStatusProbe(path: "/health", host: "node1.mach7.test", expectedStatus: 200)
        guard case .send(let request) = probe.start() else {
            Issue.record("no request")
            return
        }
        #expect(String(buffer: request).hasPrefix("GET /health HTTP/1.1\r\nHost: node1.mach7.test\r\n"))
        var partial = ByteBuffer(string: "HTTP/1.1 20")
        guard case .needMore = probe.receive(&partial) else {
            Issue.record("decided on a partial line")
            return
        }
        #expect(probe.evaluate(statusLine: "HTTP/1.1 200 OK\r") == .success("GET /health → 200"))
        #expect(
            probe.evaluate(statusLine: "HTTP/1.0 503 Service Unavailable")
                == .failure("GET /health → 503, expected 200")
        )
        #expect(probe.evaluate(statusLine: "SSH-2.0-OpenSSH") == .failure("GET /health: not an HTTP status line"))
        #expect(!probe.serverClosed().succeeded)
    }

    @Test("PlaintextHTTPDetector.couldBecomeHTTPRequest: proper prefixes of a method only")
    func httpPrefixes() {
        #expect(PlaintextHTTPDetector.couldBecomeHTTPRequest(ByteBuffer(string: "G")))
        #expect(PlaintextHTTPDetector.couldBecomeHTTPRequest(ByteBuffer(string: "OPTIO")))
        #expect(!PlaintextHTTPDetector.couldBecomeHTTPRequest(ByteBuffer(string: "GET ")))
        #expect(!PlaintextHTTPDetector.couldBecomeHTTPRequest(ByteBuffer(string: "GX")))
        #expect(!PlaintextHTTPDetector.couldBecomeHTTPRequest(ByteBuffer()))
        #expect(!PlaintextHTTPDetector.couldBecomeHTTPRequest(ByteBuffer(bytes: [0x16, 0x03])))
    }
}

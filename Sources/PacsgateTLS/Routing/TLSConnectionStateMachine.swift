import NIOCore
import PacsgateCore

/// The decisions about one connection of a `protocol: tls` service, without I/O: each event returns what the
/// inspector must do, and the machine keeps what the audit line reports.
///
/// ```
/// passthrough:  awaitingHello ──ClientHello──▶ connecting ──▶ forwarding
/// terminate:    awaitingHello ──ClientHello──▶ handshaking ──handshake done──▶ awaitingRequest
///                                              ──request head (or first non-HTTP bytes)──▶ connecting ──▶ forwarding
/// any phase before forwarding ──bad bytes / refused name / peek failure / no server──▶ refused
/// ```
///
/// In terminate mode the ClientHello is parsed from the raw bytes in front of the TLS handler
/// (``ClientHelloGate``), and the core's peek phase sees the decrypted bytes afterwards; a refusal decided on the raw
/// bytes is held until the core asks (``decryptedBytes(_:)``), so the core answers and counts it like any other.
struct TLSConnectionStateMachine {
    /// What the machine decides with; one value per service.
    struct Configuration: Sendable {
        var mode: TLSMode
        var parser: ClientHelloParser
        var routes: SNIRouteTable<SNIRoute>
        /// The default pool (`nil`: every server of the service).
        var defaultServers: Set<String>?
        var unknownServerName: UnknownServerNamePolicy
        /// Terminate: the most bytes of an HTTP request head to wait for before forwarding anyway.
        var requestHeadLimit: Int = 16 * 1024
    }

    enum Phase: Equatable {
        case awaitingHello
        case handshaking
        case awaitingRequest
        case connecting
        case forwarding
        /// Refused; `delivered` once the core has been given the verdict.
        case refused(TLSRefusal, delivered: Bool)
    }

    /// The ClientHello values the audit line reports, copied out of the peek buffer so it is not kept alive.
    struct HelloSummary: Equatable {
        var serverName: ServerName?
        /// Offered ALPN protocols, escaped for logs.
        var alpn: [String]
        /// Offered versions without GREASE (`TLS1.3`, `TLS1.2`).
        var versions: [String]
        var offersEncryptedClientHello: Bool

        init(_ hello: ClientHello) {
            self.serverName = hello.serverName
            self.alpn = hello.alpnProtocols.map(\.description)
            self.versions = hello.offeredVersions.map(\.description)
            self.offersEncryptedClientHello = hello.offersEncryptedClientHello
        }
    }

    /// What is known about the connection, for the audit line.
    struct Facts {
        var hello: HelloSummary?
        /// The `sni_routes` pattern that matched, or `default`.
        var route: String?
        /// Terminate: the ALPN protocol and TLS version negotiated with the client.
        var negotiatedProtocol: String?
        var negotiatedVersion: String?
        var server: ServerIdentity?
        var refusal: TLSRefusal?
        /// Terminate: the client's first bytes were an HTTP request.
        var requestIsHTTP = false
        /// Bytes of the ClientHello seen so far (for "closed after N bytes").
        var helloBytesSeen = 0
        /// Terminate: why the client's TLS handshake failed.
        var clientHandshakeError: String?
    }

    let configuration: Configuration
    private(set) var phase: Phase = .awaitingHello
    private(set) var facts = Facts()
    private var routing: Routing?

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    // MARK: ClientHello

    enum HelloAction: Equatable {
        case needMore
        /// Passthrough: forward the buffered bytes.
        case forward(servers: Set<String>?, note: String)
        /// Terminate: hand the buffered bytes to a TLS server handler.
        case terminate
        case refuse(TLSRefusal)
    }

    /// Everything the client sent so far, from its first byte (raw TLS records).
    mutating func clientHelloBytes(_ buffer: ByteBuffer) -> HelloAction {
        guard case .awaitingHello = self.phase else { return .needMore }
        self.facts.helloBytesSeen = buffer.readableBytes
        let hello: ClientHello
        do {
            guard let parsed = try self.configuration.parser.parse(buffer) else { return .needMore }
            hello = parsed
        } catch {
            if case .notHandshakeRecord = error.reason, error.offset == 0,
                PlaintextHTTPDetector.couldBecomeHTTPRequest(buffer)
            {
                return .needMore  // "GE" might become "GET ": wait to log it as HTTP
            }
            return .refuse(
                self.refuse(error.refusal(buffered: buffer), delivered: self.configuration.mode == .passthrough)
            )
        }
        self.facts.hello = HelloSummary(hello)
        guard let routing = self.route(hello) else {
            let reason =
                hello.serverName.map { "server name \($0) matches no route" }
                ?? "ClientHello without a server name"
            let refusal = TLSRefusal(
                kind: .unknownServerName,
                answer: .alert(.unrecognizedName),
                reason: reason + " (unknown_sni: refuse)"
            )
            return .refuse(self.refuse(refusal, delivered: self.configuration.mode == .passthrough))
        }
        switch self.configuration.mode {
        case .passthrough:
            self.phase = .connecting
            return .forward(servers: routing.servers, note: routing.note ?? "")
        case .terminate:
            self.routing = routing
            self.phase = .handshaking
            return .terminate
        }
    }

    private mutating func route(_ hello: ClientHello) -> Routing? {
        if let name = hello.serverName, let route = self.configuration.routes.route(for: name) {
            self.facts.route = route.pattern
            return Routing(servers: route.servers, note: "SNI route \(route.pattern)")
        }
        guard self.configuration.unknownServerName == .default else { return nil }
        self.facts.route = "default"
        return Routing(servers: self.configuration.defaultServers, note: "default pool")
    }

    // MARK: terminate

    /// Terminate: the client's TLS handshake with the gateway finished.
    mutating func clientHandshakeCompleted(negotiatedProtocol: String?, version: String?) {
        self.facts.negotiatedProtocol = negotiatedProtocol
        self.facts.negotiatedVersion = version
        if case .handshaking = self.phase { self.phase = .awaitingRequest }
    }

    /// Terminate: the client's TLS handshake failed (the TLS handler closes the connection).
    mutating func clientHandshakeFailed(_ description: String) {
        if self.facts.clientHandshakeError == nil { self.facts.clientHandshakeError = description }
    }

    enum RequestAction: Equatable {
        case needMore
        case forward(servers: Set<String>?, note: String)
        case refuse(TLSRefusal)
    }

    /// Terminate: what the core's peek phase sees — decrypted bytes, or an empty read that asks for a verdict the
    /// gate reached on the raw bytes.
    mutating func decryptedBytes(_ buffer: ByteBuffer) -> RequestAction {
        switch self.phase {
        case .refused(let refusal, delivered: false):
            self.phase = .refused(refusal, delivered: true)
            return .refuse(refusal)
        case .awaitingRequest:
            break
        default:
            return .needMore
        }
        if self.facts.negotiatedProtocol == "h2" {
            // HTTP/2: no request head to wait for, and an HTTP/1.1 fallback page would be noise to the client.
        } else if PlaintextHTTPDetector.looksLikeHTTPRequest(buffer) {
            self.facts.requestIsHTTP = true
            // Wait for the whole request head, so a refusal (the fallback page) never races unread request bytes.
            let complete = buffer.readableBytesView.firstRange(of: Self.endOfHead) != nil
            guard complete || buffer.readableBytes >= self.configuration.requestHeadLimit else { return .needMore }
        } else if PlaintextHTTPDetector.couldBecomeHTTPRequest(buffer) {
            return .needMore
        }
        self.phase = .connecting
        let routing = self.routing ?? Routing()
        return .forward(servers: routing.servers, note: routing.note ?? "")
    }

    private static let endOfHead: [UInt8] = Array("\r\n\r\n".utf8)

    // MARK: failures

    /// The core's peek phase ended without a verdict.
    mutating func peekFailed(_ failure: PeekFailure) -> TLSRefusal {
        let refusal: TLSRefusal
        switch self.phase {
        case .refused(let earlier, _):
            return earlier
        case .awaitingHello:
            refusal = self.incompleteHello(failure)
        case .handshaking:
            refusal = TLSRefusal(
                kind: .clientHandshakeFailed,
                answer: .none,
                reason: self.facts.clientHandshakeError ?? failure.duringClientHandshake
            )
        case .awaitingRequest:
            let why: String
            switch failure {
            case .timeout: why = "no request within the peek timeout after the TLS handshake"
            case .clientClosed: why = "client closed the connection without sending a request"
            case .tooLarge(let size): why = "request head of \(size) bytes is too large"
            }
            refusal = TLSRefusal(kind: .noRequest, answer: .none, reason: why)
        case .connecting, .forwarding:
            refusal = TLSRefusal(kind: .unavailable, answer: .none, reason: "peek failed after the verdict")
        }
        return self.refuse(refusal, delivered: true)
    }

    private func incompleteHello(_ failure: PeekFailure) -> TLSRefusal {
        let seen = self.facts.helloBytesSeen
        switch failure {
        case .clientClosed:
            let what = seen == 0 ? "before sending anything" : "after \(seen) bytes of its ClientHello"
            return TLSRefusal(kind: .incompleteHello, answer: .none, reason: "client closed the connection \(what)")
        case .timeout:
            return TLSRefusal(
                kind: .incompleteHello,
                answer: .none,
                reason: "no complete ClientHello within the peek timeout (\(seen) bytes received)"
            )
        case .tooLarge(let size):
            return TLSRefusal(
                kind: .helloTooLarge,
                answer: .alert(.handshakeFailure),
                reason: "\(size) bytes without a ClientHello"
            )
        }
    }

    /// No server could take the connection.
    mutating func unavailable(_ reason: UnavailableReason) -> TLSRefusal {
        let answer: TLSRefusalAnswer
        switch (self.configuration.mode, self.phase) {
        case (_, .awaitingHello), (_, .handshaking), (_, .awaitingRequest):
            answer = .none  // refused at accept (maxconn): nothing was asked yet
        case (.passthrough, _):
            answer = .alert(.internalError)
        case (.terminate, _):
            answer = self.facts.requestIsHTTP ? .fallbackPage : .none
        }
        let refusal = TLSRefusal(kind: .unavailable, answer: answer, reason: "\(reason)")
        return self.refuse(refusal, delivered: true)
    }

    private mutating func refuse(_ refusal: TLSRefusal, delivered: Bool) -> TLSRefusal {
        self.facts.refusal = refusal
        self.phase = .refused(refusal, delivered: delivered)
        return refusal
    }

    // MARK: forwarding and end

    mutating func forwarding(to server: ServerIdentity) {
        self.facts.server = server
        if case .connecting = self.phase { self.phase = .forwarding }
    }

    /// The audit line's `outcome`.
    var outcome: TLSOutcome {
        if let refusal = self.facts.refusal { return refusal.kind.outcome }
        if self.facts.server != nil, case .forwarding = self.phase { return .forwarded }
        if self.facts.clientHandshakeError != nil { return .handshakeFailed }
        return .incomplete
    }
}

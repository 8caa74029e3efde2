import Logging
import NIOCore
import NIOSSL
import PacsgateAuditRecords
import PacsgateCore

/// The inspector of one connection of a `protocol: tls` service: performs what its
/// ``TLSConnectionStateMachine`` decides, adds the TLS handlers in terminate mode, and writes the `tls.connection`
/// audit line.
///
/// Passthrough: the core's peek phase offers the raw bytes; the ClientHello chooses the servers and the bytes are
/// forwarded untouched. Terminate: a ``ClientHelloGate`` reads the ClientHello in front of the TLS server handler,
/// the core's peek phase then sees decrypted bytes, and a re-encrypted server leg gets a TLS client handler whose
/// handshake must succeed before anything is forwarded.
final class TLSConnectionInspector: ConnectionInspector, TLSClientSessionDelegate {
    private let service: TLSServiceProtocol
    private let context: ConnectionContext
    private var machine: TLSConnectionStateMachine
    /// `forwarded_headers`: the request rewriter, made with the first request.
    private var rewriter: ForwardedHeaderRewriter?

    init(service: TLSServiceProtocol, context: ConnectionContext) {
        self.service = service
        self.context = context
        self.machine = TLSConnectionStateMachine(configuration: service.machine)
    }

    // MARK: peek

    /// Terminate mode puts NIOSSL on both legs; it holds written bytes until they are flushed.
    var addsChannelHandlers: Bool { self.service.mode == .terminate }

    /// Terminate mode, once the client's handshake completed: the negotiated version (this path does not read the
    /// cipher suite, and `protocol: tls` services ask for no client certificate).
    var secureTransport: SecureTransportFacts? {
        guard self.service.mode == .terminate, let version = self.machine.facts.negotiatedVersion else { return nil }
        return SecureTransportFacts(version: version, cipher: nil, clientCertificate: nil)
    }

    /// The SNI the ClientHello carried, and in terminate mode the protocol negotiated with the client (in
    /// passthrough the server has not answered yet when the header is written).
    var proxyHeaderTLVs: [ProxyTLV] {
        var tlvs: [ProxyTLV] = []
        if let name = self.machine.facts.hello?.serverName?.hostName { tlvs.append(.authority(name)) }
        if let negotiated = self.machine.facts.negotiatedProtocol { tlvs.append(.alpn(Array(negotiated.utf8))) }
        return tlvs
    }

    func configureClientPipeline(
        _ pipeline: ChannelPipeline.SynchronousOperations,
        position: ChannelPipeline.SynchronousOperations.Position
    ) throws {
        guard self.service.mode == .terminate else { return }
        try pipeline.addHandlers(
            [ClientHelloGate(inspector: self), TLSSessionObserver(delegate: self)],
            position: position
        )
    }

    func inspect(_ buffered: ByteBuffer) -> InspectionVerdict {
        switch self.service.mode {
        case .passthrough:
            switch self.machine.clientHelloBytes(buffered) {
            case .needMore, .terminate:
                return .needMore
            case .forward(let servers, let note):
                return self.forward(servers: servers, note: note)
            case .refuse(let refusal):
                return .reject(self.rejection(refusal))
            }
        case .terminate:
            switch self.machine.decryptedBytes(buffered) {
            case .needMore:
                return .needMore
            case .forward(let servers, let note):
                return self.forward(servers: servers, note: note)
            case .refuse(let refusal):
                return .reject(self.rejection(refusal))
            }
        }
    }

    private func forward(servers: Set<String>?, note: String) -> InspectionVerdict {
        // `audit.on_failure: refuse`: nothing is forwarded while the audit log cannot be written; the client gets the
        // same answer as when no server can take it, before any byte reaches a server.
        if self.context.auditRefusal.refusesNow {
            return .reject(self.rejection(self.machine.unavailable(.auditLogFailing)))
        }
        self.context.logger.debug(
            "TLS connection routed",
            metadata: [
                "conn.client": "\(self.context.client.logDescription)",
                "tls.sni": "\(self.machine.facts.hello?.serverName?.hostName ?? "-")",
                "tls.route": "\(self.machine.facts.route ?? "-")",
            ]
        )
        return .forward(Routing(servers: servers, note: note))
    }

    func peekFailed(_ failure: PeekFailure) -> Rejection {
        self.rejection(self.machine.peekFailed(failure))
    }

    func unavailable(_ reason: UnavailableReason) -> Rejection {
        self.rejection(self.machine.unavailable(reason))
    }

    /// Logs and counts a refusal and turns it into the core's answer-and-close.
    private func rejection(_ refusal: TLSRefusal) -> Rejection {
        self.service.counters.count(refusal.kind)
        var metadata: Logger.Metadata = [
            "conn.client": "\(self.context.client.logDescription)", "tls.refusal": "\(refusal.kind.rawValue)",
            "reason": "\(refusal.reason)",
        ]
        if let name = self.machine.facts.hello?.serverName { metadata["tls.sni"] = "\(name)" }
        let answer: ByteBuffer?
        switch refusal.answer {
        case .none:
            answer = nil
        case .alert(let alert):
            answer = alert.fatalRecord(allocator: ByteBufferAllocator())
            metadata["tls.alert"] = "\(alert)"
        case .plaintextBadRequest:
            answer = HTTPAnswers.plaintextBadRequest
        case .fallbackPage:
            answer = self.service.termination?.fallbackPage.response
            self.service.counters.countFallbackPage()
            metadata["tls.fallback_page"] = "served"
        }
        self.context.logger.log(level: Self.logLevel(refusal.kind), "refused TLS connection", metadata: metadata)
        return Rejection(answer: answer, reason: refusal.reason)
    }

    private static func logLevel(_ kind: TLSRefusalKind) -> Logger.Level {
        switch kind {
        case .plaintextHTTP, .notTLS, .malformedHello, .helloTooLarge, .unavailable: return .warning
        case .unknownServerName, .clientHandshakeFailed: return .notice
        case .incompleteHello, .noRequest: return .info
        }
    }

    // MARK: terminate: client side

    /// Raw bytes held by the gate in front of the TLS server handler.
    func gateReceived(_ buffered: ByteBuffer) -> ClientHelloGate.Decision {
        switch self.machine.clientHelloBytes(buffered) {
        case .needMore, .forward:
            return .needMore
        case .terminate:
            guard let termination = self.service.termination else { return .refuse }
            return .terminate(NIOSSLServerHandler(context: termination.context))
        case .refuse:
            return .refuse  // delivered when the gate wakes the core (see ClientHelloGate)
        }
    }

    func clientHandshakeCompleted(negotiatedProtocol: String?, version: String?) {
        self.machine.clientHandshakeCompleted(negotiatedProtocol: negotiatedProtocol, version: version)
    }

    func clientHandshakeFailed(_ error: any Error) {
        self.machine.clientHandshakeFailed(TLSErrorText.describe(error))
    }

    // MARK: terminate: server side

    func prepareServerChannel(
        _ channel: any Channel,
        server: ServerIdentity,
        position: ChannelPipeline.SynchronousOperations.Position
    ) -> EventLoopFuture<Void>? {
        guard self.service.mode == .terminate, let leg = self.service.legs[server.label] else { return nil }
        let counters = self.service.counters
        return leg.attach(
            to: channel,
            server: server,
            position: position,
            alpn: self.machine.facts.negotiatedProtocol,
            hostname: leg.serverHostname(clientServerName: self.machine.facts.hello?.serverName),
            timeout: self.service.serverHandshakeTimeout,
            logger: self.context.logger,
            client: self.context.client.logDescription,
            onFailure: { counters.countServerHandshakeFailure() }
        )
    }

    func forwarding(to server: ServerIdentity) {
        self.machine.forwarding(to: server)
    }

    // MARK: terminate: forwarded headers

    var upstreamHandling: StreamHandling { self.service.forwardedHeaders ? .filter : .passthrough }

    /// `forwarded_headers`: every request gets the gateway's forwarding headers; one it cannot frame safely is
    /// answered and the connection closed, so no request reaches the server with the client's own copies.
    func filterUpstream(_ data: ByteBuffer, sink: UpstreamSink) {
        var rewriter = self.rewriter ?? ForwardedHeaderRewriter(clientAddress: self.context.client.ipAddress ?? "unknown")
        self.rewriter = nil  // the only copy while it changes: its buffered head is not copied on write
        let actions = rewriter.receive(data)
        self.rewriter = rewriter
        for action in actions {
            switch action {
            case .forward(let bytes):
                sink.forward(bytes)
            case .refuse(let status, let reason):
                self.context.logger.notice(
                    "refused HTTP request on a connection with forwarded headers",
                    metadata: [
                        "conn.client": "\(self.context.client.logDescription)", "http.status": "\(status)",
                        "reason": "\(reason)",
                    ])
                sink.reply(HTTPAnswers.response(status: status, contentType: "text/plain; charset=utf-8", body: "\(status)\n", extraHeaders: []))
                sink.close(reason: "HTTP request refused: \(reason)")
            }
        }
    }

    // MARK: end

    func finished(_ summary: ConnectionSummary) -> EventLoopFuture<Void>? {
        let facts = self.machine.facts
        let outcome = self.machine.outcome
        let negotiated =
            self.service.mode == .terminate
            ? TLSConnectionAudit.Negotiated(
                tlsVersion: facts.negotiatedVersion, alpn: facts.negotiatedProtocol,
                reencrypt: summary.server.map { self.service.legs[$0.label] != nil } ?? false)
            : nil
        let reason = outcome == .handshakeFailed ? facts.clientHandshakeError ?? summary.endReason : summary.endReason
        let record = TLSConnectionAudit(
            time: WallClock.now(), service: summary.service, client: summary.client,
            server: summary.server.map(AuditServer.init), mode: self.service.mode.rawValue,
            detail: .inspected(
                TLSConnectionAudit.Inspected(
                    sni: facts.hello?.serverName?.hostName, alpn: facts.hello?.alpn ?? [],
                    tlsVersions: facts.hello?.versions ?? [], negotiated: negotiated, route: facts.route)),
            bytesUp: summary.bytesUp, bytesDown: summary.bytesDown, durationMilliseconds: Int(summary.duration.milliseconds),
            outcome: outcome.rawValue, refusal: facts.refusal?.kind.rawValue, reason: reason)
        // A flood of refused connections is counted per client beyond `audit.refused_records` (AuditLog).
        if summary.refused,
            !self.context.audit.admitRefusal(client: self.context.client, service: summary.service, event: .tlsConnection)
        {
            return nil
        }
        return self.context.audit.write(record.auditRecord, on: self.context.eventLoop)
    }
}

@available(*, unavailable)
extension TLSConnectionInspector: Sendable {}

import Logging
import NIOCore
import NIOSSL
import PacsgateAuditRecords
import PacsgateCore

/// A `dicom` or `hl7` connection with TLS terminated in front of the module's own inspector.
///
/// The client channel gets `[TLSWireObserver, NIOSSLServerHandler, TLSSessionObserver]` in front of the core's
/// handler, so the core's peek phase — and the inner inspector — see the decrypted bytes exactly as on a plain service.
/// The inner inspector learns the session (version, cipher, verified client certificate) through
/// ``ConnectionInspector/clientTransportSecured(_:)`` when the handshake completes, before its first byte; from then on
/// every call is passed to it. A connection whose handshake fails (no or a refused client certificate, TLS 1.0/1.1,
/// not TLS at all) never reaches it: nothing is forwarded, and this inspector writes a `tls.connection` record
/// (`outcome: handshake_failed`), which the ATNA export turns into a Node Authentication security alert.
final class TLSTerminatingInspector: ConnectionInspector, TLSClientSessionDelegate {
    private let inner: any ConnectionInspector
    private let termination: TLSTermination
    private let context: ConnectionContext
    private var machine = ClientHandshakeStateMachine()
    private var loggedFailure = false

    init(inner: any ConnectionInspector, termination: TLSTermination, context: ConnectionContext) {
        self.inner = inner
        self.termination = termination
        self.context = context
    }

    var secureTransport: SecureTransportFacts? { self.machine.facts }

    // MARK: client leg

    var addsChannelHandlers: Bool { true }

    func configureClientPipeline(
        _ pipeline: ChannelPipeline.SynchronousOperations,
        position: ChannelPipeline.SynchronousOperations.Position
    ) throws {
        let handler = self.termination.makeServerHandler(for: self, eventLoop: self.context.eventLoop)
        try pipeline.addHandlers(
            [TLSWireObserver(termination: self), handler, TLSSessionObserver(delegate: self)],
            position: position
        )
        try self.inner.configureClientPipeline(pipeline, position: position)
    }

    func clientSpoke() {
        self.machine.clientSpoke()
    }

    func cipherChosen(_ name: String) {
        self.machine.cipherChosen(name)
    }

    func certificateVerified(_ outcome: ClientCertificateVerifier.Outcome) {
        self.machine.certificateVerified(outcome)
    }

    func clientHandshakeCompleted(negotiatedProtocol: String?, version: String?) {
        guard let facts = self.machine.handshakeCompleted(version: version ?? "TLS") else { return }
        if self.context.logger.logLevel <= .debug {
            self.context.logger.debug(
                "TLS session established",
                metadata: [
                    "conn.client": "\(self.context.client.logDescription)", "tls.version": "\(facts.version)",
                    "tls.cipher": "\(facts.cipher ?? "-")",
                    "tls.client_certificate": "\(facts.clientCertificate?.description ?? "-")",
                ]
            )
        }
        self.inner.clientTransportSecured(facts)
    }

    func clientHandshakeFailed(_ error: any Error) {
        self.machine.handshakeFailed(TLSErrorText.describe(error))
        self.logFailure()
    }

    private func logFailure() {
        guard !self.loggedFailure, let (outcome, reason) = self.machine.failureRecord else { return }
        self.loggedFailure = true
        switch outcome {
        case .handshakeFailed: self.termination.counters.count(.clientHandshakeFailed)
        case .unavailable: self.termination.counters.count(.unavailable)
        default: self.termination.counters.count(.incompleteHello)
        }
        var metadata: Logger.Metadata = [
            "conn.client": "\(self.context.client.logDescription)", "tls.outcome": "\(outcome.rawValue)",
            "reason": "\(reason)",
        ]
        if let certificate = self.machine.presentedCertificate {
            metadata["tls.client_certificate"] = "\(certificate)"
            metadata["tls.client_certificate_sha256"] = "\(certificate.sha256Fingerprint)"
        }
        let message =
            outcome == .unavailable
            ? "TLS connection refused before its handshake" : "TLS handshake with the client failed; nothing forwarded"
        self.context.logger.notice("\(message)", metadata: metadata)
    }

    // MARK: peek (decrypted bytes)

    func inspect(_ buffered: ByteBuffer) -> InspectionVerdict {
        guard self.machine.facts != nil else { return .needMore }
        return self.inner.inspect(buffered)
    }

    func peekFailed(_ failure: PeekFailure) -> Rejection {
        switch self.machine.peekFailed(failure) {
        case .delegate:
            return self.inner.peekFailed(failure)
        case .close(let reason):
            self.logFailure()
            return Rejection(answer: nil, reason: reason)
        }
    }

    func unavailable(_ reason: UnavailableReason) -> Rejection {
        guard self.machine.facts != nil else {
            // Refused at accept (maxconn): there is no session to answer in yet.
            let words = "refused before the TLS handshake: \(reason)"
            self.machine.refusedBeforeHandshake(words)
            return Rejection(answer: nil, reason: words)
        }
        return self.inner.unavailable(reason)
    }

    // MARK: server leg

    func prepareServerChannel(
        _ channel: any Channel,
        server: ServerIdentity,
        position: ChannelPipeline.SynchronousOperations.Position
    ) -> EventLoopFuture<Void>? {
        guard let leg = self.termination.legs[server.label] else {
            return self.inner.prepareServerChannel(channel, server: server, position: position)
        }
        let counters = self.termination.counters
        return leg.attach(
            to: channel,
            server: server,
            position: position,
            alpn: nil,
            hostname: leg.serverHostname(clientServerName: nil),
            timeout: self.termination.serverHandshakeTimeout,
            logger: self.context.logger,
            client: self.context.client.logDescription,
            onFailure: { counters.countServerHandshakeFailure() }
        )
    }

    // MARK: the rest belongs to the inner inspector

    func forwarding(to server: ServerIdentity) { self.inner.forwarding(to: server) }
    var upstreamHandling: StreamHandling { self.inner.upstreamHandling }
    var downstreamHandling: StreamHandling { self.inner.downstreamHandling }
    func upstream(_ data: ByteBuffer) { self.inner.upstream(data) }
    func filterUpstream(_ data: ByteBuffer, sink: UpstreamSink) { self.inner.filterUpstream(data, sink: sink) }
    func downstream(_ data: ByteBuffer) { self.inner.downstream(data) }
    func halfClosed(by side: ConnectionSide) -> HalfCloseHandling { self.inner.halfClosed(by: side) }
    func closing(_ reason: CloseReason) -> ClosingWords { self.inner.closing(reason) }

    func finished(_ summary: ConnectionSummary) -> EventLoopFuture<Void>? {
        let inner = self.inner.finished(summary)
        guard let (outcome, reason) = self.machine.failureRecord else { return inner }
        self.logFailure()
        let refusal: TLSRefusalKind? =
            switch outcome {
            case .handshakeFailed: .clientHandshakeFailed
            case .unavailable: .unavailable
            default: nil
            }
        let record = TLSConnectionAudit(
            time: self.context.acceptedAt, service: summary.service, client: summary.client,
            server: summary.server.map(AuditServer.init), mode: TLSMode.terminate.rawValue,
            detail: .terminated(
                protocolName: self.termination.protocolName, clientCertificate: self.machine.presentedCertificate),
            bytesUp: summary.bytesUp, bytesDown: summary.bytesDown, durationMilliseconds: Int(summary.duration.milliseconds),
            outcome: outcome.rawValue, refusal: refusal?.rawValue, reason: reason)
        let own = self.context.audit.write(record.auditRecord, on: self.context.eventLoop)
        return inner.map { $0.and(own).map { _ in } } ?? own
    }
}

@available(*, unavailable)
extension TLSTerminatingInspector: Sendable {}

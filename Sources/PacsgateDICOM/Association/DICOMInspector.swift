import Logging
public import NIOCore
import PacsgateAuditRecords
public import PacsgateCore

/// The protocol logic of one `protocol: dicom` service: its settings, shared by every connection.
public struct DICOMServiceProtocol: ServiceProtocol {
    /// The service's DICOM settings.
    public let settings: DICOMServiceSettings
    /// TLS terminated in front of the inspector (`tls:`), `nil` on a plain service.
    public let termination: (any SecureTransportTermination)?

    /// Creates the service protocol.
    public init(settings: DICOMServiceSettings, termination: (any SecureTransportTermination)? = nil) {
        self.settings = settings
        self.termination = termination
    }

    /// A ``DICOMInspector`` for a new connection, behind the TLS termination when the service has one.
    public func makeInspector(_ context: ConnectionContext) -> any ConnectionInspector {
        let inspector = DICOMInspector(context: context, settings: self.settings)
        return self.termination?.wrap(inspector, context: context) ?? inspector
    }

    public func probeTransport(forServer server: String) -> (any ProbeTransport)? {
        self.termination?.probeTransport(forServer: server)
    }

    public var transportSecurity: TransportSecurityStatus? { self.termination?.status }

    /// TLS termination (`tls:`) puts NIOSSL on the client's channel, so a terminating service runs on the NIO engine.
    public var addsChannelHandlers: Bool { self.termination != nil }
}

/// The DICOM inspector of one connection, plugged into the forwarding core.
///
/// Holds the client's bytes until the A-ASSOCIATE-RQ is complete, applies the AE policy and routing, lets the core
/// forward the original bytes untouched, then watches both directions read-only with a ``PDUStreamObserver`` each.
/// Writes `dicom.association.start` when the request is forwarded and one `dicom.association` record when the
/// connection ends, returning the write's future so the core releases the connection only once the record is
/// durable. All decisions are taken by ``AssociationStateMachine``; this class performs them.
public final class DICOMInspector: ConnectionInspector {
    private var machine: AssociationStateMachine
    private var upstreamObserver: PDUStreamObserver
    private var downstreamObserver: PDUStreamObserver
    private let audit: AuditLog
    private let auditRefusal: AuditRefusalPolicy
    private let client: SocketAddress
    private let eventLoop: any EventLoop
    private let baseLogger: Logger
    /// The connection's logger, with its client as `conn.client`: made at the first line written, not for every
    /// association (setting the value and letting it go cost a few thousand instructions per association, and at
    /// the default level most associations write no line). Lines below `notice` are built only when their level is on.
    private lazy var logger: Logger = {
        var logger = self.baseLogger
        logger[metadataKey: "conn.client"] = "\(self.client.logDescription)"
        return logger
    }()

    /// Creates the inspector of a newly accepted connection.
    public init(context: ConnectionContext, settings: DICOMServiceSettings) {
        self.machine = AssociationStateMachine(
            AssociationStateMachine.Connection(
                service: context.service,
                client: context.client,
                acceptedAt: context.acceptedAt,
                settings: settings,
                persistsByCallingAE: context.persistenceType == .callingAE
            )
        )
        // The client's stream starts with the request already checked against max_pdu_peek; the server's
        // A-ASSOCIATE-AC is not ours to limit below what a large negotiation needs.
        self.upstreamObserver = PDUStreamObserver(maxBufferedLength: settings.maxPDUPeek)
        self.downstreamObserver = PDUStreamObserver(maxBufferedLength: max(settings.maxPDUPeek, 1 << 20))
        self.audit = context.audit
        self.auditRefusal = context.auditRefusal
        self.client = context.client
        self.eventLoop = context.eventLoop
        self.baseLogger = context.logger
    }

    /// The TLS session in front of this inspector: its client certificate is what `certificate:` entries of the
    /// allow-lists require, and the session goes into every audit record of the association.
    public func clientTransportSecured(_ facts: SecureTransportFacts) {
        self.machine.secureTransport = facts
    }

    public func inspect(_ buffered: ByteBuffer) -> InspectionVerdict {
        // Consulted once per peek step (not per relayed read); only `refuse` needs the log's health.
        let verdict = self.machine.peek(buffered, refuseForAudit: self.auditRefusal.refusesNow)
        switch verdict {
        case .needMore:
            break
        case .forward(let routing):
            guard self.logs(.debug) else { break }
            self.logger.debug("A-ASSOCIATE-RQ accepted for forwarding", metadata: self.requestMetadata(routing.note))
        case .reject(let rejection):
            self.logRefusal(rejection)
        }
        return verdict
    }

    public func peekFailed(_ failure: PeekFailure) -> Rejection {
        let rejection = self.machine.peekFailed(failure)
        self.logRefusal(rejection)
        return rejection
    }

    public func unavailable(_ reason: UnavailableReason) -> Rejection {
        let rejection = self.machine.unavailable(reason)
        self.logRefusal(rejection)
        return rejection
    }

    public func forwarding(to server: ServerIdentity) {
        if let line = self.machine.forwarding(to: server) {
            self.audit.write(line)
        }
        // The client's stream starts with the request the peek parsed: not parsed a second time.
        if let length = self.machine.takeForwardedRequestLength() {
            self.upstreamObserver.passParsedPDU(totalLength: length)
        }
    }

    public var upstreamHandling: StreamHandling { .observe }
    public var downstreamHandling: StreamHandling { .observe }

    public func upstream(_ data: ByteBuffer) {
        self.upstreamObserver.observe(data) { event in
            if let transition = self.machine.observed(event, from: .client) { self.log(transition) }
        }
    }

    public func downstream(_ data: ByteBuffer) {
        self.downstreamObserver.observe(data) { event in
            if let transition = self.machine.observed(event, from: .server) { self.log(transition) }
        }
    }

    public func halfClosed(by side: ConnectionSide) -> HalfCloseHandling {
        let handling = self.machine.halfClosed(by: side == .client ? .client : .server)
        if handling == .terminate {
            self.logger.info(
                "peer closed its side mid-association",
                metadata: ["dicom.by": "\(side == .client ? "client" : "server")"]
            )
        }
        return handling
    }

    public func closing(_ reason: CloseReason) -> ClosingWords {
        let words = self.machine.closing(reason)
        if words.toClient != nil || words.toServer != nil {
            self.logger.notice(
                "gateway aborts the association",
                metadata: [
                    "dicom.reason": "\(reason)", "dicom.abort_client": "\(words.toClient != nil)",
                    "dicom.abort_server": "\(words.toServer != nil)",
                ]
            )
        }
        return words
    }

    public func finished(_ summary: ConnectionSummary) -> EventLoopFuture<Void>? {
        guard let record = self.machine.finished(summary) else { return nil }
        if self.logs(.info) { self.logEnd(record) }
        // A flood of refused associations is counted per client beyond `audit.refused_records` (AuditLog).
        if summary.refused, !self.audit.admitRefusal(client: self.client, service: summary.service, event: AssociationRecord.event) {
            return nil
        }
        return self.audit.write(record.auditRecord, on: self.eventLoop)
    }

    /// The `association ended` line (info), built only when it is logged.
    private func logEnd(_ record: DICOMAssociationAudit) {
        var metadata: Logger.Metadata = [
            "dicom.outcome": "\(record.outcome)",
            "dicom.calling_ae": "\(record.request?.callingAE ?? "-")",
            "dicom.called_ae": "\(record.request?.calledAE ?? "-")",
            "dicom.server": "\(record.server.map { "\($0.label)@\($0.address)" } ?? "-")",
            "dicom.pdata_pdus": "\(record.dataTransfersUp + record.dataTransfersDown)",
        ]
        if let error = record.error { metadata["dicom.error"] = "\(error)" }
        self.logger.info("association ended", metadata: metadata)
    }

    // MARK: logging (one line per state change, never per read)

    private func requestMetadata(_ note: String?) -> Logger.Metadata {
        var metadata: Logger.Metadata = [:]
        if let request = self.machine.request {
            metadata["dicom.calling_ae"] = "\(request.callingAETitle.auditText)"
            metadata["dicom.called_ae"] = "\(request.calledAETitle.auditText)"
            metadata["dicom.contexts"] = "\(request.presentationContexts.count)"
        }
        if let note { metadata["dicom.routing"] = "\(note)" }
        return metadata
    }

    private func logRefusal(_ rejection: Rejection) {
        var metadata = self.requestMetadata(nil)
        metadata["dicom.reason"] = "\(rejection.reason)"
        var answer = rejection.answer ?? ByteBuffer()
        switch try? PDU.parse(&answer, maxLength: 16) {
        case .associateReject(let reject): metadata["dicom.answer"] = "A-ASSOCIATE-RJ \(reject)"
        case .abort(let abort): metadata["dicom.answer"] = "A-ABORT \(abort)"
        default: metadata["dicom.answer"] = "none (closed)"
        }
        self.logger.notice("association refused by the gateway", metadata: metadata)
    }

    /// Whether a line at `level` would be written.
    private func logs(_ level: Logger.Level) -> Bool {
        self.baseLogger.logLevel <= level
    }

    private func log(_ transition: AssociationStateMachine.Transition) {
        switch transition {
        case .established(let accepted):
            guard self.logs(.debug) else { break }
            self.logger.debug(
                "association accepted by the server",
                metadata: ["dicom.accepted_contexts": "\(accepted)"]
            )
        case .rejectedByServer(let reject):
            self.logger.info("association rejected by the server", metadata: ["dicom.reject": "\(reject)"])
        case .releaseRequested(let side):
            guard self.logs(.debug) else { break }
            self.logger.debug("release requested", metadata: ["dicom.by": "\(side.rawValue)"])
        case .released:
            guard self.logs(.debug) else { break }
            self.logger.debug("association released")
        case .aborted(let abort, let side):
            self.logger.info(
                "association aborted",
                metadata: ["dicom.by": "\(side.rawValue)", "dicom.abort": "\(abort)"]
            )
        case .protocolError(let text, let side):
            self.logger.notice(
                "protocol error in the relayed stream",
                metadata: ["dicom.by": "\(side.rawValue)", "dicom.error": "\(text)"]
            )
        }
    }
}

@available(*, unavailable)
extension DICOMInspector: Sendable {}

import NIOCore
import PacsgateAuditRecords
import PacsgateCore

/// The gateway's view of one DICOM connection, from accept to close, without I/O.
///
/// ```
/// peeking ──complete, allowed RQ──▶ forwarding ──AC/RJ, P-DATA, RELEASE, ABORT observed──▶ (finished)
///    │ malformed RQ / policy refusal / ARTIM / no server                    │ connect failed
///    ▼                                                                       ▼
/// answered (the gateway's A-ABORT or A-ASSOCIATE-RJ, or a plain close) ◀─────┘
/// ```
///
/// ``DICOMInspector`` feeds it the peeked bytes, the PDU events of both directions (from two
/// ``PDUStreamObserver``s) and the core's lifecycle calls, and performs what it returns. ``finished(_:)`` turns
/// what was learnt into the association's ``DICOMAssociationAudit``.
struct AssociationStateMachine {
    /// What the gateway answered without forwarding.
    struct Answer {
        var outcome: AssociationOutcome
        var reject: AssociateReject?
        var abort: AssociationAbort?
        var error: String
        /// Whether the answer deserves an audit record (not for a client that never sent a byte).
        var recorded = true
    }

    /// The first event that decided how a forwarded association ends.
    enum Conclusion: Equatable {
        case rejectedByServer(AssociateReject)
        case aborted(AssociationAbort, by: AssociationSide)
        case released
        case protocolError(String, by: AssociationSide)
    }

    /// A change worth one log line.
    enum Transition: Equatable {
        case established(acceptedContexts: Int)
        case rejectedByServer(AssociateReject)
        case releaseRequested(by: AssociationSide)
        case released
        case aborted(AssociationAbort, by: AssociationSide)
        case protocolError(String, by: AssociationSide)
    }

    enum Phase {
        /// Holding the client's bytes until the A-ASSOCIATE-RQ is complete.
        case peeking(bytesSeen: Int)
        /// The gateway answered (or just closed) without forwarding.
        case answered(Answer)
        /// The request went on to a server (``server`` is set once connected).
        case forwarding
    }

    /// Fixed facts of the connection.
    struct Connection {
        var service: String
        var client: SocketAddress
        var acceptedAt: WallClock.Instant
        var settings: DICOMServiceSettings
        /// `persistence: calling-ae`: the calling AE title is the persistence key.
        var persistsByCallingAE: Bool
    }

    let connection: Connection
    /// The client's TLS session on a terminating service (set before the first peek): its certificate is what
    /// `certificate:` allow-list entries require, and it goes into both audit records.
    var secureTransport: SecureTransportFacts?
    private(set) var phase = Phase.peeking(bytesSeen: 0)
    private(set) var request: AssociateRequest?
    private(set) var server: ServerIdentity?
    /// ``server`` as both audit records write it, described once (at forwarding) rather than once per record.
    private var auditServer: AuditServer?
    /// The client's `ip:port` as the records write it, rendered at the first record.
    private var clientText: String?
    private(set) var conclusion: Conclusion?
    private(set) var acceptedContexts: Int?
    private var contextResults: [UInt8: PresentationContextResult.Result] = [:]
    private var requestSeenInStream = false
    private var serverAnswered = false
    private var releaseRequested = false
    private var lastSpeaker = AssociationSide.client
    private var dataTransfers = (up: 0, down: 0)
    private var closeReason: CloseReason?
    private var gatewayAbort: AssociationAbort?
    /// Bytes the gateway itself sent to the client (its RJ or A-ABORT); the core counts only relayed ones.
    private var bytesToClient = 0
    /// Bytes held during the peek; the core counts them only once they are forwarded.
    private var peekedBytes = 0
    /// The parsed A-ASSOCIATE-RQ's length on the wire, header included.
    private var requestLength = 0

    /// The A-ABORT the gateway sends to either side when it ends an open association itself.
    static let gatewayAbortPDU = AssociationAbort(source: .serviceProvider, reason: .notSpecified)

    init(_ connection: Connection) {
        self.connection = connection
    }

    // MARK: peek

    /// Everything the client sent so far: wait, forward, or answer.
    ///
    /// - Parameter refuseForAudit: the audit log cannot be written and `audit.on_failure` is `refuse`: a complete
    ///   request is answered with a transient A-ASSOCIATE-RJ (2/3/1, temporary congestion) instead of forwarded.
    mutating func peek(_ buffered: ByteBuffer, refuseForAudit: Bool = false) -> InspectionVerdict {
        guard case .peeking = self.phase else { return .needMore }
        self.phase = .peeking(bytesSeen: buffered.readableBytes)
        self.peekedBytes = buffered.readableBytes
        var input = buffered
        let request: AssociateRequest
        do {
            guard let parsed = try AssociateRequest.parse(&input, maxLength: self.connection.settings.maxPDUPeek - 6)
            else { return .needMore }
            request = parsed
            self.requestLength = buffered.readableBytes - input.readableBytes
        } catch {
            return self.malformed(error)
        }
        self.request = request
        if refuseForAudit {
            let why = "the audit log cannot be written (audit.on_failure: refuse)"
            return .reject(self.answer(.rejectedByGateway, reject: .temporaryCongestion, error: why))
        }
        let certificate = self.secureTransport?.clientCertificate
        switch self.connection.settings.policy.decide(request, client: self.connection.client, certificate: certificate) {
        case .reject(let reject, let why):
            return .reject(self.answer(.rejectedByGateway, reject: reject, error: why))
        case .forward(let servers, let route):
            self.phase = .forwarding
            var stickKey: StickKey?
            if self.connection.persistsByCallingAE {
                stickKey = StickKey(text: request.callingAETitle.title)
            }
            var note = "calling \(request.callingAETitle.auditText) called \(request.calledAETitle.auditText)"
            if let route { note += " route \(route)" }
            return .forward(Routing(servers: servers, stickKey: stickKey, note: note))
        }
    }

    /// The answer to a request that cannot be parsed (PS3.8 §9.3.1, Table 9-10 for Sta2).
    private mutating func malformed(_ error: DICOMParseError) -> InspectionVerdict {
        if case .unexpectedPDU(.abort, _) = error {
            // A-ABORT in Sta2 (AA-2): close without answering.
            let error = "A-ABORT before any A-ASSOCIATE-RQ"
            self.phase = .answered(Answer(outcome: .abortedByClient, error: error))
            return .reject(Rejection(answer: nil, reason: error))
        }
        if let reject = error.associateReject {
            // Unsupported protocol version: A-ASSOCIATE-RJ 1/2/2 (AE-6 → AE-8), then wait for the close.
            return .reject(self.answer(.protocolError, reject: reject, error: error.description))
        }
        return .reject(self.answer(.protocolError, abort: error.abort, error: error.description))
    }

    /// Records an answer sent to the client and returns what the core sends: RJ or A-ABORT, then half-close and
    /// wait for the client to close (ARTIM, the service's `close_linger`).
    private mutating func answer(
        _ outcome: AssociationOutcome,
        reject: AssociateReject? = nil,
        abort: AssociationAbort? = nil,
        error: String
    ) -> Rejection {
        self.phase = .answered(Answer(outcome: outcome, reject: reject, abort: abort, error: error))
        var bytes = ByteBuffer()
        if let reject { reject.encode(into: &bytes) }
        if let abort { abort.encode(into: &bytes) }
        self.bytesToClient += bytes.readableBytes
        return Rejection(answer: bytes, reason: error, waitForClientClose: true)
    }

    /// The peek ended without a complete request.
    mutating func peekFailed(_ failure: PeekFailure) -> Rejection {
        let bytes: Int
        switch self.phase {
        case .peeking(let seen): bytes = seen
        default: bytes = 0
        }
        switch failure {
        case .timeout:
            // ARTIM expired in Sta2 (AA-2): close the transport, send nothing.
            let error = "no complete A-ASSOCIATE-RQ within peek_timeout (ARTIM); \(bytes) bytes received"
            self.phase = .answered(Answer(outcome: .timeout, error: error))
            return Rejection(answer: nil, reason: error)
        case .tooLarge(let size):
            let error = "more than \(size) bytes without a complete A-ASSOCIATE-RQ"
            return self.answer(
                .protocolError,
                abort: AssociationAbort(source: .serviceProvider, reason: .invalidPDUParameterValue),
                error: error
            )
        case .clientClosed:
            // Transport closed in Sta2 (AA-5): nothing to answer. No bytes at all is not an association (a TCP
            // check); finished(_:) writes no record for it.
            let error =
                bytes == 0
                ? "closed before sending anything"
                : "connection closed after \(bytes) bytes of an incomplete A-ASSOCIATE-RQ"
            self.phase = .answered(Answer(outcome: .protocolError, error: error, recorded: bytes > 0))
            return Rejection(answer: nil, reason: error)
        }
    }

    /// No server could take the association: a transient A-ASSOCIATE-RJ (PS3.8 Table 9-21, source 3).
    mutating func unavailable(_ reason: UnavailableReason) -> Rejection {
        let reject: AssociateReject
        switch reason {
        case .maxConnections, .perClientLimit: reject = .localLimitExceeded
        case .noServer, .connectFailed, .auditLogFailing: reject = .temporaryCongestion
        }
        return self.answer(.rejectedByGateway, reject: reject, error: reason.description)
    }

    // MARK: forwarding

    /// The server leg is up and has the request.
    mutating func forwarding(to server: ServerIdentity) -> AuditRecord? {
        self.server = server
        let auditServer = AuditServer(server)
        self.auditServer = auditServer
        guard let request else { return nil }
        return AssociationRecord.startLine(
            time: self.connection.acceptedAt,
            service: self.connection.service,
            client: self.recordedClient(),
            server: auditServer,
            request: request,
            secureTransport: self.secureTransport
        )
    }

    /// The length of the forwarded A-ASSOCIATE-RQ, which starts the client's stream, for its observer to pass over
    /// (``PDUStreamObserver/passParsedPDU(totalLength:)``): ``peek(_:refuseForAudit:)`` parsed and checked it, and
    /// the request is now counted as seen in the stream. `nil` when there is none or it was already taken.
    mutating func takeForwardedRequestLength() -> Int? {
        guard self.request != nil, !self.requestSeenInStream, self.requestLength > 0 else { return nil }
        self.requestSeenInStream = true
        return self.requestLength
    }

    /// A PDU event seen in one direction after the verdict.
    mutating func observed(_ event: PDUStreamObserver.Event, from side: AssociationSide) -> Transition? {
        if case .dataTransfer = event {
            if side == .client { self.dataTransfers.up += 1 } else { self.dataTransfers.down += 1 }
            if !self.serverAnswered, self.conclusion == nil {
                return self.conclude(.protocolError("P-DATA-TF before A-ASSOCIATE-AC", by: side))
            }
            self.lastSpeaker = side
            return nil
        }
        self.lastSpeaker = side
        guard self.conclusion == nil else { return nil }
        switch (event, side) {
        case (.associateRequest, .client) where !self.requestSeenInStream:
            self.requestSeenInStream = true  // the forwarded request itself
            return nil
        case (.associateAccept(let accept), .server) where !self.serverAnswered:
            self.serverAnswered = true
            self.acceptedContexts = accept.acceptedContextCount
            for context in accept.presentationContexts { self.contextResults[context.id] = context.result }
            return .established(acceptedContexts: accept.acceptedContextCount)
        case (.associateReject(let reject), .server) where !self.serverAnswered:
            self.serverAnswered = true
            return self.conclude(.rejectedByServer(reject))
        case (.releaseRequest, _):
            self.releaseRequested = true
            return .releaseRequested(by: side)
        case (.releaseResponse, _) where self.releaseRequested:
            return self.conclude(.released)
        case (.abort(let abort), _):
            return self.conclude(.aborted(abort, by: side))
        case (.protocolError(let error, let offset), _):
            return self.conclude(.protocolError("\(error) (stream offset \(offset))", by: side))
        default:
            let name = event.pduType?.description ?? "protocol error"
            return self.conclude(.protocolError("unexpected \(name) from the \(side.rawValue)", by: side))
        }
    }

    private mutating func conclude(_ conclusion: Conclusion) -> Transition {
        self.conclusion = conclusion
        switch conclusion {
        case .rejectedByServer(let reject): return .rejectedByServer(reject)
        case .aborted(let abort, let side): return .aborted(abort, by: side)
        case .released: return .released
        case .protocolError(let text, let side): return .protocolError(text, by: side)
        }
    }

    /// Whether the association is open on the server's side: the request was forwarded and nothing ended it yet.
    private var isOpen: Bool {
        guard case .forwarding = self.phase else { return false }
        return self.conclusion == nil
    }

    /// One side sent FIN. DICOM has no half-close: in the middle of an association it means that side is gone, so
    /// the gateway ends the connection with an A-ABORT to the other side (``closing(_:)``) instead of leaving it
    /// half-open. Once the association is over, or a release is under way, the FIN is passed on as usual.
    func halfClosed(by side: AssociationSide) -> HalfCloseHandling {
        self.isOpen && !self.releaseRequested ? .terminate : .propagate
    }

    /// The gateway ends a forwarded connection: an A-ABORT (source 2, PS3.8 AA-8) to each side still in an open
    /// association — to the client when the server failed, to the server when the client vanished, to both on
    /// idle timeout and shutdown.
    mutating func closing(_ reason: CloseReason) -> ClosingWords {
        if self.closeReason == nil { self.closeReason = reason }
        guard self.isOpen else { return ClosingWords() }
        var words = ClosingWords()
        var abort = ByteBuffer()
        Self.gatewayAbortPDU.encode(into: &abort)
        switch reason {
        case .serverFailed:
            words.toClient = abort
        case .clientFailed:
            if self.server != nil { words.toServer = abort }
        case .idleTimeout, .shutdown, .inspectorRequested:
            words.toClient = abort
            if self.server != nil { words.toServer = abort }
        }
        self.gatewayAbort = Self.gatewayAbortPDU
        self.bytesToClient += words.toClient?.readableBytes ?? 0
        return words
    }

    /// The client's `ip:port` for the records, rendered once per connection.
    private mutating func recordedClient() -> String {
        if let text = self.clientText { return text }
        let text = self.connection.client.logDescription
        self.clientText = text
        return text
    }

    // MARK: end

    /// How the association ended, as its record says it.
    private struct Ending {
        var outcome = AssociationOutcome.protocolError
        var reject: AssociateReject?
        var abort: (pdu: AssociationAbort, by: AssociationSide)?
        var error: String?
    }

    /// The association's `dicom.association` record, or `nil` when there was no association to speak of (a client
    /// that connected and closed without sending a byte).
    mutating func finished(_ summary: ConnectionSummary) -> DICOMAssociationAudit? {
        var ending = Ending()
        var bytesUp = summary.bytesUp
        switch self.phase {
        case .peeking(let bytes):
            // The connection ended during the peek without peekFailed (reset, or the gateway stopped).
            guard bytes > 0 else { return nil }
            ending.error = "connection ended after \(bytes) bytes of an incomplete A-ASSOCIATE-RQ"
            bytesUp += self.peekedBytes  // held, never forwarded
        case .answered(let answer):
            guard answer.recorded else { return nil }
            ending = Ending(
                outcome: answer.outcome, reject: answer.reject, abort: answer.abort.map { ($0, .gateway) },
                error: answer.error)
            bytesUp += self.peekedBytes
        case .forwarding:
            ending = self.forwardedEnding()
        }
        return DICOMAssociationAudit(
            time: self.connection.acceptedAt, service: self.connection.service, client: self.recordedClient(),
            server: self.auditServer, secureTransport: self.secureTransport,
            request: self.request.map { DICOMAssociationAudit.Request($0, contextResults: self.contextResults) },
            acceptedContexts: self.acceptedContexts, outcome: ending.outcome.rawValue,
            reject: ending.reject.map(DICOMAssociationAudit.Reject.init),
            abort: ending.abort.map { DICOMAssociationAudit.Abort($0.pdu, by: $0.by) }, error: ending.error,
            warnings: self.warnings, bytesUp: bytesUp, bytesDown: summary.bytesDown + self.bytesToClient,
            dataTransfersUp: self.dataTransfers.up, dataTransfersDown: self.dataTransfers.down,
            durationMilliseconds: Int(summary.duration.milliseconds), end: summary.endReason)
    }

    private func forwardedEnding() -> Ending {
        var ending = Ending()
        switch self.conclusion {
        case .rejectedByServer(let reject):
            ending.outcome = .rejectedByServer
            ending.reject = reject
        case .aborted(let abort, let side):
            ending.outcome = side == .client ? .abortedByClient : .abortedByServer
            ending.abort = (abort, side)
        case .released:
            ending.outcome = .released
        case .protocolError(let text, _):
            ending.outcome = .protocolError
            ending.error = text
        case nil:
            if let abort = self.gatewayAbort { ending.abort = (abort, .gateway) }
            switch self.closeReason {
            case .idleTimeout:
                ending.outcome = .timeout
                ending.error = "idle timeout"
            case .clientFailed:
                ending.outcome = .abortedByClient
            case .serverFailed, .shutdown, .inspectorRequested:
                ending.outcome = .abortedByServer
            case nil:
                // Both sides closed the transport without A-RELEASE (an A-P-ABORT for PS3.8). The side whose turn
                // it was to answer is taken to have closed: the server after a request, the client after a
                // response.
                ending.outcome = self.lastSpeaker == .client ? .abortedByServer : .abortedByClient
                ending.error = "transport closed without A-RELEASE"
            }
        }
        return ending
    }

    /// AE title problems that did not stop the association.
    private var warnings: [String] {
        guard let request else { return [] }
        var result: [String] = []
        for (name, title) in [("calling", request.callingAETitle), ("called", request.calledAETitle)] {
            switch title.validation {
            case .valid: break
            case .nulPadded: result.append("\(name) AE title is padded with NUL bytes")
            case .invalid(let defect): result.append("\(name) \(defect)")
            }
        }
        return result
    }
}

@available(*, unavailable)
extension AssociationStateMachine: Sendable {}

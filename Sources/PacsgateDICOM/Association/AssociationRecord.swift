public import PacsgateAuditRecords
public import PacsgateCore

/// How an association ended, as the `outcome` field of its audit record says it.
public enum AssociationOutcome: String, Sendable, Hashable, CaseIterable {
    /// A-RELEASE-RQ answered by A-RELEASE-RP.
    case released
    /// The client sent A-ABORT, or dropped the connection without releasing.
    case abortedByClient = "aborted-by-client"
    /// The server sent A-ABORT or dropped the connection without releasing; also when the gateway aborted an
    /// established association on the server side's behalf (server failure, shutdown).
    case abortedByServer = "aborted-by-server"
    /// The server answered A-ASSOCIATE-RJ.
    case rejectedByServer = "rejected-by-server"
    /// The gateway answered A-ASSOCIATE-RJ itself (AE policy, no server available, over capacity).
    case rejectedByGateway = "rejected-by-gateway"
    /// Malformed or out-of-sequence PDUs (in the request, or later in either direction).
    case protocolError = "protocol-error"
    /// No complete A-ASSOCIATE-RQ within `peek_timeout` (ARTIM), or the idle timeout ended the association.
    case timeout
}

/// Who sent a PDU or ended a connection.
public enum AssociationSide: String, Sendable, Hashable {
    /// The association requestor (modality, workstation).
    case client
    /// The acceptor behind the gateway (the Mach7 node).
    case server
    /// The gateway itself.
    case gateway
}

/// One `dicom.association` audit record: everything known about an association when it ended.
///
/// Built by ``AssociationStateMachine``; reported as a ``DICOMAssociationAudit`` (``audit``), which renders the line.
/// Every text taken from the wire (AE titles, UIDs, names) goes through ``JSONLine``'s escaping, AE titles
/// additionally through ``AETitle/auditText``, so a hostile title can neither forge a line nor hide a byte.
public struct AssociationRecord: Sendable {
    /// When the connection was accepted.
    public var time: WallClock.Instant
    /// The service label.
    public var service: String
    /// `ip:port` of the client.
    public var client: String
    /// The server the association was forwarded to.
    public var server: ServerIdentity?
    /// ``server`` as the start record already described it, when there was one.
    var auditServer: AuditServer?
    /// The A-ASSOCIATE-RQ, when one was parsed.
    public var request: AssociateRequest?
    /// The server's per-context answers from its A-ASSOCIATE-AC, by context ID.
    public var contextResults: [UInt8: PresentationContextResult.Result]
    /// Accepted presentation contexts (`nil` when no A-ASSOCIATE-AC was seen).
    public var acceptedContexts: Int?
    /// How it ended.
    public var outcome: AssociationOutcome
    /// The A-ASSOCIATE-RJ, for rejected outcomes.
    public var reject: AssociateReject?
    /// The A-ABORT and who sent it, for aborts seen or sent.
    public var abort: (pdu: AssociationAbort, by: AssociationSide)?
    /// What was wrong or why the gateway refused (no field contents, only types, lengths and offsets).
    public var error: String?
    /// Problems with the AE titles that did not stop the association (NUL padding, forbidden bytes).
    public var warnings: [String]
    /// Bytes the client sent (forwarded or not).
    public var bytesUp: Int
    /// Bytes the client was sent: the server's, plus the gateway's own A-ASSOCIATE-RJ or A-ABORT.
    public var bytesDown: Int
    /// P-DATA-TF PDUs from the client.
    public var dataTransfersUp: Int
    /// P-DATA-TF PDUs from the server.
    public var dataTransfersDown: Int
    /// From accept to close.
    public var duration: Duration
    /// How the connection ended, in the connection log's words.
    public var end: String
    /// The client's TLS session on a terminating service (`nil` on a plain one): written as `tls` and
    /// `client_certificate`.
    public var secureTransport: SecureTransportFacts?

    /// The audit event of the end record.
    public static let event: AuditEvent = .dicomAssociation
    /// The audit event of the start record.
    public static let startEvent: AuditEvent = "dicom.association.start"

    /// The audit record (``DICOMAssociationAudit``, which is its ``AuditRecord/payload``).
    public var auditRecord: AuditRecord { self.audit.auditRecord }

    /// The association as its `dicom.association` record reports it: audit text only (AE titles as
    /// ``AETitle/auditText`` gives them, the user name printable, codes as numbers).
    public var audit: DICOMAssociationAudit {
        DICOMAssociationAudit(
            time: self.time, service: self.service, client: self.client, server: self.auditServer ?? self.server.map(AuditServer.init),
            secureTransport: self.secureTransport, request: self.request.map(self.auditRequest),
            acceptedContexts: self.acceptedContexts, outcome: self.outcome.rawValue,
            reject: self.reject.map {
                DICOMAssociationAudit.Reject(
                    result: Int($0.result.rawValue), source: Int($0.source.rawValue), reason: Int($0.reason),
                    description: $0.reasonDescription)
            },
            abort: self.abort.map { abort, side in
                DICOMAssociationAudit.Abort(
                    by: side.rawValue, source: Int(abort.source.rawValue), reason: Int(abort.reason.rawValue),
                    description: abort.reason.description)
            },
            error: self.error, warnings: self.warnings, bytesUp: self.bytesUp, bytesDown: self.bytesDown,
            dataTransfersUp: self.dataTransfersUp, dataTransfersDown: self.dataTransfersDown,
            durationMilliseconds: Int(self.duration.milliseconds), end: self.end)
    }

    /// The `dicom.association.start` record, written when the request is forwarded.
    static func startLine(
        time: WallClock.Instant,
        service: String,
        client: String,
        server: AuditServer,
        request: AssociateRequest,
        secureTransport: SecureTransportFacts? = nil
    ) -> AuditRecord {
        var line = AuditLog.record(event: Self.startEvent, time: time, capacity: 512)
        line.field("service", service)
        line.field("client", client)
        line.field("server", server)
        line.secureTransportFields(secureTransport)
        line.field("calling_ae", request.callingAETitle.auditText)
        line.field("called_ae", request.calledAETitle.auditText)
        line.field("proposed_contexts", request.presentationContexts.count)
        line.field("implementation_class_uid", request.userInformation.implementationClassUID)
        line.field("implementation_version", request.userInformation.implementationVersionName)
        line.field("max_pdu", request.userInformation.maximumLength.map { Int($0) })
        return line
    }

    private func auditRequest(_ request: AssociateRequest) -> DICOMAssociationAudit.Request {
        var contexts: [DICOMAssociationAudit.Context] = []
        contexts.reserveCapacity(request.presentationContexts.count)
        for proposal in request.presentationContexts {
            contexts.append(
                DICOMAssociationAudit.Context(
                    id: Int(proposal.id), uid: proposal.abstractSyntax, name: DICOMUID.name(for: proposal.abstractSyntax),
                    accepted: self.contextResults[proposal.id].map { $0 == .acceptance }))
        }
        let user = request.userInformation
        return DICOMAssociationAudit.Request(
            callingAE: request.callingAETitle.auditText, calledAE: request.calledAETitle.auditText, contexts: contexts,
            implementationClassUID: user.implementationClassUID, implementationVersion: user.implementationVersionName,
            maxPDU: user.maximumLength.map { Int($0) },
            // Type and, for types 1 and 2, the user name; never the passcode or a token.
            userIdentity: user.userIdentity.map {
                DICOMAssociationAudit.UserIdentity(
                    type: Int($0.type.rawValue), username: $0.username.map { String(printableASCII: $0.utf8) })
            })
    }
}

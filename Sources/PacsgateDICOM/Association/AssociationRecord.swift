import PacsgateAuditRecords
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

/// The records of an association: its events, the `dicom.association.start` line, and how the state machine's
/// findings become the ``DICOMAssociationAudit`` of its `dicom.association` record (the type that renders the line).
///
/// Every text taken from the wire (AE titles, UIDs, names) goes through ``JSONLine``'s escaping, AE titles
/// additionally through ``AETitle/auditText``, so a hostile title can neither forge a line nor hide a byte.
public enum AssociationRecord {
    /// The audit event of the end record.
    public static let event: AuditEvent = .dicomAssociation
    /// The audit event of the start record.
    public static let startEvent: AuditEvent = "dicom.association.start"

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
}

extension DICOMAssociationAudit.Request {
    /// The request's fields as the record keeps them, each proposed context with the server's answer to it
    /// (`contextResults`, by context ID; absent when the server gave none).
    init(_ request: AssociateRequest, contextResults: [UInt8: PresentationContextResult.Result]) {
        var contexts: [DICOMAssociationAudit.Context] = []
        contexts.reserveCapacity(request.presentationContexts.count)
        for proposal in request.presentationContexts {
            contexts.append(
                DICOMAssociationAudit.Context(
                    id: Int(proposal.id), uid: proposal.abstractSyntax, name: DICOMUID.name(for: proposal.abstractSyntax),
                    accepted: contextResults[proposal.id].map { $0 == .acceptance }))
        }
        let user = request.userInformation
        self.init(
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

extension DICOMAssociationAudit.Reject {
    init(_ reject: AssociateReject) {
        self.init(
            result: Int(reject.result.rawValue), source: Int(reject.source.rawValue), reason: Int(reject.reason),
            description: reject.reasonDescription)
    }
}

extension DICOMAssociationAudit.Abort {
    init(_ abort: AssociationAbort, by side: AssociationSide) {
        self.init(
            by: side.rawValue, source: Int(abort.source.rawValue), reason: Int(abort.reason.rawValue),
            description: abort.reason.description)
    }
}

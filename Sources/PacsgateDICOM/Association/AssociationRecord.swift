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
/// Built by ``AssociationStateMachine``; rendered by ``auditRecord``, keys in a fixed order. Every text taken from the
/// wire (AE titles, UIDs, names) goes through ``JSONLine``'s escaping, AE titles additionally through
/// ``AETitle/auditText``, so a hostile title can neither forge a line nor hide a byte.
public struct AssociationRecord: Sendable {
    /// When the connection was accepted.
    public var time: WallClock.Instant
    /// The service label.
    public var service: String
    /// `ip:port` of the client.
    public var client: String
    /// The server the association was forwarded to.
    public var server: ServerIdentity?
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
    public static let event: AuditEvent = "dicom.association"
    /// The audit event of the start record.
    public static let startEvent: AuditEvent = "dicom.association.start"

    /// The audit record, fields in the documented order; this value is its ``AuditRecord/payload``.
    public var auditRecord: AuditRecord {
        // Sized for a typical record (600–900 bytes, more with many contexts) so it is built without growing.
        var line = AuditLog.record(event: Self.event, time: self.time, capacity: 1024)
        line.field("service", self.service)
        line.field("client", self.client)
        line.field("server", self.server)
        line.secureTransportFields(self.secureTransport)
        self.requestFields(into: &line)
        line.field("accepted_contexts", self.acceptedContexts)
        line.field("outcome", self.outcome.rawValue)
        if let reject = self.reject {
            var object = JSONLine()
            object.field("result", Int(reject.result.rawValue))
            object.field("source", Int(reject.source.rawValue))
            object.field("reason", Int(reject.reason))
            object.field("description", reject.reasonDescription)
            line.field("reject", object)
        } else {
            line.nullField("reject")
        }
        if let (abort, side) = self.abort {
            var object = JSONLine()
            object.field("by", side.rawValue)
            object.field("source", Int(abort.source.rawValue))
            object.field("reason", Int(abort.reason.rawValue))
            object.field("description", abort.reason.description)
            line.field("abort", object)
        }
        if let error = self.error { line.field("error", error) }
        if !self.warnings.isEmpty { line.field("warnings", self.warnings) }
        line.field("bytes_up", self.bytesUp)
        line.field("bytes_down", self.bytesDown)
        line.field("pdata_pdus", self.dataTransfersUp + self.dataTransfersDown)
        line.field("pdata_pdus_up", self.dataTransfersUp)
        line.field("pdata_pdus_down", self.dataTransfersDown)
        line.field("duration_ms", Int(self.duration.milliseconds))
        line.field("end", self.end)
        line.payload = self
        return line
    }

    /// The `dicom.association.start` record, written when the request is forwarded.
    static func startLine(
        time: WallClock.Instant,
        service: String,
        client: String,
        server: ServerIdentity,
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


    private func requestFields(into line: inout AuditRecord) {
        guard let request = self.request else {
            for key in ["calling_ae", "called_ae", "contexts", "implementation_class_uid", "implementation_version"] {
                line.nullField(key)
            }
            line.nullField("max_pdu")
            return
        }
        line.field("calling_ae", request.callingAETitle.auditText)
        line.field("called_ae", request.calledAETitle.auditText)
        var contexts: [JSONLine] = []
        contexts.reserveCapacity(request.presentationContexts.count)
        for proposal in request.presentationContexts {
            var object = JSONLine(capacity: 96)
            object.field("id", Int(proposal.id))
            object.field("uid", proposal.abstractSyntax)
            object.field("name", DICOMUID.name(for: proposal.abstractSyntax))
            if let result = self.contextResults[proposal.id] {
                object.field("accepted", result == .acceptance)
            } else {
                object.nullField("accepted")
            }
            contexts.append(object)
        }
        line.field("contexts", contexts)
        line.field("implementation_class_uid", request.userInformation.implementationClassUID)
        line.field("implementation_version", request.userInformation.implementationVersionName)
        line.field("max_pdu", request.userInformation.maximumLength.map { Int($0) })
        if let identity = request.userInformation.userIdentity {
            // Type and, for types 1 and 2, the user name; never the passcode or a token.
            var object = JSONLine()
            object.field("type", Int(identity.type.rawValue))
            object.field("username", identity.username.map { String(printableASCII: $0.utf8) })
            line.field("user_identity", object)
        }
    }
}

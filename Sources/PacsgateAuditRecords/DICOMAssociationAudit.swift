public import PacsgateCore

/// A `dicom.association` record: one association, written when it ended (docs/dicom.md).
///
/// Every text from the wire is already audit text here (AE titles as ``AETitle/auditText`` gives them, the user name
/// printable); the line's escaping is ``JSONLine``'s.
public struct DICOMAssociationAudit: Sendable, Equatable {
    /// The A-ASSOCIATE-RQ's fields the record keeps.
    public struct Request: Sendable, Equatable {
        public var callingAE: String
        public var calledAE: String
        public var contexts: [Context]
        public var implementationClassUID: String?
        public var implementationVersion: String?
        public var maxPDU: Int?
        /// The user identity negotiation's type and, for types 1 and 2, the user name; never a passcode or a token.
        public var userIdentity: UserIdentity?

        public init(
            callingAE: String, calledAE: String, contexts: [Context], implementationClassUID: String?,
            implementationVersion: String?, maxPDU: Int?, userIdentity: UserIdentity?
        ) {
            self.callingAE = callingAE
            self.calledAE = calledAE
            self.contexts = contexts
            self.implementationClassUID = implementationClassUID
            self.implementationVersion = implementationVersion
            self.maxPDU = maxPDU
            self.userIdentity = userIdentity
        }
    }

    /// One proposed presentation context.
    public struct Context: Sendable, Equatable {
        public var id: Int
        /// The abstract syntax UID.
        public var uid: String
        /// Its name, when the gateway knows the UID.
        public var name: String?
        /// The server's answer; `nil` when it gave none (no A-ASSOCIATE-AC seen).
        public var accepted: Bool?

        public init(id: Int, uid: String, name: String?, accepted: Bool?) {
            self.id = id
            self.uid = uid
            self.name = name
            self.accepted = accepted
        }
    }

    public struct UserIdentity: Sendable, Equatable {
        public var type: Int
        public var username: String?

        public init(type: Int, username: String?) {
            self.type = type
            self.username = username
        }
    }

    /// The A-ASSOCIATE-RJ (the server's or the gateway's own).
    public struct Reject: Sendable, Equatable {
        public var result: Int
        public var source: Int
        public var reason: Int
        public var description: String

        public init(result: Int, source: Int, reason: Int, description: String) {
            self.result = result
            self.source = source
            self.reason = reason
            self.description = description
        }
    }

    /// An A-ABORT seen or sent, and who sent it (`client`, `server`, `gateway`).
    public struct Abort: Sendable, Equatable {
        public var by: String
        public var source: Int
        public var reason: Int
        public var description: String

        public init(by: String, source: Int, reason: Int, description: String) {
            self.by = by
            self.source = source
            self.reason = reason
            self.description = description
        }
    }

    /// When the connection was accepted.
    public var time: WallClock.Instant
    public var service: String
    /// `ip:port` of the client.
    public var client: String
    public var server: AuditServer?
    /// The client's TLS session on a terminating service (`tls`, `client_certificate`); `nil` on a plain one, whose
    /// records have neither key.
    public var secureTransport: SecureTransportFacts?
    /// `nil` when no A-ASSOCIATE-RQ was parsed (its keys are then `null`).
    public var request: Request?
    /// Accepted presentation contexts (`nil` when no A-ASSOCIATE-AC was seen).
    public var acceptedContexts: Int?
    /// `released`, `aborted-by-client`, `aborted-by-server`, `rejected-by-server`, `rejected-by-gateway`,
    /// `protocol-error`, `timeout`.
    public var outcome: String
    public var reject: Reject?
    public var abort: Abort?
    /// What was wrong or why the gateway refused.
    public var error: String?
    public var warnings: [String]
    public var bytesUp: Int
    public var bytesDown: Int
    public var dataTransfersUp: Int
    public var dataTransfersDown: Int
    public var durationMilliseconds: Int
    /// How the connection ended, in the connection log's words.
    public var end: String

    public init(
        time: WallClock.Instant, service: String, client: String, server: AuditServer?,
        secureTransport: SecureTransportFacts?, request: Request?, acceptedContexts: Int?, outcome: String,
        reject: Reject?, abort: Abort?, error: String?, warnings: [String], bytesUp: Int, bytesDown: Int,
        dataTransfersUp: Int, dataTransfersDown: Int, durationMilliseconds: Int, end: String
    ) {
        self.time = time
        self.service = service
        self.client = client
        self.server = server
        self.secureTransport = secureTransport
        self.request = request
        self.acceptedContexts = acceptedContexts
        self.outcome = outcome
        self.reject = reject
        self.abort = abort
        self.error = error
        self.warnings = warnings
        self.bytesUp = bytesUp
        self.bytesDown = bytesDown
        self.dataTransfersUp = dataTransfersUp
        self.dataTransfersDown = dataTransfersDown
        self.durationMilliseconds = durationMilliseconds
        self.end = end
    }

    /// The record, keys in the documented order; this value is its payload.
    public var auditRecord: AuditRecord {
        // Sized for a typical record (600–900 bytes, more with many contexts) so it is built without growing.
        var line = AuditRecord(event: .dicomAssociation, time: self.time, capacity: 1024)
        line.field("service", self.service)
        line.field("client", self.client)
        line.field("server", self.server)
        line.secureTransportFields(self.secureTransport)
        self.requestFields(into: &line)
        line.field("accepted_contexts", self.acceptedContexts)
        line.field("outcome", self.outcome)
        if let reject = self.reject {
            var object = JSONLine()
            object.field("result", reject.result)
            object.field("source", reject.source)
            object.field("reason", reject.reason)
            object.field("description", reject.description)
            line.field("reject", object)
        } else {
            line.nullField("reject")
        }
        if let abort = self.abort {
            var object = JSONLine()
            object.field("by", abort.by)
            object.field("source", abort.source)
            object.field("reason", abort.reason)
            object.field("description", abort.description)
            line.field("abort", object)
        }
        if let error = self.error { line.field("error", error) }
        if !self.warnings.isEmpty { line.field("warnings", self.warnings) }
        line.field("bytes_up", self.bytesUp)
        line.field("bytes_down", self.bytesDown)
        line.field("pdata_pdus", self.dataTransfersUp + self.dataTransfersDown)
        line.field("pdata_pdus_up", self.dataTransfersUp)
        line.field("pdata_pdus_down", self.dataTransfersDown)
        line.field("duration_ms", self.durationMilliseconds)
        line.field("end", self.end)
        line.payload = self
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
        line.field("calling_ae", request.callingAE)
        line.field("called_ae", request.calledAE)
        var contexts: [JSONLine] = []
        contexts.reserveCapacity(request.contexts.count)
        for context in request.contexts {
            var object = JSONLine(capacity: 96)
            object.field("id", context.id)
            object.field("uid", context.uid)
            object.field("name", context.name)
            if let accepted = context.accepted {
                object.field("accepted", accepted)
            } else {
                object.nullField("accepted")
            }
            contexts.append(object)
        }
        line.field("contexts", contexts)
        line.field("implementation_class_uid", request.implementationClassUID)
        line.field("implementation_version", request.implementationVersion)
        line.field("max_pdu", request.maxPDU)
        if let identity = request.userIdentity {
            var object = JSONLine()
            object.field("type", identity.type)
            object.field("username", identity.username)
            line.field("user_identity", object)
        }
    }
}

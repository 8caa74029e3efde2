import PacsgateAuditRecords
import PacsgateCore

/// The records the overview counts, typed as the protocol modules build them (with only what the overview reads set
/// to anything but a neutral value).
enum ActivityRecords {
    static func association(
        service: String = "SVC", client: String = "127.0.0.9:40000", server: String? = "A", calling: String,
        called: String = "MACH7", outcome: String
    ) -> DICOMAssociationAudit {
        DICOMAssociationAudit(
            time: WallClock.now(), service: service, client: client,
            server: server.map { AuditServer(ServerIdentity(label: $0, endpoint: Endpoint(host: "127.0.0.1", port: 104))) },
            secureTransport: nil,
            request: DICOMAssociationAudit.Request(
                callingAE: calling, calledAE: called, contexts: [], implementationClassUID: nil, implementationVersion: nil,
                maxPDU: nil, userIdentity: nil),
            acceptedContexts: nil, outcome: outcome, reject: nil, abort: nil, error: nil, warnings: [], bytesUp: 0,
            bytesDown: 0, dataTransfersUp: 0, dataTransfersDown: 0, durationMilliseconds: 0, end: "closed by both sides")
    }

    static func connection(service: String) -> HL7ConnectionAudit {
        HL7ConnectionAudit(
            service: service, client: "127.0.0.9:40001",
            server: AuditServer(ServerIdentity(label: "A", endpoint: Endpoint(host: "127.0.0.1", port: 6667))),
            secureTransport: nil)
    }

    static func summary(type: String) -> HL7MessageSummary {
        HL7MessageSummary(
            sendingApplication: "RIS", sendingFacility: "HOSP", receivingApplication: "PACS", receivingFacility: "MACH7",
            messageType: type, controlID: "C1", version: "2.5")
    }

    /// An `hl7.message`; `ack` `none` for one closed out without an ACK.
    static func hl7Message(service: String = "SVC", type: String, ack: String) -> HL7MessageAudit {
        HL7MessageAudit(
            time: WallClock.now(), connection: Self.connection(service: service), summary: Self.summary(type: type),
            bytes: 100, acknowledgment: ack == "none" ? .missing("timeout") : .received(code: ack, milliseconds: 3))
    }

    /// An `hl7.rejected`; `type` `nil` for input whose header could not be read.
    static func hl7Rejected(service: String = "SVC", type: String?) -> HL7RejectedAudit {
        HL7RejectedAudit(
            time: WallClock.now(), connection: Self.connection(service: service), reason: "bad_msh", detail: "x", offset: 0,
            bytes: 10, action: "nak", nakCode: "AE", summary: type.map(Self.summary(type:)))
    }

    /// A `tls.connection` of a `protocol: tls` service.
    static func tls(service: String = "SVC", sni: String?, outcome: String = "forwarded") -> TLSConnectionAudit {
        TLSConnectionAudit(
            time: WallClock.now(), service: service, client: "10.1.2.3:1", server: nil, mode: "passthrough",
            detail: .inspected(.init(sni: sni, alpn: [], tlsVersions: [], negotiated: nil, route: nil)), bytesUp: 0,
            bytesDown: 0, durationMilliseconds: 1, outcome: outcome, refusal: nil, reason: "closed by both sides")
    }

    /// A `tls.connection` of a DICOM or HL7 service with `tls:` whose handshake failed.
    static func failedHandshake(service: String, protocolName: String) -> TLSConnectionAudit {
        TLSConnectionAudit(
            time: WallClock.now(), service: service, client: "10.1.2.3:1", server: nil, mode: "terminate",
            detail: .terminated(protocolName: protocolName, clientCertificate: nil), bytesUp: 0, bytesDown: 0,
            durationMilliseconds: 1, outcome: "handshake_failed", refusal: "client_handshake_failed",
            reason: "no client certificate (client_auth: required)")
    }
}

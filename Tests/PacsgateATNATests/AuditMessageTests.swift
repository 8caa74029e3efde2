import Foundation
import PacsgateAuditRecords
import PacsgateCore
import Testing

@testable import PacsgateATNA

/// Every gateway record the export maps, as the modules build them (docs/dicom.md, hl7.md, tls.md, admin.md): typed
/// values, whose lines PacsgateAuditRecordsTests checks.
enum SampleRecords {
    static func time(_ text: String) -> WallClock.Instant {
        WallClock.Instant(iso8601: text) ?? WallClock.Instant(millisecondsSinceEpoch: 0)
    }

    static let server = AuditServer(ServerIdentity(label: "DICOM1", endpoint: Endpoint(host: "127.0.0.1", port: 31084)))

    static func request(calling: String) -> DICOMAssociationAudit.Request {
        DICOMAssociationAudit.Request(
            callingAE: calling, calledAE: "MACH7", contexts: [], implementationClassUID: nil, implementationVersion: nil,
            maxPDU: nil, userIdentity: nil)
    }

    static func association(
        _ time: String, service: String = "DICOM", client: String, server: AuditServer?, secure: SecureTransportFacts? = nil,
        request: DICOMAssociationAudit.Request?, outcome: String, reject: DICOMAssociationAudit.Reject? = nil,
        error: String? = nil, durationMilliseconds: Int = 87, end: String
    ) -> AuditRecord {
        DICOMAssociationAudit(
            time: Self.time(time), service: service, client: client, server: server, secureTransport: secure,
            request: request, acceptedContexts: nil, outcome: outcome, reject: reject, abort: nil, error: error,
            warnings: [], bytesUp: 301, bytesDown: 290, dataTransfersUp: 0, dataTransfersDown: 0,
            durationMilliseconds: durationMilliseconds, end: end
        ).auditRecord
    }

    static let association = Self.association(
        "2026-11-25T22:13:55.412Z", client: "127.0.0.1:43868", server: server, request: request(calling: "MODALITY1"),
        outcome: "released", end: "closed by both sides")
    static let rejectedAE = Self.association(
        "2026-11-25T22:20:01.006Z", client: "10.20.1.14:51022", server: nil, request: request(calling: "INTRUDER"),
        outcome: "rejected-by-gateway",
        reject: .init(result: 1, source: 1, reason: 3, description: "calling AE title not recognized"),
        error: "calling AE title not on calling_ae_allow", durationMilliseconds: 3, end: "calling AE title not on calling_ae_allow")
    static let protocolError = Self.association(
        "2026-11-25T22:21:01.006Z", client: "[::1]:51022", server: nil, request: nil, outcome: "protocol-error",
        error: "PDU type 0x41 is not A-ASSOCIATE-RQ", end: "protocol error")

    static let summary = HL7MessageSummary(
        sendingApplication: "RIS", sendingFacility: "HOSP", receivingApplication: "PACS", receivingFacility: "MACH7",
        messageType: "ORM^O01", controlID: "MSG0001", version: "2.5")

    static func hl7NAK(service: String, secure: SecureTransportFacts?, reason: String, detail: String, code: String) -> AuditRecord {
        HL7RejectedAudit(
            time: Self.time("2026-11-25T22:22:00.000Z"),
            connection: HL7ConnectionAudit(service: service, client: "10.1.2.3:40000", server: nil, secureTransport: secure),
            reason: reason, detail: detail, offset: 0, bytes: 120, action: "nak", nakCode: code, summary: summary
        ).auditRecord
    }

    static let hl7NAK = Self.hl7NAK(service: "HL7", secure: nil, reason: "bad_msh", detail: "MSH-9 missing at offset 41", code: "AE")

    static func tls(outcome: String, reason: String) -> AuditRecord {
        TLSConnectionAudit(
            time: Self.time("2026-11-25T22:20:44.053Z"), service: "HTTPS", client: "10.1.2.3:53264", server: nil,
            mode: "passthrough",
            detail: .inspected(
                .init(sni: "viewer.hospital.example", alpn: [], tlsVersions: [], negotiated: nil, route: nil)),
            bytesUp: 0, bytesDown: 0, durationMilliseconds: 3, outcome: outcome, refusal: nil, reason: reason
        ).auditRecord
    }

    static let tlsFailed = Self.tls(outcome: "handshake_failed", reason: "certificate unknown <&>")
    static let tlsForwarded = Self.tls(outcome: "forwarded", reason: "closed by both sides")
    // TLS services with client authentication (issue 19): the client certificate in the records.
    static let certificate = PeerCertificate(
        subject: "O=Radiology,CN=ct1.hospital.example", issuer: "CN=Test Hospital CA",
        subjectAlternativeNames: [SubjectAlternativeName(.dns, "ct1.hospital.example")], sha256Fingerprint: "87:2F:EC",
        serialNumber: "1001", notValidAfter: time("2026-12-09T06:15:41.000Z"))
    static let secureAssociation = Self.association(
        "2026-11-25T22:13:55.412Z", service: "DICOM-TLS", client: "127.0.0.1:43868", server: server,
        secure: SecureTransportFacts(version: "TLS1.3", cipher: "TLS_AES_256_GCM_SHA384", clientCertificate: certificate),
        request: request(calling: "CT_SCANNER1"), outcome: "released", end: "closed by both sides")
    static let secureHL7NAK = Self.hl7NAK(
        service: "HL7-TLS", secure: SecureTransportFacts(version: "TLS1.3", cipher: nil, clientCertificate: certificate),
        reason: "sender_not_allowed", detail: "sending application RIS facility HOSP not on sender_allow", code: "AR")
    static let refusedCertificate = TLSConnectionAudit(
        time: time("2026-11-25T22:20:44.053Z"), service: "DICOM-TLS", client: "10.1.2.3:53264", server: nil,
        mode: "terminate", detail: .terminated(protocolName: "dicom", clientCertificate: certificate), bytesUp: 0,
        bytesDown: 0, durationMilliseconds: 3, outcome: "handshake_failed", refusal: "client_handshake_failed",
        reason: "certificate expired on 2020-01-02"
    ).auditRecord
    static let proxyRefused = ProxyRefusedAudit(
        time: time("2026-11-25T22:22:30.000Z"), service: "DICOM", client: "10.9.8.7:50212",
        reason: "a PROXY header from 10.9.8.7, which is not in accept_proxy", bytesReceived: 108
    ).auditRecord
    static let loginFailed = AdminSessionAudit(
        time: time("2026-11-25T22:23:00.000Z"), login: true, user: "(unknown user)", client: "10.1.2.3", result: "failed"
    ).auditRecord
    static let loginOK = AdminSessionAudit(
        time: time("2026-11-25T22:23:01.000Z"), login: true, user: "alice", client: "10.1.2.3", result: "ok"
    ).auditRecord
    static let logout = AdminSessionAudit(
        time: time("2026-11-25T22:24:01.000Z"), login: false, user: "alice", client: "10.1.2.3", result: "ok"
    ).auditRecord
    static let serverState = AdminChangeAudit(
        time: time("2026-11-25T22:25:00.000Z"), user: "alice", what: "server.state",
        change: .server(service: "DICOM", server: "DICOM1", before: .text("online"), after: .text("drain"))
    ).auditRecord
    static let reloadRefused = AdminChangeAudit(
        time: time("2026-11-25T22:26:00.000Z"), user: "SIGHUP", what: "reload",
        change: .refused(
            edit: nil, before: "sha256:ab", after: "sha256:cd", error: "configuration refused: 2 problem(s)", problems: 2)
    ).auditRecord

    static let all: [AuditRecord] = [
        association, rejectedAE, protocolError, hl7NAK, tlsFailed, loginFailed, loginOK, logout, serverState,
        reloadRefused, secureAssociation, secureHL7NAK, refusedCertificate, proxyRefused,
    ]
}

@Suite("PS3.15 audit messages")
struct AuditMessageTests {
    let mapper = AuditEventMapper(sourceID: "pacsgate-1", siteID: "RADIOLOGY", processID: "4242")

    func xml(_ record: AuditRecord) throws -> String {
        let message = try #require(self.mapper.message(for: record), "no message for \(record.event)")
        return AuditMessageEncoder.string(message)
    }

    @Test("every mapped record and the application start/stop validate against the PS3.15 schema")
    func schemaValid() async throws {
        var documents = try SampleRecords.all.map { try self.xml($0) }
        let time = WallClock.Instant(millisecondsSinceEpoch: 1_764_108_835_412)
        documents.append(AuditMessageEncoder.string(self.mapper.applicationActivity(started: true, time: time)))
        documents.append(AuditMessageEncoder.string(self.mapper.applicationActivity(started: false, time: time)))
        let complaints = try await Tools.validate(documents)
        #expect(complaints.isEmpty, "\(complaints)")
    }

    @Test("the validator does reject a message that breaks the schema")
    func validatorRejects() async throws {
        let broken = try self.xml(SampleRecords.association)
            .replacingOccurrences(of: #"EventOutcomeIndicator="0""#, with: #"EventOutcomeIndicator="3""#)
        let complaints = try await Tools.validate([broken])
        #expect(complaints.contains("fails to validate"), "\(complaints)")
    }

    @Test("an association: Network Entry, calling AE requestor with the client IP, called AE with the server IP")
    func association() throws {
        let xml = try self.xml(SampleRecords.association)
        #expect(xml.hasPrefix(#"<?xml version="1.0" encoding="UTF-8"?><AuditMessage><EventIdentification EventActionCode="E" EventDateTime="2026-11-25T22:13:55.412Z" EventOutcomeIndicator="0">"#))
        #expect(xml.contains(#"<EventID csd-code="110108" codeSystemName="DCM" originalText="Network Entry"/>"#))
        #expect(xml.contains(#"<EventTypeCode csd-code="110124" codeSystemName="DCM" originalText="Attach"/>"#))
        #expect(xml.contains(#"<ActiveParticipant UserID="MODALITY1" AlternativeUserID="AETITLES=MODALITY1" UserIsRequestor="true" NetworkAccessPointID="127.0.0.1" NetworkAccessPointTypeCode="2"><RoleIDCode csd-code="110153""#))
        #expect(xml.contains(#"<ActiveParticipant UserID="MACH7" AlternativeUserID="AETITLES=MACH7" UserIsRequestor="false" NetworkAccessPointID="127.0.0.1" NetworkAccessPointTypeCode="2"><RoleIDCode csd-code="110152""#))
        #expect(xml.contains(#"<AuditSourceIdentification AuditEnterpriseSiteID="RADIOLOGY" AuditSourceID="pacsgate-1"><AuditSourceTypeCode csd-code="4"/>"#))
    }

    @Test("a rejected AE: Security Alert, Use of Restricted Function, minor failure, Node ID subject with the reason")
    func rejectedAE() throws {
        let xml = try self.xml(SampleRecords.rejectedAE)
        #expect(xml.contains(#"EventOutcomeIndicator="4""#))
        #expect(xml.contains(#"<EventID csd-code="110113" codeSystemName="DCM" originalText="Security Alert"/>"#))
        #expect(xml.contains(#"<EventTypeCode csd-code="110132" codeSystemName="DCM" originalText="Use of Restricted Function"/>"#))
        #expect(xml.contains(#"UserID="INTRUDER" AlternativeUserID="AETITLES=INTRUDER" UserIsRequestor="true" NetworkAccessPointID="10.20.1.14""#))
        #expect(xml.contains(#"<ParticipantObjectIdentification ParticipantObjectID="10.20.1.14" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="13"><ParticipantObjectIDTypeCode csd-code="110182""#))
        let detail = Base64.encode(Array("calling AE title not on calling_ae_allow".utf8))
        #expect(xml.contains(#"<ParticipantObjectDetail type="Alert Description" value="\#(detail)"/>"#))
    }

    @Test("a protocol error from an IPv6 client: Security Alert with the private Protocol Error type")
    func protocolError() throws {
        let xml = try self.xml(SampleRecords.protocolError)
        #expect(xml.contains(#"<EventTypeCode csd-code="PROTOCOL-ERROR" codeSystemName="99PACSGATE" originalText="Protocol Error"/>"#))
        #expect(xml.contains(#"UserID="::1" UserIsRequestor="true" NetworkAccessPointID="::1" NetworkAccessPointTypeCode="2""#))
    }

    @Test("an HL7 NAK: Security Alert, Protocol Error, the sending application as requestor")
    func hl7NAK() throws {
        let xml = try self.xml(SampleRecords.hl7NAK)
        #expect(xml.contains(#"<EventID csd-code="110113""#))
        #expect(xml.contains(#"<EventOutcomeDescription>HL7: bad_msh, nak AE</EventOutcomeDescription>"#))
        #expect(xml.contains(#"<ActiveParticipant UserID="RIS" UserName="HOSP" UserIsRequestor="true" NetworkAccessPointID="10.1.2.3" NetworkAccessPointTypeCode="2">"#))
        #expect(!xml.contains("MSG0001"), "the control ID is not an audit field")
    }

    @Test("a refused PROXY header: Security Alert, Protocol Error, the connection's own peer as requestor, the reason as the alert's detail")
    func proxyRefused() throws {
        let xml = try self.xml(SampleRecords.proxyRefused)
        #expect(xml.contains(#"<EventID csd-code="110113""#))
        #expect(xml.contains(#"<EventTypeCode csd-code="PROTOCOL-ERROR" codeSystemName="99PACSGATE" originalText="Protocol Error"/>"#))
        #expect(xml.contains(#"EventOutcomeIndicator="4""#), "\(xml)")
        #expect(xml.contains("<EventOutcomeDescription>DICOM: PROXY header refused</EventOutcomeDescription>"))
        #expect(xml.contains(#"<ActiveParticipant UserID="10.9.8.7" UserIsRequestor="true" NetworkAccessPointID="10.9.8.7" NetworkAccessPointTypeCode="2">"#), "\(xml)")
        let detail = Base64.encode(Array("a PROXY header from 10.9.8.7, which is not in accept_proxy".utf8))
        #expect(xml.contains(#"<ParticipantObjectDetail type="Alert Description" value="\#(detail)"/>"#), "\(xml)")
    }

    @Test("a client certificate in the record names the requesting participant (DICOM, HL7, a refused handshake)")
    func clientCertificate() throws {
        let identity = "O=Radiology,CN=ct1.hospital.example (SAN DNS:ct1.hospital.example; SHA-256 87:2F:EC)"
        let association = try self.xml(SampleRecords.secureAssociation)
        #expect(association.contains(#"<ActiveParticipant UserID="CT_SCANNER1" AlternativeUserID="AETITLES=CT_SCANNER1" UserName="\#(identity)" UserIsRequestor="true""#), "\(association)")
        let hl7 = try self.xml(SampleRecords.secureHL7NAK)
        #expect(hl7.contains(#"<ActiveParticipant UserID="RIS" UserName="\#(identity)" UserIsRequestor="true""#), "\(hl7)")
        #expect(hl7.contains("<EventOutcomeDescription>HL7-TLS: sender_not_allowed, nak AR; sending facility HOSP</EventOutcomeDescription>"), "\(hl7)")
        let refused = try self.xml(SampleRecords.refusedCertificate)
        #expect(refused.contains(#"<EventTypeCode csd-code="110126" codeSystemName="DCM" originalText="Node Authentication"/>"#))
        #expect(refused.contains(#"<ActiveParticipant UserID="O=Radiology,CN=ct1.hospital.example" AlternativeUserID="SHA256=87:2F:EC" UserName="\#(identity)" UserIsRequestor="true" NetworkAccessPointID="10.1.2.3""#), "\(refused)")
        let detail = Base64.encode(Array("certificate expired on 2020-01-02".utf8))
        #expect(refused.contains(#"<ParticipantObjectDetail type="Alert Description" value="\#(detail)"/>"#))
    }

    @Test("a TLS handshake failure: Node Authentication; a forwarded TLS connection gives no message")
    func tls() throws {
        let xml = try self.xml(SampleRecords.tlsFailed)
        #expect(xml.contains(#"<EventTypeCode csd-code="110126" codeSystemName="DCM" originalText="Node Authentication"/>"#))
        #expect(xml.contains("(SNI viewer.hospital.example)"))
        #expect(self.mapper.message(for: SampleRecords.tlsForwarded) == nil)
    }

    @Test("admin login failure and success, logout: User Authentication with the outcome")
    func adminSessions() throws {
        let failed = try self.xml(SampleRecords.loginFailed)
        #expect(failed.contains(#"<EventID csd-code="110114" codeSystemName="DCM" originalText="User Authentication"/>"#))
        #expect(failed.contains(#"<EventTypeCode csd-code="110122" codeSystemName="DCM" originalText="Login"/>"#))
        #expect(failed.contains(#"EventOutcomeIndicator="4""#))
        #expect(failed.contains(#"<ActiveParticipant UserID="(unknown user)" UserIsRequestor="true" NetworkAccessPointID="10.1.2.3" NetworkAccessPointTypeCode="2"/>"#))
        #expect(try self.xml(SampleRecords.loginOK).contains(#"EventOutcomeIndicator="0""#))
        #expect(try self.xml(SampleRecords.logout).contains(#"csd-code="110123""#))
    }

    @Test("configuration changes: Network Configuration for a server, Software Configuration for a refused reload")
    func adminChanges() throws {
        let state = try self.xml(SampleRecords.serverState)
        #expect(state.contains(#"csd-code="110128""#))
        #expect(state.contains("server.state DICOM/DICOM1: online → drain"))
        let reload = try self.xml(SampleRecords.reloadRefused)
        #expect(reload.contains(#"csd-code="110131""#))
        #expect(reload.contains(#"EventOutcomeIndicator="4""#))
    }

    @Test("records with no audit meaning or without a payload of a mapped type give no message")
    func ignored() {
        let late = HL7LateAcknowledgmentAudit(
            time: SampleRecords.time("2026-11-25T22:22:00.000Z"),
            connection: HL7ConnectionAudit(service: "HL7", client: "10.1.2.3:1", server: nil, secureTransport: nil),
            summary: SampleRecords.summary, received: SampleRecords.time("2026-11-25T22:21:00.000Z"), code: "AA",
            milliseconds: 60_000)
        #expect(self.mapper.message(for: late.auditRecord) == nil)
        // The fields of a mapped event written by hand, with no typed value behind them: nothing to map from.
        var untyped = AuditLog.record(event: "dicom.association")
        untyped.field("service", "DICOM")
        untyped.field("outcome", "released")
        #expect(self.mapper.message(for: untyped) == nil)
        var foreign = AuditLog.record(event: "admin.login")
        foreign.payload = "not a record type"
        #expect(self.mapper.message(for: foreign) == nil)
    }

    @Test("hostile values are escaped: markup, quotes, line breaks and control bytes cannot break the XML")
    func escaping() async throws {
        let record = SampleRecords.association(
            "2026-11-25T22:20:01.006Z", service: "D\"I<C>O&M", client: "10.0.0.1:1", server: nil,
            request: DICOMAssociationAudit.Request(
                callingAE: "A\"<x/>&\n\u{01}", calledAE: "B]]>", contexts: [], implementationClassUID: nil,
                implementationVersion: nil, maxPDU: nil, userIdentity: nil),
            outcome: "rejected-by-gateway",
            reject: .init(result: 1, source: 1, reason: 3, description: "</AuditMessage>"), error: "e\u{0}", end: "x")
        let xml = try self.xml(record)
        #expect(xml.contains(#"UserID="A&quot;&lt;x/&gt;&amp;&#10;\x01""#))
        #expect(!xml.contains("\n"))
        #expect(xml.components(separatedBy: "</AuditMessage>").count == 2)
        let complaints = try await Tools.validate([xml])
        #expect(complaints.isEmpty, "\(complaints)")
    }

    @Test("base64 of 0, 1, 2 and 3 byte tails")
    func base64() {
        #expect(Base64.encode([]) == "")
        #expect(Base64.encode(Array("f".utf8)) == "Zg==")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.encode(Array("foo".utf8)) == "Zm9v")
        #expect(Base64.encode([0xff, 0x00, 0x80, 0x7f]) == "/wCAfw==")
    }

    @Test("record times parse with and without a fraction; bad ones do not")
    func times() {
        #expect(WallClock.Instant(iso8601: "2026-11-25T22:13:55.412Z")?.iso8601 == "2026-11-25T22:13:55.412Z")
        #expect(WallClock.Instant(iso8601: "1970-01-01T00:00:01Z")?.millisecondsSinceEpoch == 1000)
        #expect(WallClock.Instant(iso8601: "2026-11-25T22:13:55.4Z")?.millisecondsSinceEpoch.isMultiple(of: 100) == true)
        #expect(WallClock.Instant(iso8601: "2026-13-25T22:13:55Z") == nil)
        #expect(WallClock.Instant(iso8601: "2026-11-25 22:13:55Z") == nil)
    }
}

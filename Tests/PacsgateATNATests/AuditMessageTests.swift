import Foundation
import PacsgateCore
import Testing

@testable import PacsgateATNA

/// Every gateway record the export maps, as the modules write it (docs/dicom.md, hl7.md, tls.md, admin.md).
enum SampleRecords {
    static let association = #"{"time":"2026-11-25T22:13:55.412Z","event":"dicom.association","service":"DICOM","client":"127.0.0.1:43868","server":{"label":"DICOM1","address":"127.0.0.1:31084"},"calling_ae":"MODALITY1","called_ae":"MACH7","contexts":[],"outcome":"released","reject":null,"bytes_up":301,"bytes_down":290,"duration_ms":87,"end":"closed by both sides"}"#
    static let rejectedAE = #"{"time":"2026-11-25T22:20:01.006Z","event":"dicom.association","service":"DICOM","client":"10.20.1.14:51022","server":null,"calling_ae":"INTRUDER","called_ae":"MACH7","outcome":"rejected-by-gateway","reject":{"result":1,"source":1,"reason":3,"description":"calling AE title not recognized"},"error":"calling AE title not on calling_ae_allow","duration_ms":3,"end":"calling AE title not on calling_ae_allow"}"#
    static let protocolError = #"{"time":"2026-11-25T22:21:01.006Z","event":"dicom.association","service":"DICOM","client":"[::1]:51022","server":null,"calling_ae":null,"called_ae":null,"outcome":"protocol-error","reject":null,"error":"PDU type 0x41 is not A-ASSOCIATE-RQ","end":"protocol error"}"#
    static let hl7NAK = #"{"time":"2026-11-25T22:22:00.000Z","event":"hl7.rejected","service":"HL7","client":"10.1.2.3:40000","server":null,"reason":"bad_msh","detail":"MSH-9 missing at offset 41","offset":0,"bytes":120,"action":"nak","nak_code":"AE","sending_app":"RIS","sending_facility":"HOSP","message_type":"ORM^O01","control_id":"MSG0001"}"#
    static let tlsFailed = #"{"time":"2026-11-25T22:20:44.053Z","event":"tls.connection","service":"HTTPS","client":"10.1.2.3:53264","server":null,"sni":"viewer.hospital.example","outcome":"handshake_failed","refusal":null,"reason":"certificate unknown <&>"}"#
    static let tlsForwarded = #"{"time":"2026-11-25T22:20:44.053Z","event":"tls.connection","service":"HTTPS","client":"10.1.2.3:53264","sni":"viewer.hospital.example","outcome":"forwarded","refusal":null,"reason":"closed by both sides"}"#
    // TLS services with client authentication (issue 19): the client certificate in the records.
    static let certificate = #"{"subject":"O=Radiology,CN=ct1.hospital.example","san":["DNS:ct1.hospital.example"],"sha256":"87:2F:EC","issuer":"CN=Test Hospital CA","serial":"1001","not_after":"2026-12-09T06:15:41.000Z"}"#
    static let secureAssociation = #"{"time":"2026-11-25T22:13:55.412Z","event":"dicom.association","service":"DICOM-TLS","client":"127.0.0.1:43868","server":{"label":"DICOM1","address":"127.0.0.1:31084"},"tls":{"version":"TLS1.3","cipher":"TLS_AES_256_GCM_SHA384"},"client_certificate":\#(certificate),"calling_ae":"CT_SCANNER1","called_ae":"MACH7","contexts":[],"outcome":"released","reject":null,"bytes_up":301,"bytes_down":290,"duration_ms":87,"end":"closed by both sides"}"#
    static let secureHL7NAK = #"{"time":"2026-11-25T22:22:00.000Z","event":"hl7.rejected","service":"HL7-TLS","client":"10.1.2.3:40000","server":null,"tls":{"version":"TLS1.3","cipher":null},"client_certificate":\#(certificate),"reason":"sender_not_allowed","detail":"sending application RIS facility HOSP not on sender_allow","offset":0,"bytes":120,"action":"nak","nak_code":"AR","sending_app":"RIS","sending_facility":"HOSP","message_type":"ORM^O01","control_id":"MSG0001"}"#
    static let refusedCertificate = #"{"time":"2026-11-25T22:20:44.053Z","event":"tls.connection","service":"DICOM-TLS","client":"10.1.2.3:53264","server":null,"mode":"terminate","protocol":"dicom","client_certificate":\#(certificate),"bytes_up":0,"bytes_down":0,"duration_ms":3,"outcome":"handshake_failed","refusal":"client_handshake_failed","reason":"certificate expired on 2020-01-02"}"#
    static let proxyRefused = #"{"time":"2026-11-25T22:22:30.000Z","event":"proxy.refused","service":"DICOM","client":"10.9.8.7:50212","reason":"a PROXY header from 10.9.8.7, which is not in accept_proxy","bytes_received":108,"outcome":"refused"}"#
    static let loginFailed = #"{"time":"2026-11-25T22:23:00.000Z","event":"admin.login","user":"(unknown user)","client":"10.1.2.3","result":"failed"}"#
    static let loginOK = #"{"time":"2026-11-25T22:23:01.000Z","event":"admin.login","user":"alice","client":"10.1.2.3","result":"ok"}"#
    static let logout = #"{"time":"2026-11-25T22:24:01.000Z","event":"admin.logout","user":"alice","client":"10.1.2.3","result":"ok"}"#
    static let serverState = #"{"time":"2026-11-25T22:25:00.000Z","event":"admin.change","user":"alice","what":"server.state","service":"DICOM","server":"DICOM1","before":"online","after":"drain"}"#
    static let reloadRefused = #"{"time":"2026-11-25T22:26:00.000Z","event":"admin.change","user":"SIGHUP","what":"reload","before":"sha256:ab","after":"sha256:cd","result":"refused","error":"configuration refused: 2 problem(s)","problems":2}"#

    static let all: [(String, String)] = [
        ("dicom.association", association), ("dicom.association", rejectedAE), ("dicom.association", protocolError),
        ("hl7.rejected", hl7NAK), ("tls.connection", tlsFailed), ("admin.login", loginFailed), ("admin.login", loginOK),
        ("admin.logout", logout), ("admin.change", serverState), ("admin.change", reloadRefused),
        ("dicom.association", secureAssociation), ("hl7.rejected", secureHL7NAK), ("tls.connection", refusedCertificate),
        ("proxy.refused", proxyRefused),
    ]
}

@Suite("PS3.15 audit messages")
struct AuditMessageTests {
    let mapper = AuditEventMapper(sourceID: "pacsgate-1", siteID: "RADIOLOGY", processID: "4242")

    func xml(_ event: String, _ line: String) throws -> String {
        let message = try #require(self.mapper.message(event: event, line: line), "no message for \(event)")
        return AuditMessageEncoder.string(message)
    }

    @Test("every mapped record and the application start/stop validate against the PS3.15 schema")
    func schemaValid() async throws {
        var documents = try SampleRecords.all.map { try self.xml($0.0, $0.1) }
        let time = WallClock.Instant(millisecondsSinceEpoch: 1_764_108_835_412)
        documents.append(AuditMessageEncoder.string(self.mapper.applicationActivity(started: true, time: time)))
        documents.append(AuditMessageEncoder.string(self.mapper.applicationActivity(started: false, time: time)))
        let complaints = try await Tools.validate(documents)
        #expect(complaints.isEmpty, "\(complaints)")
    }

    @Test("the validator does reject a message that breaks the schema")
    func validatorRejects() async throws {
        let broken = try self.xml("dicom.association", SampleRecords.association)
            .replacingOccurrences(of: #"EventOutcomeIndicator="0""#, with: #"EventOutcomeIndicator="3""#)
        let complaints = try await Tools.validate([broken])
        #expect(complaints.contains("fails to validate"), "\(complaints)")
    }

    @Test("an association: Network Entry, calling AE requestor with the client IP, called AE with the server IP")
    func association() throws {
        let xml = try self.xml("dicom.association", SampleRecords.association)
        #expect(xml.hasPrefix(#"<?xml version="1.0" encoding="UTF-8"?><AuditMessage><EventIdentification EventActionCode="E" EventDateTime="2026-11-25T22:13:55.412Z" EventOutcomeIndicator="0">"#))
        #expect(xml.contains(#"<EventID csd-code="110108" codeSystemName="DCM" originalText="Network Entry"/>"#))
        #expect(xml.contains(#"<EventTypeCode csd-code="110124" codeSystemName="DCM" originalText="Attach"/>"#))
        #expect(xml.contains(#"<ActiveParticipant UserID="MODALITY1" AlternativeUserID="AETITLES=MODALITY1" UserIsRequestor="true" NetworkAccessPointID="127.0.0.1" NetworkAccessPointTypeCode="2"><RoleIDCode csd-code="110153""#))
        #expect(xml.contains(#"<ActiveParticipant UserID="MACH7" AlternativeUserID="AETITLES=MACH7" UserIsRequestor="false" NetworkAccessPointID="127.0.0.1" NetworkAccessPointTypeCode="2"><RoleIDCode csd-code="110152""#))
        #expect(xml.contains(#"<AuditSourceIdentification AuditEnterpriseSiteID="RADIOLOGY" AuditSourceID="pacsgate-1"><AuditSourceTypeCode csd-code="4"/>"#))
    }

    @Test("a rejected AE: Security Alert, Use of Restricted Function, minor failure, Node ID subject with the reason")
    func rejectedAE() throws {
        let xml = try self.xml("dicom.association", SampleRecords.rejectedAE)
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
        let xml = try self.xml("dicom.association", SampleRecords.protocolError)
        #expect(xml.contains(#"<EventTypeCode csd-code="PROTOCOL-ERROR" codeSystemName="99PACSGATE" originalText="Protocol Error"/>"#))
        #expect(xml.contains(#"UserID="::1" UserIsRequestor="true" NetworkAccessPointID="::1" NetworkAccessPointTypeCode="2""#))
    }

    @Test("an HL7 NAK: Security Alert, Protocol Error, the sending application as requestor")
    func hl7NAK() throws {
        let xml = try self.xml("hl7.rejected", SampleRecords.hl7NAK)
        #expect(xml.contains(#"<EventID csd-code="110113""#))
        #expect(xml.contains(#"<EventOutcomeDescription>HL7: bad_msh, nak AE</EventOutcomeDescription>"#))
        #expect(xml.contains(#"<ActiveParticipant UserID="RIS" UserName="HOSP" UserIsRequestor="true" NetworkAccessPointID="10.1.2.3" NetworkAccessPointTypeCode="2">"#))
        #expect(!xml.contains("MSG0001"), "the control ID is not an audit field")
    }

    @Test("a refused PROXY header: Security Alert, Protocol Error, the connection's own peer as requestor, the reason as the alert's detail")
    func proxyRefused() throws {
        let xml = try self.xml("proxy.refused", SampleRecords.proxyRefused)
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
        let association = try self.xml("dicom.association", SampleRecords.secureAssociation)
        #expect(association.contains(#"<ActiveParticipant UserID="CT_SCANNER1" AlternativeUserID="AETITLES=CT_SCANNER1" UserName="\#(identity)" UserIsRequestor="true""#), "\(association)")
        let hl7 = try self.xml("hl7.rejected", SampleRecords.secureHL7NAK)
        #expect(hl7.contains(#"<ActiveParticipant UserID="RIS" UserName="\#(identity)" UserIsRequestor="true""#), "\(hl7)")
        #expect(hl7.contains("<EventOutcomeDescription>HL7-TLS: sender_not_allowed, nak AR; sending facility HOSP</EventOutcomeDescription>"), "\(hl7)")
        let refused = try self.xml("tls.connection", SampleRecords.refusedCertificate)
        #expect(refused.contains(#"<EventTypeCode csd-code="110126" codeSystemName="DCM" originalText="Node Authentication"/>"#))
        #expect(refused.contains(#"<ActiveParticipant UserID="O=Radiology,CN=ct1.hospital.example" AlternativeUserID="SHA256=87:2F:EC" UserName="\#(identity)" UserIsRequestor="true" NetworkAccessPointID="10.1.2.3""#), "\(refused)")
        let detail = Base64.encode(Array("certificate expired on 2020-01-02".utf8))
        #expect(refused.contains(#"<ParticipantObjectDetail type="Alert Description" value="\#(detail)"/>"#))
    }

    @Test("a TLS handshake failure: Node Authentication; a forwarded TLS connection gives no message")
    func tls() throws {
        let xml = try self.xml("tls.connection", SampleRecords.tlsFailed)
        #expect(xml.contains(#"<EventTypeCode csd-code="110126" codeSystemName="DCM" originalText="Node Authentication"/>"#))
        #expect(xml.contains("(SNI viewer.hospital.example)"))
        #expect(self.mapper.message(event: "tls.connection", line: SampleRecords.tlsForwarded) == nil)
    }

    @Test("admin login failure and success, logout: User Authentication with the outcome")
    func adminSessions() throws {
        let failed = try self.xml("admin.login", SampleRecords.loginFailed)
        #expect(failed.contains(#"<EventID csd-code="110114" codeSystemName="DCM" originalText="User Authentication"/>"#))
        #expect(failed.contains(#"<EventTypeCode csd-code="110122" codeSystemName="DCM" originalText="Login"/>"#))
        #expect(failed.contains(#"EventOutcomeIndicator="4""#))
        #expect(failed.contains(#"<ActiveParticipant UserID="(unknown user)" UserIsRequestor="true" NetworkAccessPointID="10.1.2.3" NetworkAccessPointTypeCode="2"/>"#))
        #expect(try self.xml("admin.login", SampleRecords.loginOK).contains(#"EventOutcomeIndicator="0""#))
        #expect(try self.xml("admin.logout", SampleRecords.logout).contains(#"csd-code="110123""#))
    }

    @Test("configuration changes: Network Configuration for a server, Software Configuration for a refused reload")
    func adminChanges() throws {
        let state = try self.xml("admin.change", SampleRecords.serverState)
        #expect(state.contains(#"csd-code="110128""#))
        #expect(state.contains("server.state DICOM/DICOM1: online → drain"))
        let reload = try self.xml("admin.change", SampleRecords.reloadRefused)
        #expect(reload.contains(#"csd-code="110131""#))
        #expect(reload.contains(#"EventOutcomeIndicator="4""#))
    }

    @Test("records with no audit meaning or missing fields give no message")
    func ignored() {
        #expect(self.mapper.message(event: "hl7.late_ack", line: #"{"time":"2026-11-25T22:22:00.000Z"}"#) == nil)
        #expect(self.mapper.message(event: "dicom.association", line: #"{"time":"x","event":"dicom.association"}"#) == nil)
        #expect(self.mapper.message(event: "admin.login", line: "not json") == nil)
    }

    @Test("hostile values are escaped: markup, quotes, line breaks and control bytes cannot break the XML")
    func escaping() async throws {
        let line = #"{"time":"2026-11-25T22:20:01.006Z","event":"dicom.association","service":"D\"I<C>O&M","client":"10.0.0.1:1","server":null,"calling_ae":"A\"<x/>&\n\u0001","called_ae":"B]]>","outcome":"rejected-by-gateway","reject":{"result":1,"source":1,"reason":3,"description":"</AuditMessage>"},"error":"e\u0000"}"#
        let xml = try self.xml("dicom.association", line)
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

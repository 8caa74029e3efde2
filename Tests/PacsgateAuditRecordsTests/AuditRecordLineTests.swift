import PacsgateAuditRecords
import PacsgateCore
import Testing

/// Each typed record writes exactly the line the gateway wrote before the types existed (keys, order, `null` versus
/// absent, numbers): the expected lines are the ones docs/dicom.md, docs/tls.md, docs/hl7.md and docs/admin.md show,
/// taken from runs. And each record carries its value as its payload.
@Suite("Audit record types write their lines")
struct AuditRecordLineTests {
    static func time(_ day: Int, _ hour: Int, _ minute: Int, _ second: Int, _ millisecond: Int, month: Int = 11) -> WallClock.Instant {
        WallClock.Instant(year: 2026, month: month, day: day, hour: hour, minute: minute, second: second, millisecond: millisecond)
    }

    static let server = AuditServer(ServerIdentity(label: "DICOM1", endpoint: Endpoint(host: "127.0.0.1", port: 31084)))
    static let verification = DICOMAssociationAudit.Context(
        id: 1, uid: "1.2.840.10008.1.1", name: "Verification SOP Class", accepted: true)

    static func request(_ calling: String, contexts: [DICOMAssociationAudit.Context]) -> DICOMAssociationAudit.Request {
        DICOMAssociationAudit.Request(
            callingAE: calling, calledAE: "MACH7", contexts: contexts,
            implementationClassUID: "1.2.276.0.7230010.3.0.3.6.7", implementationVersion: "OFFIS_DCMTK_367", maxPDU: 16384,
            userIdentity: nil)
    }

    @Test("dicom.association: released (docs/dicom.md)")
    func association() throws {
        let value = DICOMAssociationAudit(
            time: Self.time(25, 22, 13, 55, 412), service: "DICOM", client: "127.0.0.1:43868", server: Self.server,
            secureTransport: nil, request: Self.request("MODALITY1", contexts: [Self.verification]), acceptedContexts: 1,
            outcome: "released", reject: nil, abort: nil, error: nil, warnings: [], bytesUp: 301, bytesDown: 290,
            dataTransfersUp: 1, dataTransfersDown: 1, durationMilliseconds: 87, end: "closed by both sides")
        let record = value.auditRecord
        #expect(
            record.text
                == #"{"time":"2026-11-25T22:13:55.412Z","event":"dicom.association","service":"DICOM","client":"127.0.0.1:43868","server":{"label":"DICOM1","address":"127.0.0.1:31084"},"calling_ae":"MODALITY1","called_ae":"MACH7","contexts":[{"id":1,"uid":"1.2.840.10008.1.1","name":"Verification SOP Class","accepted":true}],"implementation_class_uid":"1.2.276.0.7230010.3.0.3.6.7","implementation_version":"OFFIS_DCMTK_367","max_pdu":16384,"accepted_contexts":1,"outcome":"released","reject":null,"bytes_up":301,"bytes_down":290,"pdata_pdus":2,"pdata_pdus_up":1,"pdata_pdus_down":1,"duration_ms":87,"end":"closed by both sides"}"#
        )
        #expect(record.event == .dicomAssociation)
        #expect(try #require(record.payload as? DICOMAssociationAudit) == value)
        #expect(record.searchFields.callingAE == "MODALITY1" && record.searchFields.server == "DICOM1")
    }

    @Test("dicom.association: rejected by the gateway, no server (docs/dicom.md)")
    func rejected() {
        var context = Self.verification
        context.accepted = nil
        let value = DICOMAssociationAudit(
            time: Self.time(25, 22, 20, 1, 6), service: "DICOM", client: "10.20.1.14:51022", server: nil,
            secureTransport: nil, request: Self.request("INTRUDER", contexts: [context]), acceptedContexts: nil,
            outcome: "rejected-by-gateway",
            reject: .init(result: 1, source: 1, reason: 3, description: "calling AE title not recognized"), abort: nil,
            error: "calling AE title not on calling_ae_allow", warnings: [], bytesUp: 211, bytesDown: 10,
            dataTransfersUp: 0, dataTransfersDown: 0, durationMilliseconds: 3, end: "calling AE title not on calling_ae_allow")
        #expect(
            value.auditRecord.text
                == #"{"time":"2026-11-25T22:20:01.006Z","event":"dicom.association","service":"DICOM","client":"10.20.1.14:51022","server":null,"calling_ae":"INTRUDER","called_ae":"MACH7","contexts":[{"id":1,"uid":"1.2.840.10008.1.1","name":"Verification SOP Class","accepted":null}],"implementation_class_uid":"1.2.276.0.7230010.3.0.3.6.7","implementation_version":"OFFIS_DCMTK_367","max_pdu":16384,"accepted_contexts":null,"outcome":"rejected-by-gateway","reject":{"result":1,"source":1,"reason":3,"description":"calling AE title not recognized"},"error":"calling AE title not on calling_ae_allow","bytes_up":211,"bytes_down":10,"pdata_pdus":0,"pdata_pdus_up":0,"pdata_pdus_down":0,"duration_ms":3,"end":"calling AE title not on calling_ae_allow"}"#
        )
    }

    @Test("dicom.association: no request, an abort, warnings, a user identity and TLS keep their places")
    func associationVariants() {
        let noRequest = DICOMAssociationAudit(
            time: Self.time(25, 22, 21, 1, 6), service: "DICOM", client: "[::1]:51022", server: nil, secureTransport: nil,
            request: nil, acceptedContexts: nil, outcome: "protocol-error", reject: nil,
            abort: .init(by: "gateway", source: 2, reason: 2, description: "unexpected PDU"),
            error: "PDU type 0x41 is not A-ASSOCIATE-RQ", warnings: ["calling AE title padded with NUL"], bytesUp: 6,
            bytesDown: 10, dataTransfersUp: 0, dataTransfersDown: 0, durationMilliseconds: 1, end: "protocol error")
        #expect(
            noRequest.auditRecord.text
                == #"{"time":"2026-11-25T22:21:01.006Z","event":"dicom.association","service":"DICOM","client":"[::1]:51022","server":null,"calling_ae":null,"called_ae":null,"contexts":null,"implementation_class_uid":null,"implementation_version":null,"max_pdu":null,"accepted_contexts":null,"outcome":"protocol-error","reject":null,"abort":{"by":"gateway","source":2,"reason":2,"description":"unexpected PDU"},"error":"PDU type 0x41 is not A-ASSOCIATE-RQ","warnings":["calling AE title padded with NUL"],"bytes_up":6,"bytes_down":10,"pdata_pdus":0,"pdata_pdus_up":0,"pdata_pdus_down":0,"duration_ms":1,"end":"protocol error"}"#
        )
        var request = Self.request("CT", contexts: [])
        request.userIdentity = .init(type: 1, username: "tech")
        request.implementationVersion = nil
        let secure = DICOMAssociationAudit(
            time: Self.time(25, 22, 13, 55, 412), service: "DICOM-TLS", client: "127.0.0.1:1", server: Self.server,
            secureTransport: SecureTransportFacts(version: "TLS1.3", cipher: nil, clientCertificate: nil), request: request,
            acceptedContexts: 0, outcome: "released", reject: nil, abort: nil, error: nil, warnings: [], bytesUp: 1,
            bytesDown: 2, dataTransfersUp: 0, dataTransfersDown: 0, durationMilliseconds: 5, end: "closed by both sides")
        #expect(
            secure.auditRecord.text
                == #"{"time":"2026-11-25T22:13:55.412Z","event":"dicom.association","service":"DICOM-TLS","client":"127.0.0.1:1","server":{"label":"DICOM1","address":"127.0.0.1:31084"},"tls":{"version":"TLS1.3","cipher":null},"client_certificate":null,"calling_ae":"CT","called_ae":"MACH7","contexts":[],"implementation_class_uid":"1.2.276.0.7230010.3.0.3.6.7","implementation_version":null,"max_pdu":16384,"user_identity":{"type":1,"username":"tech"},"accepted_contexts":0,"outcome":"released","reject":null,"bytes_up":1,"bytes_down":2,"pdata_pdus":0,"pdata_pdus_up":0,"pdata_pdus_down":0,"duration_ms":5,"end":"closed by both sides"}"#
        )
    }

    static let hl7Connection = HL7ConnectionAudit(
        service: "HL7", client: "10.0.0.5:40000",
        server: AuditServer(ServerIdentity(label: "HL71", endpoint: Endpoint(host: "10.0.0.9", port: 6667))),
        secureTransport: nil)
    static let summary = HL7MessageSummary(
        sendingApplication: "RIS", sendingFacility: "HOSP", receivingApplication: "PACS", receivingFacility: "MACH7",
        messageType: "ORM^O01^ORM_O01", controlID: "C1", version: "2.5.1")

    @Test("hl7.message: acknowledged and without an ACK (as HL7AuditRecordTests has them)")
    func hl7Message() throws {
        let noon = WallClock.Instant(millisecondsSinceEpoch: 1_735_732_800_000)
        let acked = HL7MessageAudit(
            time: noon, connection: Self.hl7Connection, summary: Self.summary, bytes: 160,
            acknowledgment: .received(code: "AA", milliseconds: 12))
        #expect(
            acked.auditRecord.text
                == #"{"time":"2025-01-01T12:00:00.000Z","event":"hl7.message","service":"HL7","client":"10.0.0.5:40000","server":{"label":"HL71","address":"10.0.0.9:6667"},"sending_app":"RIS","sending_facility":"HOSP","receiving_app":"PACS","receiving_facility":"MACH7","message_type":"ORM^O01^ORM_O01","control_id":"C1","version":"2.5.1","bytes":160,"ack_code":"AA","ack_ms":12}"#
        )
        #expect(try #require(acked.auditRecord.payload as? HL7MessageAudit) == acked)
        var missing = acked
        missing.acknowledgment = .missing("connection_closed")
        #expect(missing.auditRecord.text.hasSuffix(#""bytes":160,"ack_code":"none","ack_ms":null,"ack_missing":"connection_closed"}"#))
        #expect(missing.acknowledgment.code == "none")
    }

    @Test("hl7.rejected: MSH fields null when unreadable, present when read; TLS fields on a terminating service")
    func hl7Rejected() throws {
        var value = HL7RejectedAudit(
            time: WallClock.Instant(millisecondsSinceEpoch: 1_735_732_800_000), connection: Self.hl7Connection,
            reason: "not_msh", detail: "payload does not start with an MSH segment", offset: 7, bytes: 20, action: "nak",
            nakCode: "AE", summary: nil)
        #expect(
            value.auditRecord.text
                == #"{"time":"2025-01-01T12:00:00.000Z","event":"hl7.rejected","service":"HL7","client":"10.0.0.5:40000","server":{"label":"HL71","address":"10.0.0.9:6667"},"reason":"not_msh","detail":"payload does not start with an MSH segment","offset":7,"bytes":20,"action":"nak","nak_code":"AE","sending_app":null,"sending_facility":null,"receiving_app":null,"receiving_facility":null,"message_type":null,"control_id":null,"version":null}"#
        )
        value.summary = Self.summary
        value.nakCode = nil
        value.action = "close"
        value.connection.server = nil
        value.connection.secureTransport = SecureTransportFacts(version: "TLS1.3", cipher: "TLS_AES_256_GCM_SHA384", clientCertificate: nil)
        #expect(
            value.auditRecord.text
                == #"{"time":"2025-01-01T12:00:00.000Z","event":"hl7.rejected","service":"HL7","client":"10.0.0.5:40000","server":null,"tls":{"version":"TLS1.3","cipher":"TLS_AES_256_GCM_SHA384"},"client_certificate":null,"reason":"not_msh","detail":"payload does not start with an MSH segment","offset":7,"bytes":20,"action":"close","nak_code":null,"sending_app":"RIS","sending_facility":"HOSP","receiving_app":"PACS","receiving_facility":"MACH7","message_type":"ORM^O01^ORM_O01","control_id":"C1","version":"2.5.1"}"#
        )
        #expect(try #require(value.auditRecord.payload as? HL7RejectedAudit) == value)
    }

    @Test("hl7.late_ack: the message's MSH values, when it was received, the code and the delay")
    func lateAcknowledgment() {
        let value = HL7LateAcknowledgmentAudit(
            time: WallClock.Instant(millisecondsSinceEpoch: 1_735_732_805_000), connection: Self.hl7Connection,
            summary: Self.summary, received: WallClock.Instant(millisecondsSinceEpoch: 1_735_732_800_000), code: "AA",
            milliseconds: 5000)
        #expect(
            value.auditRecord.text
                == #"{"time":"2025-01-01T12:00:05.000Z","event":"hl7.late_ack","service":"HL7","client":"10.0.0.5:40000","server":{"label":"HL71","address":"10.0.0.9:6667"},"sending_app":"RIS","sending_facility":"HOSP","receiving_app":"PACS","receiving_facility":"MACH7","message_type":"ORM^O01^ORM_O01","control_id":"C1","version":"2.5.1","received":"2025-01-01T12:00:00.000Z","ack_code":"AA","ack_ms":5000}"#
        )
    }

    @Test("tls.connection of a TLS service, passthrough and terminating (docs/tls.md)")
    func tlsConnection() throws {
        let inspected = TLSConnectionAudit.Inspected(
            sni: "viewer.hospital.example", alpn: ["h2", "http/1.1"], tlsVersions: ["TLS1.3", "TLS1.2"], negotiated: nil,
            route: "viewer.hospital.example")
        var value = TLSConnectionAudit(
            time: Self.time(25, 22, 20, 44, 53), service: "HTTPS", client: "10.1.2.3:53264",
            server: AuditServer(ServerIdentity(label: "HTTPS1", endpoint: Endpoint(host: "192.168.110.150", port: 443))),
            mode: "passthrough", detail: .inspected(inspected), bytesUp: 2310, bytesDown: 48211,
            durationMilliseconds: 1834, outcome: "forwarded", refusal: nil, reason: "closed by both sides")
        #expect(
            value.auditRecord.text
                == #"{"time":"2026-11-25T22:20:44.053Z","event":"tls.connection","service":"HTTPS","client":"10.1.2.3:53264","server":{"label":"HTTPS1","address":"192.168.110.150:443"},"mode":"passthrough","sni":"viewer.hospital.example","alpn":["h2","http/1.1"],"tls_versions":["TLS1.3","TLS1.2"],"route":"viewer.hospital.example","bytes_up":2310,"bytes_down":48211,"duration_ms":1834,"outcome":"forwarded","refusal":null,"reason":"closed by both sides"}"#
        )
        #expect(try #require(value.auditRecord.payload as? TLSConnectionAudit) == value)
        var terminating = inspected
        terminating.sni = nil
        terminating.route = nil
        terminating.negotiated = .init(tlsVersion: "TLS1.3", alpn: nil, reencrypt: true)
        value.mode = "terminate"
        value.detail = .inspected(terminating)
        value.server = nil
        value.outcome = "rejected"
        value.refusal = "no_sni"
        #expect(
            value.auditRecord.text
                == #"{"time":"2026-11-25T22:20:44.053Z","event":"tls.connection","service":"HTTPS","client":"10.1.2.3:53264","server":null,"mode":"terminate","sni":null,"alpn":["h2","http/1.1"],"tls_versions":["TLS1.3","TLS1.2"],"tls_version":"TLS1.3","alpn_negotiated":null,"reencrypt":true,"route":null,"bytes_up":2310,"bytes_down":48211,"duration_ms":1834,"outcome":"rejected","refusal":"no_sni","reason":"closed by both sides"}"#
        )
    }

    @Test("tls.connection of a DICOM service with tls: a failed handshake with the client's certificate (docs/dicom.md)")
    func terminatedHandshake() {
        let certificate = PeerCertificate(
            subject: "O=Radiology,CN=ct-old.hospital.example", issuer: "CN=Hospital Test CA",
            subjectAlternativeNames: [SubjectAlternativeName(.dns, "ct-old.hospital.example")],
            sha256Fingerprint: "BB:01:23:9C:59:38:D0:75:88:3D:07:CA:9C:12:F2:15:42:99:2C:BD:DB:15:A2:6F:93:D5:DF:73:3F:01:75:B3",
            serialNumber: "1003", notValidAfter: WallClock.Instant(year: 2020, month: 1, day: 2, hour: 0, minute: 0, second: 0))
        let value = TLSConnectionAudit(
            time: Self.time(7, 6, 18, 26, 364, month: 12), service: "DICOM-TLS", client: "10.20.1.14:39116", server: nil,
            mode: "terminate", detail: .terminated(protocolName: "dicom", clientCertificate: certificate), bytesUp: 0,
            bytesDown: 0, durationMilliseconds: 13, outcome: "handshake_failed", refusal: "client_handshake_failed",
            reason: "certificate expired on 2020-01-02")
        #expect(
            value.auditRecord.text
                == #"{"time":"2026-12-07T06:18:26.364Z","event":"tls.connection","service":"DICOM-TLS","client":"10.20.1.14:39116","server":null,"mode":"terminate","protocol":"dicom","client_certificate":{"subject":"O=Radiology,CN=ct-old.hospital.example","san":["DNS:ct-old.hospital.example"],"sha256":"BB:01:23:9C:59:38:D0:75:88:3D:07:CA:9C:12:F2:15:42:99:2C:BD:DB:15:A2:6F:93:D5:DF:73:3F:01:75:B3","issuer":"CN=Hospital Test CA","serial":"1003","not_after":"2020-01-02T00:00:00.000Z"},"bytes_up":0,"bytes_down":0,"duration_ms":13,"outcome":"handshake_failed","refusal":"client_handshake_failed","reason":"certificate expired on 2020-01-02"}"#
        )
        #expect(value.clientCertificate == certificate)
        var without = value
        without.detail = .terminated(protocolName: "hl7", clientCertificate: nil)
        #expect(without.auditRecord.text.contains(#""mode":"terminate","protocol":"hl7","client_certificate":null,"bytes_up":0"#))
    }

    @Test("proxy.refused (the core's own type)")
    func proxyRefused() throws {
        let value = ProxyRefusedAudit(
            time: Self.time(25, 22, 22, 30, 0), service: "DICOM", client: "10.9.8.7:50212",
            reason: "a PROXY header from 10.9.8.7, which is not in accept_proxy", bytesReceived: 108)
        #expect(
            value.auditRecord.text
                == #"{"time":"2026-11-25T22:22:30.000Z","event":"proxy.refused","service":"DICOM","client":"10.9.8.7:50212","reason":"a PROXY header from 10.9.8.7, which is not in accept_proxy","bytes_received":108,"outcome":"refused"}"#
        )
        #expect(try #require(value.auditRecord.payload as? ProxyRefusedAudit) == value)
    }

    @Test("admin.login and admin.logout (docs/admin.md)")
    func adminSession() throws {
        let failed = AdminSessionAudit(
            time: Self.time(25, 22, 23, 0, 0), login: true, user: "(unknown user)", client: "10.1.2.3", result: "failed")
        #expect(
            failed.auditRecord.text
                == #"{"time":"2026-11-25T22:23:00.000Z","event":"admin.login","user":"(unknown user)","client":"10.1.2.3","result":"failed"}"#
        )
        let logout = AdminSessionAudit(time: Self.time(25, 22, 24, 1, 0), login: false, user: "alice", client: "10.1.2.3", result: "ok")
        #expect(
            logout.auditRecord.text
                == #"{"time":"2026-11-25T22:24:01.000Z","event":"admin.logout","user":"alice","client":"10.1.2.3","result":"ok"}"#
        )
        #expect(try #require(logout.auditRecord.payload as? AdminSessionAudit) == logout)
    }

    @Test("admin.change: a server's state and weight, a reload applied and refused, an edit refused (docs/admin.md)")
    func adminChange() throws {
        let time = Self.time(25, 22, 25, 0, 0)
        let prefix = #"{"time":"2026-11-25T22:25:00.000Z","event":"admin.change","#
        let state = AdminChangeAudit(
            time: time, user: "alice", what: "server.state",
            change: .server(service: "DICOM", server: "DICOM1", before: .text("online"), after: .text("drain")))
        #expect(state.auditRecord.text == prefix + #""user":"alice","what":"server.state","service":"DICOM","server":"DICOM1","before":"online","after":"drain"}"#)
        #expect(state.auditRecord.searchFields.server == "DICOM1")
        let weight = AdminChangeAudit(
            time: time, user: "token:ci", what: "server.weight",
            change: .server(service: "DICOM", server: "DICOM2", before: .number(100), after: .number(50)))
        #expect(weight.auditRecord.text == prefix + #""user":"token:ci","what":"server.weight","service":"DICOM","server":"DICOM2","before":100,"after":50}"#)
        let applied = AdminChangeAudit(
            time: time, user: "SIGHUP", what: "reload",
            change: .applied(
                before: "sha256:ab", after: "sha256:cd", added: [], removed: [], changed: ["DICOM", "HL7"], backup: nil,
                edit: nil))
        #expect(applied.auditRecord.text == prefix + #""user":"SIGHUP","what":"reload","before":"sha256:ab","after":"sha256:cd","result":"applied","added":[],"removed":[],"changed":["DICOM","HL7"],"backup":null}"#)
        let edited = AdminChangeAudit(
            time: time, user: "alice", what: "config.edit",
            change: .applied(
                before: "sha256:ab", after: "sha256:cd", added: [], removed: [], changed: ["DICOM"],
                backup: "/etc/pacsgate/pacsgate.yaml.1", edit: "DICOM: timeout 30 s → 60 s"))
        #expect(edited.auditRecord.text.hasSuffix(#""changed":["DICOM"],"backup":"/etc/pacsgate/pacsgate.yaml.1","edit":"DICOM: timeout 30 s → 60 s"}"#))
        let refused = AdminChangeAudit(
            time: time, user: "alice", what: "config.upload",
            change: .refused(edit: nil, before: "sha256:ab", after: "sha256:cd", error: "configuration refused: 2 problem(s)", problems: 2))
        #expect(refused.auditRecord.text == prefix + #""user":"alice","what":"config.upload","before":"sha256:ab","after":"sha256:cd","result":"refused","error":"configuration refused: 2 problem(s)","problems":2}"#)
        let editRefused = AdminChangeAudit(
            time: time, user: "alice", what: "config.edit",
            change: .refused(edit: "DICOM: port 104", before: "sha256:ab", after: nil, error: "refused", problems: 0))
        #expect(editRefused.auditRecord.text == prefix + #""user":"alice","what":"config.edit","edit":"DICOM: port 104","before":"sha256:ab","after":null,"result":"refused","error":"refused","problems":0}"#)
        #expect(try #require(refused.auditRecord.payload as? AdminChangeAudit) == refused)
        #expect(refused.result == "refused" && refused.error != nil && applied.result == "applied" && state.result == nil)
        #expect(weight.values.before == "100" && weight.values.after == "50" && editRefused.values.after == nil)
    }
}

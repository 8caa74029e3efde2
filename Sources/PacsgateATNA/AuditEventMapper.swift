import PacsgateAuditRecords
public import PacsgateCore

/// Builds the DICOM audit message (PS3.15 §A.5.3) for one gateway audit record — from its typed payload (the
/// record types of PacsgateAuditRecords, and the core's ``ProxyRefusedAudit``), only from the fields the record
/// carries; nothing is invented. Records that describe nothing a repository wants (an accepted TLS connection, a
/// late HL7 ACK) give `nil`.
///
/// | Record | Message |
/// |---|---|
/// | `dicom.association`, `rejected-by-gateway` | Security Alert, Use of Restricted Function, outcome 4 |
/// | `dicom.association`, `protocol-error` | Security Alert, Protocol Error (99PACSGATE), outcome 4 |
/// | `dicom.association`, other outcomes | Network Entry, Attach (0 when released, 4 otherwise) |
/// | `hl7.rejected` | Security Alert, Protocol Error, outcome 4 |
/// | `tls.connection`, `handshake_failed` / `rejected` | Security Alert, Node Authentication, outcome 4 |
/// | `admin.login` / `admin.logout` | User Authentication, Login / Logout (failed 4, throttled 8) |
/// | `admin.change` | Security Alert, Network or Software Configuration (refused/failed 4) |
///
/// A record carrying the client's TLS certificate (`client_certificate`) names it in the requesting participant's
/// `UserName` (`CN=… (SAN …; SHA-256 …)`).
public struct AuditEventMapper: Sendable {
    /// Who reports: the gateway (`AuditSourceID`, `AuditEnterpriseSiteID`, type 4 application server process).
    public var source: AuditSource
    /// The gateway's process ID, its `AlternativeUserID` as PS3.15 §A.5.2.2 suggests for processes.
    public var processID: String

    public init(sourceID: String, siteID: String?, processID: String) {
        self.source = AuditSource(id: sourceID, siteID: siteID, typeCodes: ["4"])
        self.processID = processID
    }

    /// The message for one record, from its typed payload (PacsgateAuditRecords' types, the core's
    /// ``ProxyRefusedAudit``); `nil` for a record whose payload has no message or that has no payload of these types.
    public func message(for record: AuditRecord) -> AuditMessage? {
        switch record.payload {
        case let association as DICOMAssociationAudit: self.association(association)
        case let rejected as HL7RejectedAudit: self.hl7Rejected(rejected)
        case let connection as TLSConnectionAudit: self.tlsConnection(connection)
        case let refused as ProxyRefusedAudit: self.proxyRefused(refused)
        case let session as AdminSessionAudit: self.adminSession(session)
        case let change as AdminChangeAudit: self.adminChange(change)
        default: nil
        }
    }

    /// Application Activity (§A.5.3.1): the gateway started or is stopping.
    public func applicationActivity(started: Bool, time: WallClock.Instant) -> AuditMessage {
        AuditMessage(
            event: EventIdentification(
                id: AuditCode.applicationActivity, types: [started ? AuditCode.applicationStart : AuditCode.applicationStop],
                time: time, outcome: .success),
            participants: [
                ActiveParticipant(
                    userID: self.source.id, alternativeUserID: self.processID, isRequestor: false,
                    roles: [AuditCode.application])
            ],
            source: self.source)
    }

    // MARK: records

    private var gateway: ActiveParticipant {
        ActiveParticipant(
            userID: self.source.id, alternativeUserID: self.processID, isRequestor: false, roles: [AuditCode.application])
    }

    private func association(_ record: DICOMAssociationAudit) -> AuditMessage? {
        let time = record.time
        let clientHost = Self.host(of: record.client)
        let callingAE = record.request?.callingAE
        let calling = ActiveParticipant(
            userID: callingAE ?? clientHost, alternativeUserID: callingAE.map { ActiveParticipant.aeTitles([$0]) },
            userName: record.secureTransport?.clientCertificate?.auditIdentity, isRequestor: true,
            roles: [AuditCode.sourceRole], networkAccessPoint: Self.accessPoint(clientHost))
        var participants = [calling]
        if let called = record.request?.calledAE {
            participants.append(
                ActiveParticipant(
                    userID: called, alternativeUserID: ActiveParticipant.aeTitles([called]), isRequestor: false,
                    roles: [AuditCode.destinationRole],
                    networkAccessPoint: record.server.map { Self.accessPoint(Self.host(of: $0.address)) }))
        }
        switch record.outcome {
        case "rejected-by-gateway", "protocol-error":
            let description = record.reject?.description ?? record.error ?? record.end
            return self.securityAlert(
                record.outcome == "protocol-error" ? AuditCode.protocolError : AuditCode.useOfRestrictedFunction,
                time: time, description: "\(record.service): \(record.outcome): \(description)",
                requestors: participants, subject: clientHost, alert: record.error ?? description)
        default:
            var description = "\(record.service): \(record.outcome)"
            if let server = record.server { description += " via \(server.label)" }
            description += "; \(record.end)"
            return AuditMessage(
                event: EventIdentification(
                    id: AuditCode.networkEntry, types: [AuditCode.attach], time: time,
                    outcome: record.outcome == "released" ? .success : .minorFailure, outcomeDescription: description),
                participants: participants, source: self.source)
        }
    }

    private func hl7Rejected(_ record: HL7RejectedAudit) -> AuditMessage? {
        let time = record.time
        let certificate = record.connection.secureTransport?.clientCertificate
        let sendingApp = record.summary?.sendingApplication
        let sendingFacility = record.summary?.sendingFacility
        let clientHost = Self.host(of: record.connection.client)
        var description = "\(record.connection.service): \(record.reason), \(record.action)"
        if let code = record.nakCode { description += " \(code)" }
        // With a client certificate, UserName names it; the sending facility (MSH-4) then goes here.
        if certificate != nil, let facility = sendingFacility, !facility.isEmpty {
            description += "; sending facility \(facility)"
        }
        let sender = ActiveParticipant(
            userID: sendingApp ?? clientHost, userName: certificate?.auditIdentity ?? sendingFacility,
            isRequestor: true, roles: [AuditCode.sourceRole], networkAccessPoint: Self.accessPoint(clientHost))
        return self.securityAlert(
            AuditCode.protocolError, time: time, description: description, requestors: [sender], subject: clientHost,
            alert: "\(record.reason): \(record.detail)")
    }

    /// A refused PROXY header: the header was not believed, so the requestor is the connection's own peer (the
    /// upstream proxy, or whoever sent a header it had no right to send).
    private func proxyRefused(_ record: ProxyRefusedAudit) -> AuditMessage? {
        let time = record.time
        let peerHost = Self.host(of: record.client)
        let peer = ActiveParticipant(
            userID: peerHost, isRequestor: true, roles: [AuditCode.sourceRole],
            networkAccessPoint: Self.accessPoint(peerHost))
        return self.securityAlert(
            AuditCode.protocolError, time: time, description: "\(record.service): PROXY header refused",
            requestors: [peer], subject: peerHost, alert: record.reason)
    }

    private func tlsConnection(_ record: TLSConnectionAudit) -> AuditMessage? {
        guard record.outcome == "handshake_failed" || record.outcome == "rejected" else { return nil }
        let time = record.time
        let clientHost = Self.host(of: record.client)
        let certificate = record.clientCertificate
        var description = "\(record.service): \(record.outcome)"
        if case .inspected(let inspected) = record.detail, let sni = inspected.sni { description += " (SNI \(sni))" }
        let client = ActiveParticipant(
            userID: certificate?.subject ?? clientHost,
            alternativeUserID: certificate.map { "SHA256=\($0.sha256Fingerprint)" },
            userName: certificate?.auditIdentity, isRequestor: true, roles: [AuditCode.sourceRole],
            networkAccessPoint: Self.accessPoint(clientHost))
        return self.securityAlert(
            AuditCode.nodeAuthentication, time: time, description: description, requestors: [client],
            subject: clientHost, alert: record.reason)
    }

    private func adminSession(_ record: AdminSessionAudit) -> AuditMessage? {
        let time = record.time
        let login = record.login
        let clientHost = Self.host(of: record.client)
        let outcome: EventIdentification.Outcome =
            switch record.result {
            case "ok": .success
            case "throttled": .seriousFailure
            default: .minorFailure
            }
        return AuditMessage(
            event: EventIdentification(
                id: AuditCode.userAuthentication, types: [login ? AuditCode.login : AuditCode.logout], time: time,
                outcome: outcome, outcomeDescription: "admin \(login ? "login" : "logout"): \(record.result)"),
            participants: [
                ActiveParticipant(
                    userID: record.user, isRequestor: true, networkAccessPoint: Self.accessPoint(clientHost)),
                ActiveParticipant(
                    userID: self.source.id, alternativeUserID: self.processID, isRequestor: false,
                    roles: [AuditCode.application]),
            ],
            source: self.source)
    }

    private func adminChange(_ record: AdminChangeAudit) -> AuditMessage? {
        let time = record.time
        let failed = record.result == "refused" || record.result == "failed" || record.error != nil
        let network = record.what.hasPrefix("server.")
        var description = record.what
        if let service = record.service { description += " \(service)" }
        if let server = record.server { description += "/\(server)" }
        if network, let after = record.values.after { description += ": \(record.values.before) → \(after)" }
        if let result = record.result { description += " (\(result))" }
        let subject = network ? "\(record.service ?? "-")/\(record.server ?? "-")" : self.source.id
        return self.securityAlert(
            network ? AuditCode.networkConfiguration : AuditCode.softwareConfiguration, time: time,
            outcome: failed ? .minorFailure : .success, description: description,
            requestors: [ActiveParticipant(userID: record.user, isRequestor: true)], subject: subject,
            alert: description)
    }

    // MARK: helpers

    /// A Security Alert (§A.5.3.11) of `type`: the `requestors`, then the gateway, and the alert subject `subject`
    /// (a node) with its Alert Description `alert`.
    private func securityAlert(
        _ type: CodedValue, time: WallClock.Instant, outcome: EventIdentification.Outcome = .minorFailure,
        description: String, requestors: [ActiveParticipant], subject: String, alert: String
    ) -> AuditMessage {
        AuditMessage(
            event: EventIdentification(
                id: AuditCode.securityAlert, types: [type], time: time, outcome: outcome,
                outcomeDescription: description),
            participants: requestors + [self.gateway], source: self.source,
            objects: [Self.alertSubject(node: subject, description: alert)])
    }

    /// The alert subject of a Security Alert (§A.5.3.11): a system object, Node ID, with an "Alert Description".
    private static func alertSubject(node: String, description: String) -> ParticipantObject {
        ParticipantObject(
            idType: AuditCode.nodeID, id: node, name: node, typeCode: .systemObject, role: 13,
            details: [ParticipantObject.Detail(type: "Alert Description", text: description)])
    }

    private static func accessPoint(_ host: String) -> ActiveParticipant.NetworkAccessPoint {
        Self.looksLikeIP(host) ? .ipAddress(host) : .machineName(host)
    }

    private static func looksLikeIP(_ host: String) -> Bool {
        !host.isEmpty && host.utf8.allSatisfy { byte in
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":")
                || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
        } && (host.contains(".") || host.contains(":"))
    }

    /// The host part of `ip:port`, `[v6]:port`, or a bare address.
    static func host(of address: String) -> String {
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<close])
        }
        let colons = address.filter { $0 == ":" }.count
        if colons == 1, let colon = address.firstIndex(of: ":") {
            return String(address[..<colon])
        }
        return address
    }
}

extension PeerCertificate {
    /// `CN=… (SAN DNS:…; SHA-256 AB:…)`: the requesting participant's `UserName`.
    fileprivate var auditIdentity: String {
        let names =
            self.subjectAlternativeNames.isEmpty
            ? "" : "SAN \(self.subjectAlternativeNames.map(\.description).joined(separator: ", ")); "
        return "\(self.subject) (\(names)SHA-256 \(self.sha256Fingerprint))"
    }
}

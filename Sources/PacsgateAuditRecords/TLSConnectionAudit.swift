public import PacsgateCore

/// A `tls.connection` record (docs/tls.md): one connection of a `protocol: tls` service (passthrough or
/// terminated), or a connection of a DICOM or HL7 service with `tls:` whose TLS failed (its other connections have
/// their protocol's records).
public struct TLSConnectionAudit: Sendable, Equatable {
    /// What the record says beyond the connection's ends and counts: a TLS service's ClientHello and route, or a
    /// terminating DICOM/HL7 service's protocol and client certificate.
    public enum Detail: Sendable, Equatable {
        /// A `protocol: tls` service.
        case inspected(Inspected)
        /// A DICOM or HL7 service with `tls:` (`mode` is `terminate`): its `protocol` and the certificate the client
        /// presented, if any.
        case terminated(protocolName: String, clientCertificate: PeerCertificate?)
    }

    /// What a `protocol: tls` service read and decided.
    public struct Inspected: Sendable, Equatable {
        /// The ClientHello's server name.
        public var sni: String?
        public var alpn: [String]
        /// The versions the client offered.
        public var tlsVersions: [String]
        /// Set on a terminating service: what was negotiated.
        public var negotiated: Negotiated?
        /// The route taken (`sni_routes` entry or default).
        public var route: String?

        public init(sni: String?, alpn: [String], tlsVersions: [String], negotiated: Negotiated?, route: String?) {
            self.sni = sni
            self.alpn = alpn
            self.tlsVersions = tlsVersions
            self.negotiated = negotiated
            self.route = route
        }
    }

    /// What a terminating `protocol: tls` service negotiated with the client.
    public struct Negotiated: Sendable, Equatable {
        public var tlsVersion: String?
        public var alpn: String?
        /// Whether the leg to the server is TLS again.
        public var reencrypt: Bool

        public init(tlsVersion: String?, alpn: String?, reencrypt: Bool) {
            self.tlsVersion = tlsVersion
            self.alpn = alpn
            self.reencrypt = reencrypt
        }
    }

    public var time: WallClock.Instant
    public var service: String
    /// `ip:port` of the client.
    public var client: String
    public var server: AuditServer?
    /// `passthrough` or `terminate`.
    public var mode: String
    public var detail: Detail
    public var bytesUp: Int
    public var bytesDown: Int
    public var durationMilliseconds: Int
    /// `forwarded`, `rejected`, `handshake_failed`, `unavailable`, …
    public var outcome: String
    /// The refusal's kind, when the gateway refused.
    public var refusal: String?
    /// Why it ended.
    public var reason: String

    public init(
        time: WallClock.Instant, service: String, client: String, server: AuditServer?, mode: String, detail: Detail,
        bytesUp: Int, bytesDown: Int, durationMilliseconds: Int, outcome: String, refusal: String?, reason: String
    ) {
        self.time = time
        self.service = service
        self.client = client
        self.server = server
        self.mode = mode
        self.detail = detail
        self.bytesUp = bytesUp
        self.bytesDown = bytesDown
        self.durationMilliseconds = durationMilliseconds
        self.outcome = outcome
        self.refusal = refusal
        self.reason = reason
    }

    /// The client's certificate, when the record names one.
    public var clientCertificate: PeerCertificate? {
        if case .terminated(_, let certificate) = self.detail { certificate } else { nil }
    }

    /// The record, keys in the documented order; this value is its payload.
    public var auditRecord: AuditRecord {
        var line: AuditRecord
        switch self.detail {
        case .inspected(let inspected):
            line = AuditRecord(event: .tlsConnection, time: self.time, capacity: 512)
            self.head(into: &line)
            line.field("sni", inspected.sni)
            line.field("alpn", inspected.alpn)
            line.field("tls_versions", inspected.tlsVersions)
            if let negotiated = inspected.negotiated {
                line.field("tls_version", negotiated.tlsVersion)
                line.field("alpn_negotiated", negotiated.alpn)
                line.field("reencrypt", negotiated.reencrypt)
            }
            line.field("route", inspected.route)
        case .terminated(let protocolName, let certificate):
            line = AuditRecord(event: .tlsConnection, time: self.time, capacity: 768)
            self.head(into: &line)
            line.field("protocol", protocolName)
            if let certificate {
                line.field("client_certificate", certificate.jsonObject)
            } else {
                line.nullField("client_certificate")
            }
        }
        line.field("bytes_up", self.bytesUp)
        line.field("bytes_down", self.bytesDown)
        line.field("duration_ms", self.durationMilliseconds)
        line.field("outcome", self.outcome)
        line.field("refusal", self.refusal)
        line.field("reason", self.reason)
        line.payload = self
        return line
    }

    private func head(into line: inout AuditRecord) {
        line.field("service", self.service)
        line.field("client", self.client)
        line.field("server", self.server)
        line.field("mode", self.mode)
    }
}

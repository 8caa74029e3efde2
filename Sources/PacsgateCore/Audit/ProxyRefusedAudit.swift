/// A `proxy.refused` record: a connection refused by a service's `accept_proxy` gate (a missing, malformed,
/// truncated or too slow PROXY header from an upstream, or a header from a source outside `accept_proxy`). The core's
/// own typed record; the protocol modules' are in PacsgateAuditRecords.
public struct ProxyRefusedAudit: Sendable, Equatable {
    public var time: WallClock.Instant
    public var service: String
    /// The connection's own peer (`ip:port`): the header was not believed.
    public var client: String
    public var reason: String
    /// Bytes received before the refusal.
    public var bytesReceived: Int

    public init(time: WallClock.Instant = WallClock.now(), service: String, client: String, reason: String, bytesReceived: Int) {
        self.time = time
        self.service = service
        self.client = client
        self.reason = reason
        self.bytesReceived = bytesReceived
    }

    /// The record; this value is its payload.
    public var auditRecord: AuditRecord {
        var record = AuditRecord(event: .proxyRefused, time: self.time)
        record.field("service", self.service)
        record.field("client", self.client)
        record.field("reason", self.reason)
        record.field("bytes_received", self.bytesReceived)
        record.field("outcome", "refused")
        record.payload = self
        return record
    }
}

package import NIOCore

/// `accept_proxy:` — what an engine does with the first bytes of a connection to a service that reads PROXY headers
/// from an upstream proxy, before anything else happens to it (limits, inspector, persistence, audit all wait for
/// the client address this decides).
///
/// From a source inside `accept_proxy` a v1 or v2 header is required: its source address becomes *the* client
/// address (a `LOCAL` or `UNKNOWN` header keeps the socket's). From any other source, a connection whose first bytes
/// are a PROXY signature is refused — a forged header must never be believed, nor passed on as data — and any other
/// connection is a plain client (DICOM, HL7 and TLS clients speak first, so their first bytes settle it). Pure over
/// the bytes received so far; the engine keeps them, calls ``examine(_:)`` after each read, and refuses the
/// connection when `peek_timeout` passes first (``timedOut(received:)``).
package struct ProxyHeaderGate: Sendable {
    /// What to do with the connection.
    package enum Verdict: Sendable, Equatable {
        /// Read on.
        case needMore
        /// A header from a trusted source, `length` bytes long (the bytes after it are the client's own): go on with
        /// `client` as the client address (`nil`: the socket's own, for `LOCAL` and `UNKNOWN`).
        case proxied(client: SocketAddress?, length: Int)
        /// Not a PROXY header, from a source outside `accept_proxy`: a plain client; all the bytes are its own.
        case plain
        /// Refuse and audit the connection, forwarding nothing (the reason is for the log and the audit record).
        case refuse(String)
    }

    /// The source is inside `accept_proxy`.
    package let trusted: Bool
    private let parser = ProxyHeaderParser()

    /// A gate for a connection from `source` to a service whose `accept_proxy` is `networks`.
    package init(source: SocketAddress?, networks: [ClientNetwork]) {
        self.trusted = source.map { source in networks.contains { $0.contains(source) } } ?? false
    }

    /// The verdict on the connection's first bytes.
    package func examine(_ bytes: ByteBuffer) -> Verdict {
        let view = bytes.readableBytesView
        guard !view.isEmpty else { return .needMore }
        guard self.trusted else {
            for signature in [ProxyHeaderParser.v2Signature, ProxyHeaderParser.v1Prefix] {
                let compared = min(view.count, signature.count)
                guard view.prefix(compared).elementsEqual(signature.prefix(compared)) else { continue }
                if compared < signature.count { return .needMore }
                return .refuse("a PROXY protocol header from a source outside accept_proxy")
            }
            return .plain
        }
        switch self.parser.parse(view) {
        case .needMore:
            return .needMore
        case .header(let header, let length):
            return .proxied(client: header.clientAddress?.socketAddress, length: length)
        case .invalid(let error):
            return .refuse("bad PROXY protocol header: \(error)")
        }
    }

    /// The client closed its side before a verdict: the reason to refuse the connection, or `nil` for a source
    /// outside `accept_proxy` that sent nothing (a plain client; its close is its own business).
    package func closedEarly(received: Int) -> String? {
        guard self.trusted || received > 0 else { return nil }
        return "the client closed before its PROXY protocol header was complete (\(received) bytes received)"
    }

    /// `peek_timeout` passed before a verdict: the reason to refuse the connection, or `nil` for a source outside
    /// `accept_proxy` that sent nothing (a plain client waiting for its server to speak first).
    package func timedOut(received: Int) -> String? {
        if self.trusted { return "no complete PROXY protocol header within peek_timeout (\(received) bytes received)" }
        return received > 0 ? "an incomplete PROXY protocol signature from a source outside accept_proxy" : nil
    }
}

extension ServiceRuntime {
    /// A connection refused by its ``ProxyHeaderGate``: counted as refused, logged at `warning`, and audited as a
    /// `proxy.refused` record (subject to `audit.refused_records` per client and interval, like every refusal).
    package func proxyHeaderRefused(client: SocketAddress?, reason: String, received: Int) {
        self.stats.refusedOne()
        let source = client?.logDescription ?? "?"
        self.logger.warning(
            "connection refused: \(reason)",
            metadata: ["service": "\(self.label)", "conn.client": "\(source)", "bytes": "\(received)"])
        if let client, !self.audit.admitRefusal(client: client, service: self.label, event: .proxyRefused) { return }
        self.audit.write(
            ProxyRefusedAudit(service: self.label, client: source, reason: reason, bytesReceived: received).auditRecord)
    }
}

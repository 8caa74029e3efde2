import NIOCore

/// Why the gateway did not forward a TLS connection. A small fixed set: it is the audit line's `refusal` code and
/// the key of the service's counters.
public enum TLSRefusalKind: String, Sendable, CaseIterable {
    /// The client sent a plaintext HTTP request to the TLS port.
    case plaintextHTTP = "plaintext_http"
    /// The first bytes are not a TLS handshake record (garbage, another protocol, SSLv2 framing).
    case notTLS = "not_tls"
    /// A TLS handshake record, but the ClientHello breaks the rules (a length overrun, duplicate extensions, …).
    case malformedHello = "malformed_hello"
    /// The ClientHello is larger than `max_hello_bytes`.
    case helloTooLarge = "hello_too_large"
    /// The server name matches no route and `unknown_sni: refuse` is set.
    case unknownServerName = "unknown_sni"
    /// The client went away or timed out before its ClientHello was complete.
    case incompleteHello = "incomplete_hello"
    /// Terminating: the client's TLS handshake with the gateway failed or did not finish.
    case clientHandshakeFailed = "client_handshake_failed"
    /// Terminating: the handshake finished but no request arrived within the peek timeout.
    case noRequest = "no_request"
    /// No server could take the connection (all down, halted, at their limit, or every connect failed).
    case unavailable

    /// The audit line's `outcome` for a connection refused for this reason.
    public var outcome: TLSOutcome {
        switch self {
        case .plaintextHTTP, .notTLS, .malformedHello, .helloTooLarge, .unknownServerName: return .rejected
        case .incompleteHello, .noRequest: return .incomplete
        case .clientHandshakeFailed: return .handshakeFailed
        case .unavailable: return .unavailable
        }
    }
}

/// How a TLS connection ended, the audit line's `outcome`.
public enum TLSOutcome: String, Sendable, CaseIterable {
    /// It reached a server.
    case forwarded
    /// The gateway refused what the client sent (not TLS, a malformed or oversized ClientHello, a refused name).
    case rejected
    /// The client went away or timed out before the gateway could decide.
    case incomplete
    /// Terminating: the client's TLS handshake with the gateway failed.
    case handshakeFailed = "handshake_failed"
    /// No server could take it (in terminate mode the client got the fallback page if it spoke HTTP).
    case unavailable
}

/// What the gateway sends a refused client before closing.
enum TLSRefusalAnswer: Equatable {
    /// Nothing: close.
    case none
    /// A fatal TLS alert record (plaintext; nothing was negotiated).
    case alert(TLSAlert)
    /// `400 Bad Request` in plaintext HTTP, to a client that sent HTTP to the TLS port.
    case plaintextBadRequest
    /// The `503` fallback page, inside the terminated TLS session.
    case fallbackPage
}

/// A decision to refuse a connection: the reason code, what to answer, and the words for the logs.
struct TLSRefusal: Equatable {
    var kind: TLSRefusalKind
    var answer: TLSRefusalAnswer
    /// One line for the connection log and the audit `reason`; never bytes of the peer beyond validated names.
    var reason: String
}

extension TLSParseError {
    /// The refusal for a ClientHello that failed to parse. `buffered` is what the client sent.
    func refusal(buffered: ByteBuffer) -> TLSRefusal {
        switch self.reason {
        case .notHandshakeRecord where self.offset == 0:
            if PlaintextHTTPDetector.looksLikeHTTPRequest(buffered) {
                return TLSRefusal(
                    kind: .plaintextHTTP,
                    answer: .plaintextBadRequest,
                    reason: "client sent a plaintext HTTP request to a TLS port"
                )
            }
            return TLSRefusal(kind: .notTLS, answer: self.alert.map { .alert($0) } ?? .none, reason: "not TLS: \(self)")
        case .sslv2Hello:
            return TLSRefusal(kind: .notTLS, answer: .none, reason: "not TLS: \(self)")
        case .clientHelloTooLarge, .recordTooLong:
            return TLSRefusal(
                kind: .helloTooLarge,
                answer: self.alert.map { .alert($0) } ?? .none,
                reason: "ClientHello too large: \(self)"
            )
        default:
            return TLSRefusal(
                kind: .malformedHello,
                answer: self.alert.map { .alert($0) } ?? .none,
                reason: "malformed ClientHello: \(self)"
            )
        }
    }
}

import PacsgateCore

/// The client's TLS handshake on a terminating `dicom` or `hl7` service, without I/O: what is known about the session,
/// when the inner inspector may take over, and whether the termination must write the audit record itself.
///
/// ```
/// awaitingClient ──first byte──▶ handshaking ──handshake completed──▶ established (the inner inspector owns the rest)
///        │                           │
///        └──────────────┬────────────┘ error, timeout, close
///                       ▼
///                    failed / abandoned (audited here as tls.connection, nothing forwarded)
/// awaitingClient ──maxconn──▶ refused (audited as unavailable)
/// ```
struct ClientHandshakeStateMachine {
    enum State: Equatable {
        /// Connected; nothing received yet.
        case awaitingClient
        /// The client spoke; no session yet.
        case handshaking
        /// The session is up and was handed to the inner inspector.
        case established(SecureTransportFacts)
        /// The handshake failed; `reason` in operator words.
        case failed(reason: String)
        /// The gateway refused the connection before its handshake (the service at `maxconn`).
        case refused(reason: String)
    }

    private(set) var state = State.awaitingClient
    /// The certificate the client presented (verified or not), for the record.
    private(set) var presentedCertificate: PeerCertificate?
    /// Why the verifier refused the client's certificate (more precise than the TLS library's error).
    private var verificationRefusal: String?
    /// The negotiated cipher suite, read from the gateway's ServerHello.
    private var cipher: String?

    /// Client bytes arrived (raw TLS records).
    mutating func clientSpoke() {
        if case .awaitingClient = self.state { self.state = .handshaking }
    }

    /// The gateway's ServerHello named the cipher suite.
    mutating func cipherChosen(_ name: String) {
        self.cipher = name
    }

    /// The verifier decided about the client's certificate.
    mutating func certificateVerified(_ outcome: ClientCertificateVerifier.Outcome) {
        switch outcome {
        case .trusted(let certificate):
            self.presentedCertificate = certificate
        case .refused(let reason, let certificate):
            self.presentedCertificate = certificate
            self.verificationRefusal = reason
        }
    }

    /// The core refused the connection before any handshake (`maxconn`, the client's connection limit).
    mutating func refusedBeforeHandshake(_ reason: String) {
        if case .awaitingClient = self.state { self.state = .refused(reason: reason) }
        if case .handshaking = self.state { self.state = .refused(reason: reason) }
    }

    /// The handshake completed: the facts to hand to the inner inspector (once).
    mutating func handshakeCompleted(version: String) -> SecureTransportFacts? {
        switch self.state {
        case .awaitingClient, .handshaking:
            let facts = SecureTransportFacts(
                version: version,
                cipher: self.cipher,
                clientCertificate: self.presentedCertificate
            )
            self.state = .established(facts)
            return facts
        case .established, .failed, .refused:
            return nil
        }
    }

    /// The TLS library reported a handshake error (`description` in operator words).
    mutating func handshakeFailed(_ description: String) {
        switch self.state {
        case .awaitingClient, .handshaking:
            self.state = .failed(reason: self.verificationRefusal ?? Self.reword(description))
        case .established, .failed, .refused:
            break
        }
    }

    /// The facts of the established session.
    var facts: SecureTransportFacts? {
        if case .established(let facts) = self.state { return facts }
        return nil
    }

    /// What to do when the core's peek phase ends without a verdict.
    enum PeekFailureDecision: Equatable {
        /// The session is up: the inner inspector decides.
        case delegate
        /// Close without an answer (there is no session to answer in).
        case close(reason: String)
    }

    mutating func peekFailed(_ failure: PeekFailure) -> PeekFailureDecision {
        switch self.state {
        case .established:
            return .delegate
        case .failed(let reason), .refused(let reason):
            return .close(reason: reason)
        case .awaitingClient, .handshaking:
            let reason = failure.duringClientHandshake
            if case .handshaking = self.state { self.state = .failed(reason: reason) }
            return .close(reason: reason)
        }
    }

    /// The record the termination writes when the connection ends: `nil` when the inner inspector owns the
    /// connection, or when the client never sent a byte (a TCP check, a port scan: no record, as on a plain service);
    /// a connection the gateway refused at `maxconn` is recorded (`unavailable`) whether or not it spoke.
    var failureRecord: (outcome: TLSOutcome, reason: String)? {
        switch self.state {
        case .established, .awaitingClient: return nil
        case .failed(let reason): return (.handshakeFailed, reason)
        case .refused(let reason): return (.unavailable, reason)
        case .handshaking: return (.incomplete, "connection ended during the TLS handshake")
        }
    }

    /// Friendlier words for BoringSSL's reasons a refused client sees most.
    static func reword(_ description: String) -> String {
        if description.contains("peer did not return a certificate") {
            return "no client certificate (client_auth: required)"
        }
        if description.contains("unsupported protocol") {
            return "TLS version refused: the client offered neither TLS 1.2 nor TLS 1.3 (unsupported protocol)"
        }
        return description
    }
}

extension PeekFailure {
    /// Why a terminating service gave up on a client's TLS handshake (the peek timeout and size cap bound it).
    var duringClientHandshake: String {
        switch self {
        case .timeout: "TLS handshake not finished within the peek timeout"
        case .clientClosed: "client closed the connection during the TLS handshake"
        case .tooLarge(let size): "\(size) bytes without a finished TLS handshake"
        }
    }
}

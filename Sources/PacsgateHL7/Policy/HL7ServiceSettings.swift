public import PacsgateCore

/// The HL7 keys of one service, read from its configuration mapping.
///
/// ```yaml
/// - label: HL7
///   protocol: hl7
///   max_message_bytes: 4MiB   # largest payload between start and end block
///   on_invalid: nak           # nak | close
///   ack_timeout: 60s          # after this, an unacknowledged message is audited with ack_code none
///   sender_allow:             # MSH-3/MSH-4 allowed to send (absent: every sender)
///     - { sending_app: RIS, sending_facility: HOSP, certificate: { san: ris.hospital.example } }
/// ```
public struct HL7ServiceSettings: Sendable, Equatable {
    /// What to do with input that is not a valid MLLP frame carrying a readable MSH.
    public enum InvalidInputPolicy: String, Sendable, CaseIterable {
        /// Answer with a framed NAK (AR for framing, AE for a bad MSH), drop the message, keep the connection.
        case nak
        /// Close the connection.
        case close
    }

    /// Accepted range of `max_message_bytes`.
    public static let messageBytesRange = 1024...(1 << 30)

    /// Longest `ack_timeout` accepted: 7 days.
    public static let maximumAckTimeoutSeconds: Int64 = 7 * 86_400

    /// Largest payload accepted (`max_message_bytes`, default 4 MiB).
    public var maximumMessageBytes: Int
    /// `on_invalid` (default `nak`).
    public var onInvalid: InvalidInputPolicy
    /// `ack_timeout` (default 60 s): how long a forwarded message waits for the server's ACK before its audit
    /// record is written with `ack_code: none`. The gateway never resends anything.
    public var ackTimeout: Duration
    /// `sender_allow` (``HL7SenderPolicy``); `nil` lets every sender through.
    public var senders: HL7SenderPolicy?

    /// Creates settings; the defaults are those of a service that sets no HL7 keys.
    public init(
        maximumMessageBytes: Int = MLLPFrameScanner.defaultMaximumMessageBytes,
        onInvalid: InvalidInputPolicy = .nak,
        ackTimeout: Duration = .seconds(60),
        senders: HL7SenderPolicy? = nil
    ) {
        self.maximumMessageBytes = maximumMessageBytes
        self.onInvalid = onInvalid
        self.ackTimeout = ackTimeout
        self.senders = senders
    }

    /// Reads `max_message_bytes`, `on_invalid`, `ack_timeout` and `sender_allow`; problems (with line numbers) go
    /// into `reader`.
    ///
    /// - Parameter clientCertificates: whether the service's clients can present a verified certificate (`tls:` with
    ///   client authentication), which `certificate:` entries of `sender_allow` need; `nil` when unknown.
    public init(_ reader: inout MappingReader, clientCertificates: Bool? = false) {
        self.init()
        if let node = reader.node("sender_allow") {
            self.senders = HL7SenderPolicy.read(
                node,
                context: reader.context,
                clientCertificates: clientCertificates,
                &reader
            )
        }
        if let bytes = reader.byteSize("max_message_bytes", in: Self.messageBytesRange) {
            self.maximumMessageBytes = bytes
        }
        if let policy = reader.choice("on_invalid", InvalidInputPolicy.self) {
            self.onInvalid = policy
        }
        if let timeout = reader.duration("ack_timeout") {
            if timeout > .zero, timeout <= .seconds(Self.maximumAckTimeoutSeconds) {
                self.ackTimeout = timeout
            } else {
                reader.problem(
                    reader.entryLine("ack_timeout") ?? reader.line,
                    "\(reader.context): 'ack_timeout' must be longer than zero and at most 7d"
                )
            }
        }
    }
}

public import PacsgateCore

/// The HL7 keys of one service, read from its configuration mapping.
///
/// ```yaml
/// - label: HL7
///   protocol: hl7
///   max_message_bytes: 4MiB   # largest payload between start and end block
///   on_invalid: nak           # nak | close
///   ack_timeout: 60s          # after this, an unacknowledged message is audited with ack_code none
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

    /// Creates settings; the defaults are those of a service that sets no HL7 keys.
    public init(
        maximumMessageBytes: Int = MLLPFrameScanner.defaultMaximumMessageBytes,
        onInvalid: InvalidInputPolicy = .nak,
        ackTimeout: Duration = .seconds(60)
    ) {
        self.maximumMessageBytes = maximumMessageBytes
        self.onInvalid = onInvalid
        self.ackTimeout = ackTimeout
    }

    /// Reads `max_message_bytes`, `on_invalid` and `ack_timeout`; problems (with line numbers) go into `reader`.
    public init(_ reader: inout MappingReader) {
        self.init()
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

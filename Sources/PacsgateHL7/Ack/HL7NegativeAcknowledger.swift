import NIOConcurrencyHelpers
import NIOCore
package import PacsgateCore

/// Builds the gateway's own negative acknowledgments on one connection, numbering their MSH-10.
///
/// Control IDs are `PG` + a per-connection tag + `-` + a counter (`PG3FA9C2D1-1`), at most 20 characters
/// for a tag of 8 and fewer than 10⁹ NAKs, so they fit MSH-10 of every v2.x version and do not repeat across
/// connections or restarts (the default tag is random).
package struct HL7NegativeAcknowledger {
    private let connectionTag: @Sendable () -> String
    /// `PG` + the tag + `-`, made at the first NAK: most connections never send one.
    private var prefix: String?
    private var sent = 0

    /// - Parameter connectionTag: distinguishes this connection's control IDs from every other's; asked for at the
    ///   first NAK.
    init(connectionTag: @escaping @Sendable () -> String) {
        self.connectionTag = connectionTag
    }

    /// An 8-hex-digit tag unique to each connection of this process: a random starting point drawn once, stepped by
    /// an odd constant (a permutation of the 32-bit values), so tags do not repeat within 2³² connections and differ
    /// from one run to the next. Drawing a fresh random number per connection cost a `getrandom` system call each.
    static func randomTag() -> String {
        let step = Self.tagSequence.withLockedValue { sequence -> UInt32 in
            defer { sequence &+= 1 }
            return sequence
        }
        let text = String(Self.tagSeed &+ step &* 0x9E37_79B9, radix: 16, uppercase: true)
        return String(repeating: "0", count: 8 - text.count) + text
    }

    private static let tagSeed = UInt32.random(in: .min ... .max)
    private static let tagSequence = NIOLockedValueBox<UInt32>(0)

    /// MSH-7 of generated messages: UTC with an explicit `+0000`, so receivers do not assume their local zone.
    package static func timestamp(_ time: WallClock.Instant) -> HL7Timestamp {
        HL7Timestamp(unixSeconds: time.millisecondsSinceEpoch / 1000, utcOffsetMinutes: 0)
    }

    /// A framed NAK of the message whose MSH is `header`, or of unreadable input when `header` is `nil`.
    ///
    /// - Returns: the frame and the MSA-1 code it carries (commit codes when the message asked for them).
    mutating func make(
        replyingTo header: HL7MessageHeader?,
        outcome: HL7AckBuilder.Outcome,
        error: HL7AckBuilder.ErrorDetail,
        at time: WallClock.Instant
    ) -> (bytes: ByteBuffer, code: HL7AcknowledgmentCode) {
        self.sent += 1
        let prefix = self.prefix ?? "PG" + self.connectionTag() + "-"
        self.prefix = prefix
        let controlID = prefix + String(self.sent)
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        let code: HL7AcknowledgmentCode
        if let header {
            code = HL7AckBuilder.code(for: outcome, replyingTo: header)
            HL7AckBuilder.writeAcknowledgment(
                replyingTo: header,
                code: code,
                error: error,
                controlID: controlID,
                timestamp: Self.timestamp(time),
                into: &buffer
            )
        } else {
            switch outcome {
            case .accepted: code = .applicationAccept
            case .error: code = .applicationError
            case .rejected: code = .applicationReject
            }
            HL7AckBuilder.writeAcknowledgmentOfUnreadableMessage(
                code: code,
                error: error,
                controlID: controlID,
                timestamp: Self.timestamp(time),
                into: &buffer
            )
        }
        return (buffer, code)
    }
}

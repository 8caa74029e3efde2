public import NIOCore

/// Correlates a connection's acknowledgments with the messages they acknowledge, by MSA-2 = MSH-10 and
/// never by position, so a late ACK is never attributed to the next message.
///
/// Register each message when it is forwarded, feed each parsed ACK's MSA-2 to ``match(controlID:at:)``,
/// and drain ``popExpired(sentBefore:)`` from the ACK-timeout timer. The table is bounded: registering
/// beyond ``maximumOutstanding`` evicts (and reports) the oldest message. Messages that expired or were
/// evicted are remembered (same bound) so that their ACK, if it still comes, is reported as late rather
/// than unmatched. The matcher never retries anything.
///
/// Lookups are linear: an HL7 sender normally has one message in flight per connection, and ACKs arrive
/// in order, so the match is almost always the first entry.
public struct AckMatcher<Context: Sendable>: Sendable {
    /// A registered message.
    public struct Pending: Sendable {
        /// MSH-10 in wire form.
        public let controlID: String
        /// Whatever the caller needs to log or audit the outcome (e.g. message type, sender).
        public let context: Context
        /// When the message was forwarded.
        public let sentAt: NIODeadline
    }

    /// A registration that pushed another message out of the table.
    public enum Displacement: Sendable {
        /// The table was full; the oldest message was dropped without an ACK.
        case evictedOldest(Pending)
        /// A message with the same control ID was still outstanding and is replaced (the sender reused or
        /// resent MSH-10); an ACK for the ID now matches the newer message.
        case replacedDuplicate(Pending)
    }

    /// The outcome of one ACK.
    public enum Match: Sendable {
        /// The ACK matches an outstanding message, which is removed.
        case matched(Pending, latency: TimeAmount)
        /// The ACK is for a message that already expired or was evicted.
        case late(Pending, latency: TimeAmount)
        /// No outstanding or recently retired message has this control ID.
        case unmatched
    }

    /// Most messages tracked at once (and most retired messages remembered).
    public let maximumOutstanding: Int
    private var outstanding: CircularBuffer<Pending>
    private var retired: CircularBuffer<Pending>

    /// Creates an empty matcher.
    ///
    /// - Parameter maximumOutstanding: bound on outstanding messages; at least 1.
    public init(maximumOutstanding: Int = 256) {
        precondition(maximumOutstanding >= 1, "maximumOutstanding must be at least 1")
        self.maximumOutstanding = maximumOutstanding
        // One message in flight is the usual case (every connect-per-message connection makes a matcher): start
        // with room for two and let a pipelining sender's table grow. Sixteen slots of `Pending` cost more to set
        // up than the rest of the matcher's work on such a connection.
        self.outstanding = CircularBuffer(initialCapacity: min(maximumOutstanding, 2))
        self.retired = CircularBuffer(initialCapacity: min(maximumOutstanding, 2))
    }

    /// Number of messages awaiting an ACK.
    public var outstandingCount: Int { self.outstanding.count }

    /// When the oldest outstanding message was sent, to schedule the ACK-timeout timer.
    public var oldestSentAt: NIODeadline? { self.outstanding.first?.sentAt }

    /// Starts tracking a forwarded message.
    ///
    /// - Returns: the message this registration displaced, if any (log it: it will never be matched).
    public mutating func register(controlID: String, context: Context, sentAt: NIODeadline) -> Displacement? {
        let pending = Pending(controlID: controlID, context: context, sentAt: sentAt)
        if let index = self.outstanding.firstIndex(where: { $0.controlID == controlID }) {
            let replaced = self.outstanding.remove(at: index)
            self.retire(replaced)
            self.outstanding.append(pending)
            return .replacedDuplicate(replaced)
        }
        var displacement: Displacement? = nil
        if self.outstanding.count >= self.maximumOutstanding, let oldest = self.outstanding.popFirst() {
            self.retire(oldest)
            displacement = .evictedOldest(oldest)
        }
        self.outstanding.append(pending)
        return displacement
    }

    /// Matches an ACK's MSA-2 against the outstanding messages.
    ///
    /// - Parameters:
    ///   - controlID: MSA-2 in wire form.
    ///   - now: when the ACK arrived; latency is `now - sentAt` (zero if `now` is earlier).
    public mutating func match(controlID: String, at now: NIODeadline) -> Match {
        if let index = self.outstanding.firstIndex(where: { $0.controlID == controlID }) {
            let pending = self.outstanding.remove(at: index)
            return .matched(pending, latency: Self.latency(from: pending.sentAt, to: now))
        }
        if let index = self.retired.lastIndex(where: { $0.controlID == controlID }) {
            let pending = self.retired.remove(at: index)
            return .late(pending, latency: Self.latency(from: pending.sentAt, to: now))
        }
        return .unmatched
    }

    /// Removes and returns the oldest outstanding message if it was sent before `cutoff` (i.e. its ACK
    /// timed out). Call repeatedly until `nil`. An ACK arriving for it later is reported as late.
    ///
    /// Registration order is taken as send order, so register with a monotonic clock.
    public mutating func popExpired(sentBefore cutoff: NIODeadline) -> Pending? {
        guard let oldest = self.outstanding.first, oldest.sentAt < cutoff else { return nil }
        self.outstanding.removeFirst()
        self.retire(oldest)
        return oldest
    }

    private mutating func retire(_ pending: Pending) {
        if self.retired.count >= self.maximumOutstanding { self.retired.removeFirst() }
        self.retired.append(pending)
    }

    private static func latency(from sentAt: NIODeadline, to now: NIODeadline) -> TimeAmount {
        now > sentAt ? now - sentAt : .zero
    }
}

extension AckMatcher.Pending: Equatable where Context: Equatable {}
extension AckMatcher.Displacement: Equatable where Context: Equatable {}
extension AckMatcher.Match: Equatable where Context: Equatable {}

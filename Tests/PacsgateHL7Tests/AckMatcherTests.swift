import NIOCore
import PacsgateHL7
import Testing

@Suite("AckMatcher")
struct AckMatcherTests {
    typealias Matcher = AckMatcher<String>

    static func at(_ milliseconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(milliseconds) * 1_000_000) }

    static func pending(_ id: String, _ context: String, _ sentAtMilliseconds: Int64) -> Matcher.Pending {
        var matcher = Matcher()
        _ = matcher.register(controlID: id, context: context, sentAt: Self.at(sentAtMilliseconds))
        guard case .matched(let pending, _) = matcher.match(controlID: id, at: Self.at(sentAtMilliseconds)) else {
            Issue.record("could not build a pending entry")
            return Self.pending(id, context, sentAtMilliseconds)
        }
        return pending
    }

    @Test("ACKs are matched by control ID, not by position, with latency")
    func outOfOrder() {
        var matcher = Matcher()
        #expect(matcher.register(controlID: "A", context: "first", sentAt: Self.at(100)) == nil)
        #expect(matcher.register(controlID: "B", context: "second", sentAt: Self.at(200)) == nil)
        #expect(matcher.outstandingCount == 2)
        #expect(matcher.oldestSentAt == Self.at(100))
        #expect(
            matcher.match(controlID: "B", at: Self.at(250))
                == .matched(Self.pending("B", "second", 200), latency: .milliseconds(50))
        )
        #expect(
            matcher.match(controlID: "A", at: Self.at(300))
                == .matched(Self.pending("A", "first", 100), latency: .milliseconds(200))
        )
        #expect(matcher.outstandingCount == 0)
        #expect(matcher.oldestSentAt == nil)
    }

    @Test("an unknown or repeated ACK is unmatched")
    func unmatched() {
        var matcher = Matcher()
        #expect(matcher.match(controlID: "X", at: Self.at(1)) == .unmatched)
        _ = matcher.register(controlID: "A", context: "a", sentAt: Self.at(1))
        #expect(matcher.match(controlID: "a", at: Self.at(2)) == .unmatched)  // control IDs are case-sensitive
        #expect(matcher.match(controlID: "A", at: Self.at(2)) != .unmatched)
        #expect(matcher.match(controlID: "A", at: Self.at(3)) == .unmatched)
    }

    @Test("an ACK after the timeout is late and is never given to the next message")
    func lateAck() {
        var matcher = Matcher()
        _ = matcher.register(controlID: "A", context: "a", sentAt: Self.at(0))
        _ = matcher.register(controlID: "B", context: "b", sentAt: Self.at(4000))
        #expect(matcher.popExpired(sentBefore: Self.at(3000)) == Self.pending("A", "a", 0))
        #expect(matcher.popExpired(sentBefore: Self.at(3000)) == nil)
        #expect(matcher.outstandingCount == 1)
        #expect(
            matcher.match(controlID: "A", at: Self.at(5000)) == .late(Self.pending("A", "a", 0), latency: .seconds(5))
        )
        #expect(matcher.match(controlID: "A", at: Self.at(5001)) == .unmatched)
        #expect(
            matcher.match(controlID: "B", at: Self.at(5002))
                == .matched(Self.pending("B", "b", 4000), latency: .milliseconds(1002))
        )
    }

    @Test("expiry pops in send order and stops at the first message still in time")
    func expiryOrder() {
        var matcher = Matcher()
        for (index, id) in ["A", "B", "C"].enumerated() {
            _ = matcher.register(controlID: id, context: id, sentAt: Self.at(Int64(index) * 10))
        }
        var expired: [String] = []
        while let pending = matcher.popExpired(sentBefore: Self.at(15)) { expired.append(pending.controlID) }
        #expect(expired == ["A", "B"])
        #expect(matcher.outstandingCount == 1)
    }

    @Test("bounded: the oldest message is evicted and reported; its ACK is then late")
    func eviction() {
        var matcher = Matcher(maximumOutstanding: 2)
        _ = matcher.register(controlID: "A", context: "a", sentAt: Self.at(1))
        _ = matcher.register(controlID: "B", context: "b", sentAt: Self.at(2))
        #expect(
            matcher.register(controlID: "C", context: "c", sentAt: Self.at(3))
                == .evictedOldest(Self.pending("A", "a", 1))
        )
        #expect(matcher.outstandingCount == 2)
        #expect(
            matcher.match(controlID: "A", at: Self.at(10))
                == .late(Self.pending("A", "a", 1), latency: .milliseconds(9))
        )
    }

    @Test("retired messages are remembered within the same bound")
    func retiredBound() {
        var matcher = Matcher(maximumOutstanding: 1)
        _ = matcher.register(controlID: "A", context: "a", sentAt: Self.at(1))
        _ = matcher.register(controlID: "B", context: "b", sentAt: Self.at(2))  // evicts A
        _ = matcher.register(controlID: "C", context: "c", sentAt: Self.at(3))  // evicts B, forgets A
        #expect(matcher.match(controlID: "A", at: Self.at(4)) == .unmatched)
        #expect(
            matcher.match(controlID: "B", at: Self.at(4)) == .late(Self.pending("B", "b", 2), latency: .milliseconds(2))
        )
    }

    @Test("a reused control ID replaces the outstanding message and is reported")
    func duplicate() {
        var matcher = Matcher()
        _ = matcher.register(controlID: "A", context: "original", sentAt: Self.at(1))
        #expect(
            matcher.register(controlID: "A", context: "resent", sentAt: Self.at(5))
                == .replacedDuplicate(Self.pending("A", "original", 1))
        )
        #expect(matcher.outstandingCount == 1)
        #expect(
            matcher.match(controlID: "A", at: Self.at(6))
                == .matched(Self.pending("A", "resent", 5), latency: .milliseconds(1))
        )
        #expect(
            matcher.match(controlID: "A", at: Self.at(7))
                == .late(Self.pending("A", "original", 1), latency: .milliseconds(6))
        )
    }

    @Test("a clock that goes backwards yields zero latency, not a trap")
    func backwardsClock() {
        var matcher = Matcher()
        _ = matcher.register(controlID: "A", context: "a", sentAt: Self.at(100))
        #expect(matcher.match(controlID: "A", at: Self.at(50)) == .matched(Self.pending("A", "a", 100), latency: .zero))
    }

    @Test("real peers: python-hl7's ACKs match the messages mllp_send sent")
    func capturedConversation() throws {
        var requestScanner = MLLPFrameScanner()
        var replyScanner = MLLPFrameScanner()
        let requests = MLLPFrameScanner.frames(
            in: requestScanner.events(from: try Fixture.load("captured", "mllp_send-to-receiver.bin"), pieceSize: 5)
        )
        let replies = MLLPFrameScanner.frames(
            in: replyScanner.events(from: try Fixture.load("captured", "receiver-to-mllp_send.bin"), pieceSize: 5)
        )
        var matcher = AckMatcher<String>(maximumOutstanding: 8)
        for (index, frame) in requests.enumerated() {
            let header = try MSHParser.parse(frame.payload)
            #expect(
                matcher.register(
                    controlID: header.controlID,
                    context: header.messageType,
                    sentAt: Self.at(Int64(index))
                ) == nil
            )
        }
        var matchedTypes: [String] = []
        for frame in replies.reversed() {
            let ack = try MSAParser.parse(frame.payload)
            guard case .matched(let pending, _) = matcher.match(controlID: ack.acknowledgedControlID, at: Self.at(10))
            else {
                Issue.record("unmatched \(ack)")
                continue
            }
            matchedTypes.append(pending.context)
        }
        #expect(matchedTypes == ["ORU^R01^ORU_R01", "ORM^O01^ORM_O01", "ADT^A01"])
        #expect(matcher.outstandingCount == 0)
    }
}

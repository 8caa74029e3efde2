import NIOCore
import Testing

@testable import PacsgateCore

/// The per-client bound on records of refused connections, as a pure state machine.
@Suite("Refused-connection aggregation")
struct RefusalAggregatorTests {
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    static let time = WallClock.Instant(millisecondsSinceEpoch: 1_800_000_000_000)

    @Test("the first refused_records per client and interval are written; the rest become one aggregate at its end")
    func limitThenAggregate() {
        var aggregator = RefusalAggregator(limit: 2, interval: .seconds(10))
        var admitted: [Bool] = []
        for index in 0..<5 {
            admitted.append(
                aggregator.admit(
                    client: "10.0.0.1", service: index < 3 ? "DICOM" : "HL7", event: "e\(index % 2)", now: Self.start, time: Self.time))
        }
        #expect(admitted == [true, true, false, false, false])
        let other = aggregator.admit(client: "10.0.0.2", service: "DICOM", event: "e", now: Self.start, time: Self.time)
        #expect(other, "another client")
        #expect(aggregator.nextDeadline == Self.start + .seconds(10))
        #expect(aggregator.takeDue(now: Self.start + .seconds(9)).isEmpty)
        let due = aggregator.takeDue(now: Self.start + .seconds(10))
        #expect(due.count == 1)
        #expect(due.first?.0.client == "10.0.0.1")
        #expect(due.first?.0.count == 3)
        #expect(due.first?.0.services == ["DICOM", "HL7"])
        #expect(due.first?.0.events == ["e0", "e1"])
        #expect(due.first?.writtenInFull == 2)
        #expect(aggregator.nextDeadline == nil)
        // A new interval starts with the limit afresh.
        let afresh = aggregator.admit(client: "10.0.0.1", service: "DICOM", event: "e", now: Self.start + .seconds(11), time: Self.time)
        #expect(afresh)
    }

    @Test("a window that ended while its client was refused again is handed over at the next take")
    func endedWindowOnAdmit() {
        var aggregator = RefusalAggregator(limit: 1, interval: .seconds(10))
        _ = aggregator.admit(client: "c", service: "S", event: "e", now: Self.start, time: Self.time)
        let second = aggregator.admit(client: "c", service: "S", event: "e", now: Self.start, time: Self.time)
        let later = aggregator.admit(client: "c", service: "S", event: "e", now: Self.start + .seconds(20), time: Self.time)
        #expect(!second)
        #expect(later)
        let due = aggregator.takeDue(now: Self.start + .seconds(20))
        #expect(due.map(\.0.count) == [1])
        #expect(aggregator.takeAll().isEmpty)
    }

    @Test("beyond its capacity of clients the rest share one window, so memory stays bounded")
    func capacity() {
        var aggregator = RefusalAggregator(limit: 1, interval: .seconds(60))
        for index in 0..<RefusalAggregator.capacity {
            _ = aggregator.admit(client: "c\(index)", service: "S", event: "e", now: Self.start, time: Self.time)
        }
        let first = aggregator.admit(client: "late-1", service: "S", event: "e", now: Self.start, time: Self.time)
        let second = aggregator.admit(client: "late-2", service: "S", event: "e", now: Self.start, time: Self.time)
        #expect(first)
        #expect(!second, "late-2 shares late-1's window")
        let all = aggregator.takeAll()
        #expect(all.map(\.0.client) == [RefusalAggregator.othersKey])
    }

    @Test("the aggregate record names the client, the count, the services, the events and the interval")
    func record() {
        var aggregate = RefusalAggregator.Aggregate(client: "10.0.0.1", first: Self.time, last: Self.time)
        aggregate.count = 25
        aggregate.services = ["DICOM"]
        aggregate.events = ["dicom.association"]
        let line = String(decoding: aggregate.record(interval: .seconds(60), writtenInFull: 10).finishedLine(), as: UTF8.self)
        #expect(line.contains(#""event":"connection.refused.aggregate","client":"10.0.0.1","refused":25"#), "\(line)")
        #expect(line.contains(#""services":["DICOM"],"events":["dicom.association"]"#))
        #expect(line.contains(#""interval_s":60,"written_in_full":10"#))
    }
}

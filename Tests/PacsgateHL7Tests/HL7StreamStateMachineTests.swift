import NIOCore
import PacsgateCore
import Testing

@testable import PacsgateHL7

/// The per-connection HL7 logic alone: no sockets, a fixed clock, NAK control IDs `PGT-n`.
@Suite("HL7StreamStateMachine")
struct HL7StreamStateMachineTests {
    typealias Machine = HL7StreamStateMachine
    static let noon = WallClock.Instant(millisecondsSinceEpoch: 1_735_732_800_000)
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static func machine(
        maximumMessageBytes: Int = 4 << 20,
        onInvalid: HL7ServiceSettings.InvalidInputPolicy = .nak,
        ackTimeout: Duration = .seconds(60)
    ) -> Machine {
        var machine = Machine(
            configuration: .init(
                settings: HL7ServiceSettings(
                    maximumMessageBytes: maximumMessageBytes,
                    onInvalid: onInvalid,
                    ackTimeout: ackTimeout
                )
            ),
            connectionTag: "T"
        )
        _ = machine.peek(ByteBuffer(string: "\u{0B}MSH|\r"))
        return machine
    }

    static func message(_ id: String, extra: String = "") -> String {
        "MSH|^~\\&|RIS|HOSP|PACS|MACH7|20250101115959||ORM^O01^ORM_O01|\(id)|P|2.5.1\(extra)\rPID|1||X\r"
    }

    static func ack(_ id: String, _ code: String = "AA") -> ByteBuffer {
        .framed("MSH|^~\\&|PACS|MACH7|RIS|HOSP|20250101120000||ACK^O01^ACK|A-\(id)|P|2.5.1\rMSA|\(code)|\(id)\r")
    }

    /// Every upstream action for `chunks`, fed one after another.
    static func upstream(
        _ machine: inout Machine,
        _ chunks: ByteBuffer...,
        at now: NIODeadline = start
    )
        -> [Machine.UpstreamAction]
    {
        var actions: [Machine.UpstreamAction] = []
        for var chunk in chunks {
            while let action = machine.nextUpstreamAction(from: &chunk, now: now, time: Self.noon) {
                actions.append(action)
            }
            #expect(chunk.readableBytes == 0)
        }
        return actions
    }

    static func downstream(
        _ machine: inout Machine,
        _ chunk: ByteBuffer,
        at now: NIODeadline = start
    )
        -> [Machine.DownstreamAction]
    {
        var chunk = chunk
        var actions: [Machine.DownstreamAction] = []
        while let action = machine.nextDownstreamAction(from: &chunk, now: now) { actions.append(action) }
        return actions
    }

    static func closing(_ machine: inout Machine) -> [Machine.UpstreamAction] {
        var actions: [Machine.UpstreamAction] = []
        while let action = machine.nextClosingAction(time: Self.noon) { actions.append(action) }
        return actions
    }

    static func forwardedIDs(_ actions: [Machine.UpstreamAction]) -> [String] {
        actions.compactMap { if case .forward(_, let message) = $0 { message.summary.controlID } else { nil } }
    }

    @Test("frames inside one read are forwarded as views of that read: no copy, no allocation per frame")
    func forwardsViews() {
        var machine = Self.machine()
        var read = ByteBuffer()
        for id in ["A", "B", "C"] { read.writeImmutableBuffer(.framed(Self.message(id))) }
        let actions = Self.upstream(&machine, read)
        #expect(Self.forwardedIDs(actions) == ["A", "B", "C"])
        let readBase = read.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        var offset = 0
        for case .forward(let frame, let message) in actions {
            let frameBase = frame.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
            #expect(frameBase == readBase + UInt(offset), "frame \(message.summary.controlID) was copied")
            #expect(message.streamOffset == offset)
            #expect(message.bytes == frame.readableBytes)
            offset += frame.readableBytes
        }
    }

    @Test("a junk run spanning reads is one rejection, reported when the next frame starts; no NAK")
    func junkRun() {
        var machine = Self.machine()
        var last = ByteBuffer(string: "tail\n")
        last.writeImmutableBuffer(.framed(Self.message("A")))
        let actions = Self.upstream(&machine, ByteBuffer(string: "log line 1\n"), ByteBuffer(string: "log 2\r\n"), last)
        #expect(actions.count == 2)
        guard case .reject(let rejected, let nak, let close) = actions.first else {
            Issue.record("expected a rejection first, got \(actions)")
            return
        }
        #expect(rejected.reason == .dataBeforeStartBlock)
        #expect(rejected.streamOffset == 0)
        #expect(rejected.byteCount == 11 + 7 + 5)
        #expect(rejected.response == .discard)
        #expect(rejected.detail == "23 byte(s) before a start block at byte 0 (first byte 0x6C)")
        #expect(nak == nil)
        #expect(!close)
        #expect(Self.forwardedIDs(actions) == ["A"])
    }

    @Test("more junk than max_message_bytes in a row: not an MLLP sender, the connection is closed")
    func endlessJunk() {
        var machine = Self.machine(maximumMessageBytes: 1024)
        let junk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 600)
        let actions = Self.upstream(&machine, junk, junk, .framed(Self.message("A")))
        #expect(actions.count == 1)
        guard case .reject(let rejected, nil, true) = actions.first else {
            Issue.record("expected a closing rejection, got \(actions)")
            return
        }
        #expect(rejected.response == .close)
        #expect(rejected.byteCount == 1200)
        #expect(Self.closing(&machine).isEmpty)
    }

    @Test("CR/LF/NUL between frames are tolerated and counted; LF-terminated MSH is forwarded and counted")
    func toleratedDefects() {
        var machine = Self.machine()
        var read = ByteBuffer.framed(Self.message("A"))
        read.writeString("\n\0")
        read.writeImmutableBuffer(.framed("MSH|^~\\&|RIS|HOSP|PACS|MACH7|T||ADT^A01|B|P|2.3\r\nPID|1\r\n"))
        let actions = Self.upstream(&machine, read)
        #expect(Self.forwardedIDs(actions) == ["A", "B"])
        #expect(actions.count == 2)
        #expect(machine.statistics.fillerBytes == 2)
        #expect(machine.statistics.nonStandardTerminators == 1)
    }

    @Test("ACKs are matched by MSA-2, never by position")
    func matchByControlID() {
        var machine = Self.machine()
        _ = Self.upstream(&machine, .framed(Self.message("A")), .framed(Self.message("B")))
        var replies = Self.ack("B", "AE")
        replies.writeImmutableBuffer(Self.ack("A"))
        let later = Self.start + .milliseconds(25)
        let actions = Self.downstream(&machine, replies, at: later)
        let outcomes = actions.compactMap { if case .acknowledged(let outcome) = $0 { outcome } else { nil } }
        #expect(outcomes.map(\.message.summary.controlID) == ["B", "A"])
        #expect(
            outcomes.map(\.acknowledgment) == [
                .received(.applicationError, latency: .milliseconds(25)),
                .received(.applicationAccept, latency: .milliseconds(25)),
            ]
        )
        #expect(machine.nextAcknowledgmentDeadline == nil)
    }

    @Test("no ACK within ack_timeout: closed out as timeout; the ACK arriving later is late; a stranger's is unmatched")
    func timeoutLateAndUnmatched() {
        var machine = Self.machine(ackTimeout: .seconds(5))
        _ = Self.upstream(&machine, .framed(Self.message("A")))
        #expect(machine.nextAcknowledgmentDeadline == Self.start + .seconds(5))
        #expect(machine.nextExpiredMessage(now: Self.start + .seconds(4)) == nil)
        let expired = machine.nextExpiredMessage(now: Self.start + .seconds(5))
        #expect(expired?.message.summary.controlID == "A")
        #expect(expired?.acknowledgment == .missing(.timeout))
        #expect(machine.nextExpiredMessage(now: Self.start + .seconds(6)) == nil)

        var replies = Self.ack("A")
        replies.writeImmutableBuffer(Self.ack("ZZZ"))
        let actions = Self.downstream(&machine, replies, at: Self.start + .seconds(7))
        #expect(actions.count == 2)
        if case .lateAcknowledgment(let message, let code, let latency) = actions.first {
            #expect(message.summary.controlID == "A")
            #expect(code == .applicationAccept)
            #expect(latency == .seconds(7))
        } else {
            Issue.record("expected a late ACK, got \(actions)")
        }
        #expect(actions.last == .unmatchedAcknowledgment(controlID: "ZZZ", code: .applicationAccept))
    }

    @Test("a reused control ID closes out the earlier message as duplicate_control_id")
    func duplicateControlID() {
        var machine = Self.machine()
        let actions = Self.upstream(&machine, .framed(Self.message("A")), .framed(Self.message("A")))
        #expect(actions.count == 3)
        #expect(Self.forwardedIDs(actions) == ["A", "A"])
        if case .completed(let outcome) = actions.last {
            #expect(outcome.acknowledgment == .missing(.duplicateControlID))
            #expect(outcome.message.streamOffset == 0)
        } else {
            Issue.record("expected the first A to be closed out, got \(actions)")
        }
    }

    @Test("server replies: MLLP R2 commit ACKs are skipped; mid-frame is visible; junk is reported once")
    func serverReplies() {
        var machine = Self.machine()
        _ = Self.upstream(&machine, .framed(Self.message("A")))
        #expect(Self.downstream(&machine, ByteBuffer(bytes: [0x0B, 0x06, 0x1C, 0x0D])).isEmpty)
        #expect(machine.statistics.commitAcknowledgments == 1)

        var ack = Self.ack("A")
        let head = ack.readSlice(length: 20) ?? ByteBuffer()
        #expect(Self.downstream(&machine, head).isEmpty)
        #expect(machine.serverIsMidFrame)
        #expect(Self.downstream(&machine, ack).count == 1)
        #expect(!machine.serverIsMidFrame)

        #expect(Self.downstream(&machine, ByteBuffer(string: "junk")).count == 1)
        #expect(Self.downstream(&machine, ByteBuffer(string: "junk")).isEmpty)
        #expect(machine.statistics.invalidReplies == 2)
    }

    @Test("the end: a cut-off frame is reported (with its MSH), then every unacknowledged message")
    func closing() {
        var machine = Self.machine()
        var read = ByteBuffer.framed(Self.message("A"))
        read.writeString("\u{0B}" + Self.message("B"))
        _ = Self.upstream(&machine, read)
        let actions = Self.closing(&machine)
        #expect(actions.count == 2)
        if case .reject(let rejected, nil, false) = actions.first {
            #expect(rejected.reason == .incompleteFrame)
            #expect(rejected.summary?.controlID == "B")
            #expect(rejected.response == .discard)
        } else {
            Issue.record("expected the cut-off frame first, got \(actions)")
        }
        if case .completed(let outcome) = actions.last {
            #expect(outcome.message.summary.controlID == "A")
            #expect(outcome.acknowledgment == .missing(.connectionClosed))
        } else {
            Issue.record("expected A closed out, got \(actions)")
        }
        #expect(Self.closing(&machine).isEmpty)
    }

    @Test("on_invalid: close: no NAK, and nothing after the bad frame is forwarded")
    func closePolicy() {
        var machine = Self.machine(onInvalid: .close)
        var read = ByteBuffer.framed("PID|1\r")
        read.writeImmutableBuffer(.framed(Self.message("A")))
        let actions = Self.upstream(&machine, read, .framed(Self.message("B")))
        #expect(actions.count == 1)
        guard case .reject(let rejected, nil, true) = actions.first else {
            Issue.record("expected a closing rejection, got \(actions)")
            return
        }
        #expect(rejected.reason == .notMSH)
        #expect(rejected.response == .close)
    }

    @Test("NAK codes follow MSH-15: CR for a message that asks for accept acknowledgments; IDs count up")
    func enhancedModeAndControlIDs() throws {
        var machine = Self.machine()
        var read = ByteBuffer(string: "\u{0B}" + Self.message("E1", extra: "|||AL|NE"))
        read.writeString("\u{0B}" + Self.message("E2"))
        read.writeImmutableBuffer(.framed(Self.message("E3")))
        let naks = Self.upstream(&machine, read).compactMap {
            if case .reject(_, let nak?, _) = $0 { nak.text } else { nil }
        }
        #expect(naks.count == 2)
        #expect(naks.first?.contains("|PGT-1|P|2.5.1\rMSA|CR|E1\r") == true, "\(naks)")
        #expect(naks.last?.contains("|PGT-2|P|2.5.1\rMSA|AR|E2\r") == true, "\(naks)")
    }

    @Test("peek: waits for the first MSH segment; junk forwards at once; filler is skipped; bounded")
    func peek() {
        func fresh() -> Machine {
            Machine(configuration: .init(settings: HL7ServiceSettings()), connectionTag: "T")
        }
        var machine = fresh()
        #expect(machine.peek(ByteBuffer(string: "\r\n\0")) == .needMore)
        #expect(machine.peek(ByteBuffer(string: "\r\n\0\u{0B}MSH|^~\\&|RIS")) == .needMore)
        #expect(machine.peek(ByteBuffer(string: "\r\n\0\u{0B}MSH|^~\\&|RIS|H\r")) == .forward)

        machine = fresh()
        #expect(machine.peek(ByteBuffer(string: "GET / HTTP/1.1")) == .forward)

        machine = fresh()
        let long = ByteBuffer(string: "\u{0B}MSH|" + String(repeating: "A", count: 16 * 1024))
        #expect(machine.peek(long) == .forward)
    }

    @Test("unavailable: an AR NAK for every peeked message whose MSH is readable, none for the rest")
    func unavailable() throws {
        var machine = Machine(configuration: .init(settings: HL7ServiceSettings()), connectionTag: "T")
        var peeked = ByteBuffer.framed(Self.message("U1"))
        peeked.writeString("\u{0B}MSH|^~\\&|RIS|HOSP|PACS|MACH7|T||ADT^A01|U2|P|2.3\rPID|")
        #expect(machine.peek(peeked) == .forward)
        let (answer, rejected) = machine.unavailable(.noServer, time: Self.noon)
        let frames = MLLPTestClient.split(try #require(answer))
        #expect(frames.count == 2)
        #expect(
            frames.first?.text
                == "\u{0B}MSH|^~\\&|PACS|MACH7|RIS|HOSP|20250101120000+0000||ACK^O01^ACK|PGT-1|P|2.5.1\r"
                + "MSA|AR|U1\rERR|||207^Application internal error^HL70357|E|||no server available\r\u{1C}\r"
        )
        #expect(
            frames.last?.text
                == "\u{0B}MSH|^~\\&|PACS|MACH7|RIS|HOSP|20250101120000+0000||ACK|PGT-2|P|2.3\r"
                + "MSA|AR|U2|no server available\rERR|^^^207&Application internal error&HL70357\r\u{1C}\r"
        )
        #expect(rejected.map(\.summary?.controlID) == ["U1", "U2"])
        #expect(
            rejected.allSatisfy {
                $0.reason == .serverUnavailable && $0.response == .negativeAcknowledgmentAndClose(.applicationReject)
            }
        )

        var silent = Machine(configuration: .init(settings: HL7ServiceSettings()), connectionTag: "T")
        _ = silent.peek(ByteBuffer(string: "\u{0B}MSH|^~\\&|RI"))
        let nothing = silent.unavailable(.maxConnections, time: Self.noon)
        #expect(nothing.answer == nil)
        #expect(nothing.rejected.isEmpty)
    }

    @Test("byte-exact: the NAK examples of docs/hl7.md")
    func documentedExamples() {
        var machine = Machine(configuration: .init(settings: HL7ServiceSettings()), connectionTag: "3FA9C2D1")
        let abandoned = "\u{0B}MSH|^~\\&|RIS|HOSP|PACS|MACH7|20250101115959||ORM^O01^ORM_O01|MSG00001|P|2.5.1\rPID|1\r"
        var read = ByteBuffer(string: abandoned)
        read.writeString("\u{0B}PID|1\r\u{1C}\r")
        #expect(machine.peek(read) == .forward)
        let naks = Self.upstream(&machine, read).compactMap {
            if case .reject(_, let nak?, false) = $0 { nak.text } else { nil }
        }
        #expect(
            naks == [
                "\u{0B}MSH|^~\\&|PACS|MACH7|RIS|HOSP|20250101120000+0000||ACK^O01^ACK|PG3FA9C2D1-1|P|2.5.1\r"
                    + "MSA|AR|MSG00001\r"
                    + "ERR|||207^Application internal error^HL70357|E|||"
                    + "start block 0x0B at byte 85 inside the frame started at byte 0\r\u{1C}\r",
                "\u{0B}MSH|^~\\&|PACSGATE||||20250101120000+0000||ACK|PG3FA9C2D1-2|P|2.5.1\r"
                    + "MSA|AE|\r"
                    + "ERR|||100^Segment sequence error^HL70357|E|||payload does not start with an MSH segment "
                    + "(found \"PID\") at payload offset 0 (byte 86 of the connection)\r\u{1C}\r",
            ]
        )
    }

    @Test("junk still pending when the connection ends is reported as discarded, not as a close")
    func junkAtEnd() {
        var machine = Self.machine(onInvalid: .close)
        #expect(Self.upstream(&machine, ByteBuffer(string: "bye\n")).isEmpty)
        let actions = Self.closing(&machine)
        guard case .reject(let rejected, nil, false) = actions.first, actions.count == 1 else {
            Issue.record("expected one rejection, got \(actions)")
            return
        }
        #expect(rejected.response == .discard)
        #expect(rejected.byteCount == 4)
    }
}

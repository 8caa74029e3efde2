import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@testable import PacsgateCore
@testable import PacsgateHL7

/// The inspector against the core's seam without sockets: what it forwards, replies and audits, and when.
@Suite("HL7Inspector")
struct HL7InspectorTests {
    /// Records what the inspector sends through its ``UpstreamSink``.
    final class RecordingSink: UpstreamSinkTarget {
        var events: [String] = []
        var forwarded = ByteBuffer()
        var replies: [ByteBuffer] = []

        func sinkForward(_ data: ByteBuffer) {
            self.events.append("forward")
            self.forwarded.writeImmutableBuffer(data)
        }

        func sinkReply(_ data: ByteBuffer) {
            self.events.append("reply")
            self.replies.append(data)
        }

        func sinkClose(reason: String) {
            self.events.append("close")
        }
    }

    struct Outcome: Sendable {
        var events: [String]
        var forwarded: ByteBuffer
        var replies: [ByteBuffer]
        var finished: EventLoopFuture<Void>?
        /// Still running: shut it down after checking the file, so the check sees only what `finished` promised.
        var audit: AuditLog
    }

    /// Runs `body` on a real event loop with a fresh inspector whose audit log writes to `auditPath`.
    static func run(
        auditPath: String,
        _ body: @escaping @Sendable (HL7Inspector, UpstreamSink, RecordingSink) -> EventLoopFuture<Void>?
    ) async throws -> Outcome {
        let audit = AuditLog(configuration: AuditConfiguration(path: auditPath), logger: Logger(label: "test"))
        try audit.start()
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let outcome = try await loop.submit {
            let context = ConnectionContext(
                service: "HL7",
                client: try SocketAddress(ipAddress: "127.0.0.1", port: 40000),
                eventLoop: loop,
                audit: audit,
                logger: Logger(label: "test"),
                acceptedAt: HL7TestGateway.noon,
                persistenceType: "none"
            )
            let inspector = HL7Inspector(
                context: context,
                configuration: .init(settings: HL7ServiceSettings()),
                clock: { HL7TestGateway.noon },
                connectionTag: { "T" }
            )
            let recorder = RecordingSink()
            let finished = body(inspector, UpstreamSink(recorder), recorder)
            return Outcome(
                events: recorder.events,
                forwarded: recorder.forwarded,
                replies: recorder.replies,
                finished: finished,
                audit: audit
            )
        }.get()
        return outcome
    }

    static func summary() -> ConnectionSummary {
        ConnectionSummary(
            service: "HL7",
            client: "127.0.0.1:40000",
            server: nil,
            bytesUp: 0,
            bytesDown: 0,
            duration: .zero,
            endReason: "closed",
            refused: false
        )
    }

    @Test("a NAK due while the server is mid-way through an ACK waits for that ACK to be complete")
    func nakHeldWhileServerMidFrame() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = ByteBuffer.framed(HL7Samples.order("A"))
        let serverACK = ByteBuffer.framed("MSH|^~\\&|PACS|MACH7|RIS|HOSP|T||ACK|X1|P|2.5.1\rMSA|AA|A\r")
        let outcome = try await Self.run(auditPath: directory.file("audit.jsonl")) { inspector, sink, recorder in
            var ack = serverACK
            #expect(inspector.upstreamHandling == .filter)
            #expect(inspector.downstreamHandling == .observe)
            #expect(inspector.inspect(first).isForward)
            inspector.forwarding(to: ServerIdentity(label: "HL71", endpoint: Endpoint(host: "127.0.0.1", port: 1)))
            inspector.filterUpstream(first, sink: sink)
            inspector.downstream(ack.readSlice(length: 10) ?? ByteBuffer())  // the server is mid-frame
            inspector.filterUpstream(.framed("PID|1\r"), sink: sink)  // AE NAK due now
            #expect(recorder.replies.isEmpty, "NAK written into the middle of the server's frame")
            inspector.downstream(ack)  // frame complete
            inspector.filterUpstream(.framed(HL7Samples.order("B")), sink: sink)
            return inspector.finished(Self.summary())
        }
        #expect(outcome.events == ["forward", "reply", "forward"])
        #expect(outcome.replies.first?.text.contains("MSA|AE|\r") == true)
        var expected = first
        expected.writeImmutableBuffer(.framed(HL7Samples.order("B")))
        #expect(outcome.forwarded == expected)
        await outcome.audit.shutdown()
    }

    @Test("finished() waits for the audit log: every record of the connection is in the file when it completes")
    func finishedWaitsForAudit() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("audit.jsonl")
        let linesWhenFinished = NIOLockedValueBox<[Substring]>([])
        let outcome = try await Self.run(auditPath: path) { inspector, sink, _ in
            var read = ByteBuffer()
            for id in 1...50 { read.writeImmutableBuffer(.framed(HL7Samples.order("F\(id)"))) }
            _ = inspector.inspect(read)
            inspector.filterUpstream(read, sink: sink)
            // Read the file the moment the future completes, on the loop: that is when the core releases the
            // connection, so every record must be there by then.
            return inspector.finished(Self.summary())?.map {
                let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
                linesWhenFinished.withLockedValue { $0 = text.split(separator: "\n") }
            }
        }
        let finished = try #require(outcome.finished)
        try await finished.get()
        let lines = linesWhenFinished.withLockedValue { $0 }
        #expect(lines.count == 50)
        #expect(lines.allSatisfy { $0.contains("\"ack_missing\":\"connection_closed\"") })
        #expect(lines.last?.contains("\"control_id\":\"F50\"") == true)
        await outcome.audit.shutdown()
    }

    @Test("unavailable: the peeked message gets an AR NAK; nothing peeked means a plain close")
    func unavailable() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let message = ByteBuffer.framed(HL7Samples.order("U1"))
        let outcome = try await Self.run(auditPath: directory.file("audit.jsonl")) { inspector, _, recorder in
            #expect(inspector.inspect(message).isForward)
            let rejection = inspector.unavailable(.maxConnections)
            recorder.replies.append(rejection.answer ?? ByteBuffer())
            #expect(rejection.reason == "refused (answered with AR): service at maxconn")
            #expect(!rejection.waitForClientClose)
            return inspector.finished(Self.summary())
        }
        #expect(outcome.replies.first?.text.contains("MSA|AR|U1\r") == true)
        await outcome.audit.shutdown()

        let nothing = try await Self.run(auditPath: directory.file("audit2.jsonl")) { inspector, _, recorder in
            let rejection = inspector.unavailable(.maxConnections)
            #expect(rejection.answer == nil)
            #expect(rejection.reason == "refused (closed): service at maxconn")
            return inspector.finished(Self.summary())
        }
        #expect(nothing.finished == nil, "nothing was audited, so nothing to wait for")
        await nothing.audit.shutdown()
    }
}

extension InspectionVerdict {
    var isForward: Bool {
        if case .forward = self { return true }
        return false
    }
}

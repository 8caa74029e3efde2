import Logging
import NIOCore
import PacsgateAuditRecords
import PacsgateCore

/// The inspector of one connection to an HL7 service: performs what its ``HL7StreamStateMachine`` decides.
///
/// - Peek: waits for the first frame's MSH segment (so a NAK can be addressed if no server takes the
///   connection), then forwards; everything, the peeked bytes included, then goes through the filter.
/// - Client → server (`.filter`, for the life of the connection): only complete, valid frames are forwarded,
///   unchanged; invalid input gets a NAK or a close, and an `hl7.rejected` record.
/// - Server → client (`.observe`): ACKs are matched to messages; each message gets one `hl7.message` record
///   when its ACK arrives, its `ack_timeout` passes, or the connection ends.
/// - Records are appended without a future each; ``finished(_:)`` returns one that succeeds once every record of
///   the connection is durable (the audit log writes in order), so the connection is released only then.
///
/// Logs: one line per rejection, per missing/late/unmatched ACK and per connection (its summary); forwarded
/// and acknowledged messages only at debug level. Never a byte of PID or later segments.
final class HL7Inspector: ConnectionInspector {
    private let context: ConnectionContext
    private let clock: @Sendable () -> WallClock.Instant
    private var machine: HL7StreamStateMachine
    private var connection: HL7AuditRecord.Connection
    /// The connection's logger, with its client and (once forwarding) server. Made when a line is written, not per
    /// connection: setting the two metadata values and letting them go cost about 7k instructions per connection,
    /// most of which write no line at the default level (`bench/profile/instructions.sh`).
    private var logger: Logger {
        var logger = self.context.logger
        logger[metadataKey: "conn.client"] = "\(self.connection.client)"
        if let server = self.connection.server { logger[metadataKey: "conn.server"] = "\(server)" }
        return logger
    }
    private var wroteAuditRecords = false
    /// The callback at the oldest unacknowledged message's deadline (NIO's promise-free timer).
    private var acknowledgmentTimer: NIOScheduledCallback?
    /// NAKs waiting for the server to finish the frame it is in the middle of sending to the client.
    private var heldReplies: ByteBuffer?
    private var reportedNonStandardTerminators = false

    init(
        context: ConnectionContext,
        configuration: HL7StreamStateMachine.Configuration,
        clock: @escaping @Sendable () -> WallClock.Instant,
        connectionTag: @escaping @Sendable () -> String
    ) {
        self.context = context
        self.clock = clock
        self.machine = HL7StreamStateMachine(
            configuration: configuration,
            connectionTag: connectionTag()
        )
        self.connection = HL7AuditRecord.Connection(
            service: context.service,
            client: context.client.logDescription,
            server: nil
        )
    }

    // MARK: - Peek

    /// The TLS session in front of this inspector: its client certificate is what `sender_allow` entries may
    /// require, and the session goes into every audit record of the connection.
    func clientTransportSecured(_ facts: SecureTransportFacts) {
        self.machine.clientCertificate = facts.clientCertificate
        self.connection.secureTransport = facts
    }

    func inspect(_ buffered: ByteBuffer) -> InspectionVerdict {
        switch self.machine.peek(buffered) {
        case .needMore: .needMore
        case .forward: .forward(.any)
        }
    }

    func peekFailed(_ failure: PeekFailure) -> Rejection {
        if let rejected = self.machine.peekFailed(failure, time: self.clock()), self.admitRefusal() {
            self.record(rejected)
        }
        let why: String
        switch failure {
        case .timeout: why = "no complete first HL7 segment within the peek timeout"
        case .tooLarge(let count): why = "\(count) bytes without a complete first HL7 segment"
        case .clientClosed: why = "client closed before a complete first HL7 segment"
        }
        return Rejection(answer: nil, reason: "hl7: \(why)")
    }

    func unavailable(_ reason: UnavailableReason) -> Rejection {
        let (answer, rejected) = self.machine.unavailable(reason, time: self.clock())
        if !rejected.isEmpty, self.admitRefusal() {
            for input in rejected { self.record(input) }
        }
        let how = answer == nil ? "closed" : "answered with AR"
        return Rejection(answer: answer, reason: "refused (\(how)): \(reason)")
    }

    /// Whether the records of this refused connection are written in full, or counted per client beyond
    /// `audit.refused_records` (AuditLog).
    private func admitRefusal() -> Bool {
        self.context.audit.admitRefusal(client: self.context.client, service: self.context.service, event: .hl7Rejected)
    }

    // MARK: - Forwarding

    func forwarding(to server: ServerIdentity) {
        self.connection.server = server
    }

    var upstreamHandling: StreamHandling { .filter }
    var downstreamHandling: StreamHandling { .observe }

    func filterUpstream(_ data: ByteBuffer, sink: UpstreamSink) {
        if let held = self.heldReplies, !self.machine.serverIsMidFrame {
            self.heldReplies = nil
            sink.reply(held)
        }
        var chunk = data
        let now = NIODeadline.now()
        let time = self.clock()
        let refuseForAudit = self.context.auditRefusal.refusesNow
        while let action = self.machine.nextUpstreamAction(from: &chunk, now: now, time: time, refuseForAudit: refuseForAudit) {
            switch action {
            case .forward(let frame, let message):
                sink.forward(frame)
                guard self.logs(.debug) else { break }
                self.logger.debug(
                    "hl7 message forwarded",
                    metadata: [
                        "hl7.control_id": "\(message.summary.controlID)",
                        "hl7.message_type": "\(message.summary.messageType)",
                        "hl7.bytes": "\(message.bytes)",
                    ]
                )
            case .reject(let rejected, let negativeAcknowledgment, let close):
                self.record(rejected)
                if let negativeAcknowledgment {
                    self.reply(negativeAcknowledgment, sink: sink, closing: close)
                }
                if close {
                    sink.close(reason: "hl7 \(rejected.reason.rawValue): \(rejected.detail)")
                }
            case .completed(let outcome):
                self.complete(outcome)
            }
        }
        if !self.reportedNonStandardTerminators, self.machine.statistics.nonStandardTerminators > 0 {
            self.reportedNonStandardTerminators = true
            self.logger.warning(
                "hl7 sender terminates segments with LF or CRLF instead of CR; forwarding unchanged, counting"
            )
        }
        self.armAcknowledgmentTimer()
    }

    func downstream(_ data: ByteBuffer) {
        var chunk = data
        let now = NIODeadline.now()
        while let action = self.machine.nextDownstreamAction(from: &chunk, now: now) {
            switch action {
            case .acknowledged(let outcome):
                self.complete(outcome)
            case .lateAcknowledgment(let message, let code, let latency):
                self.audit(
                    HL7AuditRecord.lateAcknowledgment(
                        message,
                        code: code,
                        latency: latency,
                        time: self.clock(),
                        connection: self.connection
                    )
                )
                self.logger.warning(
                    "hl7 ACK arrived after the message was audited without one",
                    metadata: [
                        "hl7.control_id": "\(message.summary.controlID)", "hl7.ack_code": "\(code.rawValue)",
                        "hl7.ack_ms": "\(HL7AuditRecord.milliseconds(latency))",
                    ]
                )
            case .unmatchedAcknowledgment(let controlID, let code):
                self.logger.warning(
                    "hl7 ACK from the server matches no message sent on this connection",
                    metadata: ["hl7.ack_control_id": "\(controlID)", "hl7.ack_code": "\(code.rawValue)"]
                )
            case .invalidReply(let detail):
                self.logger.warning(
                    "hl7 server sent something that is not an ACK",
                    metadata: ["hl7.detail": "\(detail)"]
                )
            }
        }
    }

    // MARK: - End

    func finished(_ summary: ConnectionSummary) -> EventLoopFuture<Void>? {
        self.acknowledgmentTimer?.cancel()
        self.acknowledgmentTimer = nil
        self.heldReplies = nil
        let time = self.clock()
        while let action = self.machine.nextClosingAction(time: time) {
            switch action {
            case .reject(let rejected, _, _): self.record(rejected)
            case .completed(let outcome): self.complete(outcome)
            case .forward: break
            }
        }
        let statistics = self.machine.statistics
        if statistics != HL7StreamStateMachine.Statistics(), self.logs(.info) {
            self.logger.info(
                "hl7 connection summary",
                metadata: [
                    "hl7.messages": "\(statistics.forwarded)",
                    "hl7.acknowledged": "\(statistics.acknowledged)",
                    "hl7.no_ack": "\(statistics.missingAcknowledgments)",
                    "hl7.late_acks": "\(statistics.lateAcknowledgments)",
                    "hl7.unmatched_acks": "\(statistics.unmatchedAcknowledgments)",
                    "hl7.rejected": "\(statistics.rejected)",
                    "hl7.naks_sent": "\(statistics.negativeAcknowledgments)",
                    "hl7.nonstandard_terminators": "\(statistics.nonStandardTerminators)",
                    "hl7.filler_bytes": "\(statistics.fillerBytes)",
                    "hl7.invalid_replies": "\(statistics.invalidReplies)",
                ]
            )
        }
        return self.wroteAuditRecords ? self.context.audit.written(on: self.context.eventLoop) : nil
    }

    // MARK: - Helpers

    /// Sends a NAK now, or holds it while the server is mid-way through a frame to the client (a NAK written now
    /// would split that frame). Held NAKs go out with the next client read, in order; when the connection is
    /// being closed they go out at once.
    private func reply(_ bytes: ByteBuffer, sink: UpstreamSink, closing: Bool) {
        if self.heldReplies == nil, !self.machine.serverIsMidFrame {
            sink.reply(bytes)
            return
        }
        self.heldReplies.setOrWriteImmutableBuffer(bytes)
        if closing, let held = self.heldReplies {
            self.heldReplies = nil
            sink.reply(held)
        } else {
            self.logger.notice("hl7 NAK held until the server finishes the frame it is sending")
        }
    }

    private func record(_ rejected: HL7RejectedInput) {
        self.audit(HL7AuditRecord.rejected(rejected, connection: self.connection))
        self.logger.warning(
            "hl7 input rejected",
            metadata: [
                "hl7.reason": "\(rejected.reason.rawValue)",
                "hl7.detail": "\(rejected.detail)",
                "hl7.offset": "\(rejected.streamOffset)",
                "hl7.action": "\(rejected.response.action)",
                "hl7.nak_code": "\(rejected.response.code?.rawValue ?? "-")",
                "hl7.control_id": "\(rejected.summary?.controlID ?? "-")",
                "hl7.sending_app": "\(rejected.summary?.sendingApplication ?? "-")",
            ]
        )
    }

    /// Whether a line at `level` would be written (so ``logger`` is made only then).
    private func logs(_ level: Logger.Level) -> Bool {
        self.context.logger.logLevel <= level
    }

    private func complete(_ outcome: HL7MessageOutcome) {
        self.audit(HL7AuditRecord.message(outcome, connection: self.connection))
        let summary = outcome.message.summary
        switch outcome.acknowledgment {
        case .received(let code, let latency):
            guard self.logs(.debug) else { break }
            self.logger.debug(
                "hl7 message acknowledged",
                metadata: [
                    "hl7.control_id": "\(summary.controlID)", "hl7.ack_code": "\(code.rawValue)",
                    "hl7.ack_ms": "\(HL7AuditRecord.milliseconds(latency))",
                ]
            )
        case .missing(.connectionClosed):
            break  // Counted in the connection summary.
        case .missing(let why):
            self.logger.warning(
                "hl7 message not acknowledged",
                metadata: [
                    "hl7.control_id": "\(summary.controlID)", "hl7.message_type": "\(summary.messageType)",
                    "hl7.ack_missing": "\(why.rawValue)",
                ]
            )
        }
    }

    private func audit(_ line: AuditRecord) {
        self.context.audit.write(line)
        self.wroteAuditRecords = true
    }

    private func armAcknowledgmentTimer() {
        guard self.acknowledgmentTimer == nil, let deadline = self.machine.nextAcknowledgmentDeadline else { return }
        // Fails only while the event loop shuts down; the connection's end then closes the messages out.
        self.acknowledgmentTimer = try? self.context.eventLoop.assumeIsolated().scheduleCallback(
            at: deadline, handler: self)
    }
}

extension HL7Inspector: NIOScheduledCallbackHandler {
    /// The oldest unacknowledged message's `ack_timeout` passed: every message past its deadline is audited without
    /// an ACK, and the timer is armed for the next one.
    func handleScheduledCallback(eventLoop: some EventLoop) {
        self.acknowledgmentTimer = nil
        let now = NIODeadline.now()
        while let outcome = self.machine.nextExpiredMessage(now: now) {
            self.complete(outcome)
        }
        self.armAcknowledgmentTimer()
    }
}

@available(*, unavailable)
extension HL7Inspector: Sendable {}

import NIOCore
import PacsgateAuditRecords
import PacsgateCore

/// The HL7 logic of one proxied connection, as a pure state machine: no sockets, no clock, no logging.
///
/// ```
/// peeking ──first MSH segment, junk, or peek limit──▶ open ──bad input under on_invalid: close,
///    │                                                  │     oversized frame, endless junk──▶ closed
///    └──no server: NAK each peeked message────────────▶ (the core answers and closes)
/// ```
///
/// Client → server (``nextUpstreamAction(from:now:time:)``): every complete frame is validated (framing by
/// ``MLLPFrameScanner``, MSH by ``MSHParser``) and forwarded unchanged, or rejected with a NAK (AR for
/// framing, AE for a well-framed payload whose MSH is wrong) or a close, per the service's `on_invalid`.
/// Server → client (``nextDownstreamAction(from:now:)``): acknowledgments are matched to forwarded messages
/// by MSA-2 = MSH-10 with an ``AckMatcher``, never by position. Outstanding messages expire after
/// `ack_timeout` (``nextExpiredMessage(now:)``) and are closed out when the connection ends
/// (``nextClosingAction(time:)``).
///
/// The `next…` methods are pull-style like the scanner: call them until they return `nil`. A frame that
/// arrived inside one read is never copied: the bytes handed to ``UpstreamAction/forward(_:_:)`` are a view
/// of the read buffer.
struct HL7StreamStateMachine {
    struct Configuration: Sendable, Equatable {
        var maximumMessageBytes: Int
        var onInvalid: HL7ServiceSettings.InvalidInputPolicy
        var ackTimeout: TimeAmount
        /// Messages tracked for ACK matching at once.
        var maximumOutstanding = 256
        /// Bytes the peek phase holds at most before forwarding without having seen the first segment end.
        var peekLimit = 16 * 1024
        /// `sender_allow`.
        var senders: HL7SenderPolicy?

        init(settings: HL7ServiceSettings) {
            self.maximumMessageBytes = settings.maximumMessageBytes
            self.onInvalid = settings.onInvalid
            self.senders = settings.senders
            let (seconds, attoseconds) = settings.ackTimeout.components
            let bounded = min(max(seconds, 0), HL7ServiceSettings.maximumAckTimeoutSeconds)
            self.ackTimeout = .nanoseconds(bounded * 1_000_000_000 + attoseconds / 1_000_000_000)
        }
    }

    /// What the peek phase decided.
    enum PeekDecision: Equatable {
        case needMore
        /// Connect to a server and replay the peeked bytes through the filter.
        case forward
    }

    enum UpstreamAction: Equatable {
        /// Send these bytes (one whole frame, unchanged) to the server.
        case forward(ByteBuffer, HL7ForwardedMessage)
        /// Record the rejection; send the NAK (if any) to the client; close the connection if asked.
        case reject(HL7RejectedInput, negativeAcknowledgment: ByteBuffer?, close: Bool)
        /// A forwarded message's outcome is final without an ACK (displaced, or the connection ended).
        case completed(HL7MessageOutcome)
    }

    enum DownstreamAction: Equatable {
        /// The server acknowledged a forwarded message.
        case acknowledged(HL7MessageOutcome)
        /// An ACK for a message already closed out (timed out, evicted, or replaced by a duplicate).
        case lateAcknowledgment(HL7ForwardedMessage, HL7AcknowledgmentCode, latency: TimeAmount)
        /// An ACK whose MSA-2 matches no message forwarded on this connection.
        case unmatchedAcknowledgment(controlID: String, code: HL7AcknowledgmentCode)
        /// Something from the server that is not a usable acknowledgment (log-safe description).
        case invalidReply(String)
    }

    /// Counters for the connection's summary log line.
    struct Statistics: Equatable {
        var forwarded = 0
        var acknowledged = 0
        var missingAcknowledgments = 0
        var lateAcknowledgments = 0
        var unmatchedAcknowledgments = 0
        var rejected = 0
        var negativeAcknowledgments = 0
        /// Messages whose MSH ended with CRLF or LF instead of CR (forwarded unchanged).
        var nonStandardTerminators = 0
        /// CR/LF/NUL bytes between frames (tolerated).
        var fillerBytes = 0
        /// Server replies that were not usable acknowledgments (framing defects and unparsable frames).
        var invalidReplies = 0
        /// MLLP Release 2 commit acknowledgments (0x06) from the server.
        var commitAcknowledgments = 0
    }

    private enum State {
        case peeking
        case open
        case closed
    }

    /// A run of bytes outside frames, reported once when it ends.
    private struct JunkRun {
        var offset: Int
        var count: Int
        var firstByte: UInt8
    }

    private static let startBlock: UInt8 = 0x0B
    private static let endBlock: UInt8 = 0x1C
    private static let carriageReturn: UInt8 = 0x0D
    private static let lineFeed: UInt8 = 0x0A

    let configuration: Configuration
    /// The client's verified TLS certificate on a terminating service, which `sender_allow` entries may require.
    var clientCertificate: PeerCertificate?
    private(set) var statistics = Statistics()
    private var state = State.peeking
    private var upstream: MLLPFrameScanner
    private var downstream: MLLPFrameScanner
    private var matcher: AckMatcher<HL7ForwardedMessage>
    private var acknowledger: HL7NegativeAcknowledger
    private var junkRun: JunkRun?
    /// An event read while a junk run was pending, handled after the run is reported.
    private var stashedEvent: MLLPFrameScanner.Event?
    /// A second action produced by one event (a registration that displaced another message).
    private var pendingAction: UpstreamAction?

    // Peek phase: how far the buffered bytes were searched, and where the first frame's payload starts.
    private var peeked: ByteBuffer?
    private var peekSearchedTo = 0
    private var peekPayloadStart: Int?

    init(configuration: Configuration, connectionTag: @autoclosure @escaping @Sendable () -> String) {
        self.configuration = configuration
        self.upstream = MLLPFrameScanner(maximumMessageBytes: configuration.maximumMessageBytes)
        self.downstream = MLLPFrameScanner(maximumMessageBytes: configuration.maximumMessageBytes)
        self.matcher = AckMatcher(maximumOutstanding: configuration.maximumOutstanding)
        self.acknowledger = HL7NegativeAcknowledger(connectionTag: connectionTag)
    }

    /// `true` while the server is in the middle of sending a frame to the client: a NAK written now would land
    /// inside it, so it must wait.
    var serverIsMidFrame: Bool { self.downstream.isInsideFrame }

    /// When the oldest unacknowledged message times out.
    var nextAcknowledgmentDeadline: NIODeadline? {
        self.matcher.oldestSentAt.map { $0 + self.configuration.ackTimeout }
    }

    // MARK: - Peek

    /// Decides on everything the client has sent so far (the core offers all buffered bytes each time).
    ///
    /// Waits only for what a NAK needs should no server take the connection: the first frame's MSH segment.
    /// Leading junk forwards at once (the filter reports it); CR/LF/NUL before the first frame are skipped.
    mutating func peek(_ buffered: ByteBuffer) -> PeekDecision {
        guard case .peeking = self.state else { return .forward }
        self.peeked = buffered
        let bytes = buffered.readableBytesView
        var index = self.peekSearchedTo
        while index < bytes.count {
            let byte = bytes[bytes.startIndex + index]
            if self.peekPayloadStart != nil {
                switch byte {
                case Self.carriageReturn, Self.lineFeed, Self.endBlock, Self.startBlock:
                    self.state = .open
                    return .forward
                default:
                    break
                }
            } else {
                switch byte {
                case Self.startBlock: self.peekPayloadStart = index + 1
                case 0x00, Self.carriageReturn, Self.lineFeed: break
                default:
                    self.state = .open
                    return .forward
                }
            }
            index += 1
        }
        self.peekSearchedTo = index
        if bytes.count >= self.configuration.peekLimit {
            self.state = .open
            return .forward
        }
        return .needMore
    }

    /// The peek phase ended without a verdict; returns the record to audit when a frame had begun.
    mutating func peekFailed(_ failure: PeekFailure, time: WallClock.Instant) -> HL7RejectedInput? {
        guard let buffered = self.peeked, let payloadStart = self.peekPayloadStart else { return nil }
        self.peeked = nil
        self.state = .closed
        let frameOffset = payloadStart - 1
        let received = buffered.readableBytes
        let detail: String
        switch failure {
        case .timeout:
            detail =
                "frame started at byte \(frameOffset) not complete within the peek timeout (\(received) bytes received)"
        case .tooLarge(let count):
            detail = "frame started at byte \(frameOffset): \(count) bytes buffered without an MSH segment end"
        case .clientClosed:
            detail = "input ended at byte \(received) inside the frame started at byte \(frameOffset)"
        }
        self.statistics.rejected += 1
        return HL7RejectedInput(
            reason: .incompleteFrame,
            detail: detail,
            streamOffset: frameOffset,
            byteCount: received - frameOffset,
            summary: nil,
            response: .close,
            time: time
        )
    }

    /// No server took the connection: an AR NAK (CR in enhanced mode) for every message among the peeked bytes
    /// whose MSH is readable, complete or not. Without one there is nothing to address an answer to.
    mutating func unavailable(
        _ reason: UnavailableReason,
        time: WallClock.Instant
    ) -> (answer: ByteBuffer?, rejected: [HL7RejectedInput]) {
        guard var buffered = self.peeked else { return (nil, []) }
        self.peeked = nil
        self.state = .closed
        var scanner = MLLPFrameScanner(maximumMessageBytes: self.configuration.maximumMessageBytes)
        var answer: ByteBuffer? = nil
        var rejected: [HL7RejectedInput] = []
        func refuse(_ header: HL7MessageHeader, at offset: Int, bytes: Int) {
            let nak = self.acknowledger.make(
                replyingTo: header,
                outcome: .rejected,
                error: .init(code: .applicationInternalError, diagnostic: reason.description),
                at: time
            )
            answer.setOrWriteImmutableBuffer(nak.bytes)
            self.statistics.rejected += 1
            self.statistics.negativeAcknowledgments += 1
            rejected.append(
                HL7RejectedInput(
                    reason: .serverUnavailable,
                    detail: reason.description,
                    streamOffset: offset,
                    byteCount: bytes,
                    summary: HL7MessageSummary(header),
                    response: .negativeAcknowledgmentAndClose(nak.code),
                    time: time
                )
            )
        }
        while let event = scanner.next(from: &buffered) {
            if case .frame(let frame) = event, let header = try? MSHParser.parse(frame.payload) {
                refuse(header, at: frame.streamOffset, bytes: frame.bytes.readableBytes)
            }
        }
        if case .incompleteFrame(let end, let frameOffset, let partial)? = scanner.flush(),
            let header = Self.header(of: partial, complete: false)
        {
            refuse(header, at: frameOffset, bytes: end - frameOffset)
        }
        return (answer, rejected)
    }

    // MARK: - Client to server

    /// The next thing to do about client bytes; `nil` once `chunk` is consumed.
    ///
    /// - Parameter refuseForAudit: the audit log cannot be written and `audit.on_failure` is `refuse`: every valid
    ///   message is answered AE (application error, the sender retries) instead of forwarded; the connection stays.
    mutating func nextUpstreamAction(
        from chunk: inout ByteBuffer,
        now: NIODeadline,
        time: WallClock.Instant,
        refuseForAudit: Bool = false
    ) -> UpstreamAction? {
        if case .peeking = self.state { self.state = .open }
        if let action = self.pendingAction {
            self.pendingAction = nil
            return action
        }
        if let event = self.stashedEvent {
            self.stashedEvent = nil
            if let action = self.handle(event, now: now, time: time, refuseForAudit: refuseForAudit) { return action }
        }
        while case .open = self.state, let event = self.upstream.next(from: &chunk) {
            if let action = self.handle(event, now: now, time: time, refuseForAudit: refuseForAudit) { return action }
        }
        if case .closed = self.state {
            chunk.moveReaderIndex(to: chunk.writerIndex)
        }
        return nil
    }

    private mutating func handle(
        _ event: MLLPFrameScanner.Event,
        now: NIODeadline,
        time: WallClock.Instant,
        refuseForAudit: Bool
    ) -> UpstreamAction? {
        guard case .open = self.state else { return nil }
        switch event {
        case .defect(.fillerBetweenFrames(_, let count)):
            guard var run = self.junkRun else {
                self.statistics.fillerBytes += count
                return nil
            }
            run.count += count
            self.junkRun = run
            return self.checkJunkLimit(time: time)
        case .defect(.dataBeforeStartBlock(let offset, let count, let firstByte)):
            if var run = self.junkRun {
                run.count += count
                self.junkRun = run
            } else {
                self.junkRun = JunkRun(offset: offset, count: count, firstByte: firstByte)
            }
            return self.checkJunkLimit(time: time)
        case .frame, .defect:
            if let run = self.junkRun {
                self.junkRun = nil
                self.stashedEvent = event
                return self.rejectJunk(run, limitExceeded: false, time: time)
            }
        }
        switch event {
        case .frame(let frame):
            return self.received(frame, now: now, time: time, refuseForAudit: refuseForAudit)
        case .defect(let defect):
            return self.framingDefect(defect, time: time)
        }
    }

    private mutating func received(
        _ frame: MLLPFrame, now: NIODeadline, time: WallClock.Instant, refuseForAudit: Bool
    ) -> UpstreamAction {
        let header: HL7MessageHeader
        do {
            header = try MSHParser.parse(frame.payload)
        } catch {
            return self.reject(
                error.rejectionReason,
                detail: "\(error) (byte \(frame.streamOffset + 1 + error.offset) of the connection)",
                streamOffset: frame.streamOffset,
                byteCount: frame.bytes.readableBytes,
                header: nil,
                outcome: .error,
                errorCode: error.errorCode,
                forceClose: false,
                time: time
            )
        }
        if let refusal = self.configuration.senders?.refusal(
            for: HL7MessageSummary(header),
            certificate: self.clientCertificate
        ) {
            return self.reject(
                .senderNotAllowed,
                detail: refusal,
                streamOffset: frame.streamOffset,
                byteCount: frame.bytes.readableBytes,
                header: header,
                outcome: .rejected,
                errorCode: .applicationInternalError,
                forceClose: false,
                time: time
            )
        }
        switch header.segmentTerminator {
        case .carriageReturnLineFeed, .lineFeed: self.statistics.nonStandardTerminators += 1
        case .carriageReturn, .endOfPayload: break
        }
        if refuseForAudit {
            return self.refuseForAudit(header, frame: frame, time: time)
        }
        let message = HL7ForwardedMessage(
            summary: HL7MessageSummary(header),
            bytes: frame.bytes.readableBytes,
            streamOffset: frame.streamOffset,
            receivedAt: time
        )
        self.statistics.forwarded += 1
        switch self.matcher.register(controlID: message.summary.controlID, context: message, sentAt: now) {
        case nil:
            break
        case .evictedOldest(let displaced)?:
            self.statistics.missingAcknowledgments += 1
            self.pendingAction = .completed(
                HL7MessageOutcome(message: displaced.context, acknowledgment: .missing(.evicted))
            )
        case .replacedDuplicate(let displaced)?:
            self.statistics.missingAcknowledgments += 1
            self.pendingAction = .completed(
                HL7MessageOutcome(message: displaced.context, acknowledgment: .missing(.duplicateControlID))
            )
        }
        return .forward(frame.bytes, message)
    }

    /// A valid message that cannot be audited: AE whatever `on_invalid` says (the message is fine; the sender
    /// should retry), and the connection stays open.
    private mutating func refuseForAudit(_ header: HL7MessageHeader, frame: MLLPFrame, time: WallClock.Instant) -> UpstreamAction {
        let detail = UnavailableReason.auditLogFailing.description
        let nak = self.acknowledger.make(
            replyingTo: header, outcome: .error, error: .init(code: .applicationInternalError, diagnostic: detail), at: time)
        self.statistics.rejected += 1
        self.statistics.negativeAcknowledgments += 1
        let rejected = HL7RejectedInput(
            reason: .auditUnavailable, detail: detail, streamOffset: frame.streamOffset,
            byteCount: frame.bytes.readableBytes, summary: HL7MessageSummary(header),
            response: .negativeAcknowledgment(nak.code), time: time)
        return .reject(rejected, negativeAcknowledgment: nak.bytes, close: false)
    }

    private mutating func framingDefect(_ defect: MLLPFramingDefect, time: WallClock.Instant) -> UpstreamAction? {
        let reason: HL7RejectionReason
        let frameStart: Int
        let byteCount: Int
        let header: HL7MessageHeader?
        var forceClose = false
        switch defect {
        case .startBlockInsideFrame(let offset, let frameOffset, let partialPayload):
            reason = .startBlockInsideFrame
            frameStart = frameOffset
            byteCount = offset - frameOffset
            header = Self.header(of: partialPayload, complete: false)
        case .endBlockNotFollowedByCarriageReturn(let offset, let frameOffset, _, let payload):
            reason = .endBlockWithoutCarriageReturn
            frameStart = frameOffset
            byteCount = offset + 1 - frameOffset
            header = Self.header(of: payload, complete: true)
        case .frameTooLarge(let offset, let frameOffset, _, let payloadPrefix):
            // Where this message ends can no longer be known: everything up to some later 0x1C or 0x0B would be
            // dropped unseen. Close, so the sender reconnects and starts clean.
            reason = .frameTooLarge
            frameStart = frameOffset
            byteCount = offset - frameOffset
            header = Self.header(of: payloadPrefix, complete: false)
            forceClose = true
        case .incompleteFrame, .fillerBetweenFrames, .dataBeforeStartBlock:
            // Incomplete frames come only from flush(); junk is handled by the caller.
            return nil
        }
        return self.reject(
            reason,
            detail: defect.description,
            streamOffset: frameStart,
            byteCount: byteCount,
            header: header,
            outcome: .rejected,
            errorCode: .applicationInternalError,
            forceClose: forceClose,
            time: time
        )
    }

    private mutating func reject(
        _ reason: HL7RejectionReason,
        detail: String,
        streamOffset: Int,
        byteCount: Int,
        header: HL7MessageHeader?,
        outcome: HL7AckBuilder.Outcome,
        errorCode: HL7ErrorCode,
        forceClose: Bool,
        time: WallClock.Instant
    ) -> UpstreamAction {
        self.statistics.rejected += 1
        let close = forceClose || self.configuration.onInvalid == .close
        var negativeAcknowledgment: ByteBuffer? = nil
        let response: HL7RejectionResponse
        switch self.configuration.onInvalid {
        case .nak:
            let nak = self.acknowledger.make(
                replyingTo: header,
                outcome: outcome,
                error: .init(code: errorCode, diagnostic: detail),
                at: time
            )
            negativeAcknowledgment = nak.bytes
            self.statistics.negativeAcknowledgments += 1
            response = close ? .negativeAcknowledgmentAndClose(nak.code) : .negativeAcknowledgment(nak.code)
        case .close:
            response = .close
        }
        if close { self.state = .closed }
        let rejected = HL7RejectedInput(
            reason: reason,
            detail: detail,
            streamOffset: streamOffset,
            byteCount: byteCount,
            summary: header.map(HL7MessageSummary.init),
            response: response,
            time: time
        )
        return .reject(rejected, negativeAcknowledgment: negativeAcknowledgment, close: close)
    }

    /// Bytes outside frames beyond `max_message_bytes` in a row: not an MLLP sender. Close.
    private mutating func checkJunkLimit(time: WallClock.Instant) -> UpstreamAction? {
        guard let run = self.junkRun, run.count > self.configuration.maximumMessageBytes else { return nil }
        self.junkRun = nil
        return self.rejectJunk(run, limitExceeded: true, time: time)
    }

    /// Junk has no MSH to address a NAK to: it is dropped (MLLP R2 §1.2: discard bytes until a start block),
    /// or the connection closed per `on_invalid: close` or when the run is endless.
    private mutating func rejectJunk(
        _ run: JunkRun,
        limitExceeded: Bool,
        connectionEnded: Bool = false,
        time: WallClock.Instant
    ) -> UpstreamAction {
        self.statistics.rejected += 1
        let close = !connectionEnded && (limitExceeded || self.configuration.onInvalid == .close)
        if close { self.state = .closed }
        var detail = MLLPFramingDefect.dataBeforeStartBlock(
            offset: run.offset,
            byteCount: run.count,
            firstByte: run.firstByte
        ).description
        if limitExceeded {
            detail += "; more than \(self.configuration.maximumMessageBytes) bytes outside frames"
        }
        let rejected = HL7RejectedInput(
            reason: .dataBeforeStartBlock,
            detail: detail,
            streamOffset: run.offset,
            byteCount: run.count,
            summary: nil,
            response: close ? .close : .discard,
            time: time
        )
        return .reject(rejected, negativeAcknowledgment: nil, close: close)
    }

    // MARK: - Server to client

    /// The next thing to record about server bytes (which the core forwards unchanged); `nil` once `chunk` is consumed.
    mutating func nextDownstreamAction(from chunk: inout ByteBuffer, now: NIODeadline) -> DownstreamAction? {
        while let event = self.downstream.next(from: &chunk) {
            switch event {
            case .defect(let defect) where defect.isTolerable:
                continue
            case .defect(let defect):
                self.statistics.invalidReplies += 1
                // Reported once per connection (a server sending junk would otherwise log per read); counted always.
                if self.statistics.invalidReplies == 1 { return .invalidReply("server framing: \(defect)") }
            case .frame(let frame):
                if let action = self.acknowledgment(frame.payload, now: now) { return action }
            }
        }
        return nil
    }

    private mutating func acknowledgment(_ payload: ByteBuffer, now: NIODeadline) -> DownstreamAction? {
        let view = payload.readableBytesView
        if view.count == 1, view.first == 0x06 {
            self.statistics.commitAcknowledgments += 1
            return nil
        }
        if view.count == 1, view.first == 0x15 {
            self.statistics.invalidReplies += 1
            return .invalidReply("MLLP commit NAK (0x15) from the server")
        }
        let acknowledgment: HL7Acknowledgment
        do {
            acknowledgment = try MSAParser.parse(payload)
        } catch {
            self.statistics.invalidReplies += 1
            return .invalidReply("server reply is not an acknowledgment: \(error)")
        }
        switch self.matcher.match(controlID: acknowledgment.acknowledgedControlID, at: now) {
        case .matched(let pending, let latency):
            self.statistics.acknowledged += 1
            return .acknowledged(
                HL7MessageOutcome(
                    message: pending.context,
                    acknowledgment: .received(acknowledgment.code, latency: latency)
                )
            )
        case .late(let pending, let latency):
            self.statistics.lateAcknowledgments += 1
            return .lateAcknowledgment(pending.context, acknowledgment.code, latency: latency)
        case .unmatched:
            self.statistics.unmatchedAcknowledgments += 1
            return .unmatchedAcknowledgment(controlID: acknowledgment.acknowledgedControlID, code: acknowledgment.code)
        }
    }

    // MARK: - Timers and end

    /// The next message whose ACK is overdue at `now`, closed out as `ack_code: none`; call until `nil`.
    mutating func nextExpiredMessage(now: NIODeadline) -> HL7MessageOutcome? {
        let cutoff = now - self.configuration.ackTimeout + .nanoseconds(1)
        guard let expired = self.matcher.popExpired(sentBefore: cutoff) else { return nil }
        self.statistics.missingAcknowledgments += 1
        return HL7MessageOutcome(message: expired.context, acknowledgment: .missing(.timeout))
    }

    /// The connection is over: a pending junk run, a frame cut off, then every unacknowledged message
    /// (`connection_closed`). Call until `nil`.
    mutating func nextClosingAction(time: WallClock.Instant) -> UpstreamAction? {
        if let action = self.pendingAction {
            self.pendingAction = nil
            return action
        }
        self.stashedEvent = nil
        if let run = self.junkRun {
            self.junkRun = nil
            return self.rejectJunk(run, limitExceeded: false, connectionEnded: true, time: time)
        }
        if case .open = self.state,
            case .incompleteFrame(let end, let frameOffset, let partial)? = self.upstream.flush()
        {
            self.statistics.rejected += 1
            return .reject(
                HL7RejectedInput(
                    reason: .incompleteFrame,
                    detail: MLLPFramingDefect.incompleteFrame(
                        offset: end,
                        frameOffset: frameOffset,
                        partialPayload: partial
                    ).description,
                    streamOffset: frameOffset,
                    byteCount: end - frameOffset,
                    summary: Self.header(of: partial, complete: false).map(HL7MessageSummary.init),
                    response: .discard,
                    time: time
                ),
                negativeAcknowledgment: nil,
                close: false
            )
        }
        if let pending = self.matcher.popExpired(sentBefore: .distantFuture) {
            self.statistics.missingAcknowledgments += 1
            return .completed(HL7MessageOutcome(message: pending.context, acknowledgment: .missing(.connectionClosed)))
        }
        return nil
    }

    // MARK: - Helpers

    /// The MSH of a dropped payload, if readable. For a cut-off payload, an MSH running to the cut may have
    /// lost the end of MSH-10, so it is not trusted.
    private static func header(of payload: ByteBuffer, complete: Bool) -> HL7MessageHeader? {
        guard let header = try? MSHParser.parse(payload) else { return nil }
        if !complete, header.segmentTerminator == .endOfPayload { return nil }
        return header
    }
}

public import NIOCore

/// Incremental MLLP frame scanner for one connection direction (HL7 v2.5.1 Appendix C; MLLP Release 2).
///
/// Feed every chunk read from the connection and drain events until `nil`:
///
/// ```swift
/// while let event = scanner.next(from: &chunk) {
///     switch event {
///     case .frame(let frame): validate `frame.payload`, then forward `frame.bytes` unchanged
///     case .defect(let defect): log `defect`; tolerate, NAK or close per policy
///     }
/// }
/// // `nil`: `chunk` is fully consumed; any partial frame is buffered here.
/// ```
///
/// Frames may be split across any number of chunks and a chunk may hold any number of frames. A frame
/// that lies inside one chunk is returned as a view of that chunk (no allocation, no copy); a frame
/// that spans chunks is accumulated once, into one buffer, bounded by ``maximumMessageBytes``; that buffer is
/// reused for the next split frame once nobody else holds it (and if it is at most ``reusedBufferLimit``), so
/// a connection that keeps sending split frames allocates nothing per frame. Bytes outside frames are never
/// buffered, only counted. See ``MLLPFramingDefect`` for how each defect is
/// resynchronised; after any defect the scanner can keep going.
public struct MLLPFrameScanner: Sendable {
    /// What the scanner found next in the stream.
    public enum Event: Sendable, Hashable {
        /// A complete frame.
        case frame(MLLPFrame)
        /// A framing defect; the scanner has already resynchronised.
        case defect(MLLPFramingDefect)
    }

    /// 4 MiB.
    public static let defaultMaximumMessageBytes = 4 * 1024 * 1024

    static let startBlock: UInt8 = 0x0B
    static let endBlock: UInt8 = 0x1C
    static let carriageReturn: UInt8 = 0x0D

    private enum State {
        /// Looking for an SB.
        case betweenFrames
        /// A frame spans chunks; `frame` holds its SB and payload so far, and its EB if `endBlockSeen`.
        case accumulating(frameOffset: Int, frame: ByteBuffer, endBlockSeen: Bool)
        /// A frame exceeded the limit (already reported); skipping to its EB CR or the next SB.
        case discardingOversizedFrame(endBlockSeen: Bool)
    }

    /// Largest payload (bytes between SB and EB) accepted.
    public let maximumMessageBytes: Int
    /// Number of bytes consumed so far, i.e. the stream offset of the next byte.
    public private(set) var streamOffset = 0
    private var state = State.betweenFrames
    /// The last accumulation buffer, kept to accumulate the next split frame in. Reused only when the frame
    /// made from it has been let go (uniquely referenced), so a frame still being written is never overwritten.
    private var spare: ByteBuffer?

    /// Accumulation buffers up to this capacity are kept for the next split frame: enough for ordinary HL7
    /// messages, while an idle connection never holds on to a large frame's memory.
    public static let reusedBufferLimit = 16 * 1024

    /// Creates a scanner for a new connection.
    ///
    /// - Parameter maximumMessageBytes: largest payload accepted; defaults to 4 MiB. Must not be negative.
    public init(maximumMessageBytes: Int = Self.defaultMaximumMessageBytes) {
        precondition(maximumMessageBytes >= 0, "maximumMessageBytes must not be negative")
        self.maximumMessageBytes = maximumMessageBytes
    }

    /// `true` while a frame has started but not ended: the moment to run a frame-completion timer.
    public var isInsideFrame: Bool {
        if case .betweenFrames = self.state { return false }
        return true
    }

    /// Consumes bytes from `chunk` up to and including the next event.
    ///
    /// - Returns: the next frame or defect, or `nil` once `chunk` is fully consumed (need more bytes).
    public mutating func next(from chunk: inout ByteBuffer) -> Event? {
        while chunk.readableBytes > 0 {
            let event: Event?
            switch self.state {
            case .betweenFrames:
                event = self.scanBetweenFrames(&chunk)
            case .accumulating(let frameOffset, var frame, let endBlockSeen):
                // Drop the state's reference first so appending to `frame` does not copy it.
                self.state = .betweenFrames
                event = self.continueFrame(
                    startedAt: frameOffset,
                    frame: &frame,
                    endBlockSeen: endBlockSeen,
                    chunk: &chunk
                )
            case .discardingOversizedFrame(let endBlockSeen):
                event = nil
                self.discardOversizedFrame(endBlockSeen: endBlockSeen, chunk: &chunk)
            }
            if let event { return event }
        }
        return nil
    }

    /// Ends the current frame, if any: call when the connection closes or a frame-completion timer fires.
    ///
    /// - Returns: ``MLLPFramingDefect/incompleteFrame(offset:frameOffset:partialPayload:)`` if a frame was
    ///   in progress (its bytes are discarded), otherwise `nil`. The scanner then expects a new SB.
    public mutating func flush() -> MLLPFramingDefect? {
        defer { self.state = .betweenFrames }
        guard case .accumulating(let frameOffset, let frame, let endBlockSeen) = self.state else { return nil }
        let payloadLength = frame.readableBytes - 1 - (endBlockSeen ? 1 : 0)
        return .incompleteFrame(
            offset: self.streamOffset,
            frameOffset: frameOffset,
            partialPayload: frame.view(from: 1, length: payloadLength)
        )
    }

    // MARK: - States

    /// Between frames: report bytes before an SB, or start a frame at the SB.
    private mutating func scanBetweenFrames(_ chunk: inout ByteBuffer) -> Event? {
        let frameOffset = self.streamOffset
        guard chunk.readableBytesView.first == Self.startBlock else {
            return .defect(self.skipToStartBlock(&chunk))
        }

        let controlIndex = chunk.firstFramingByte(from: 1)
        let plainPayloadBytes = (controlIndex ?? chunk.readableBytes) - 1
        if plainPayloadBytes > self.maximumMessageBytes {
            let prefix = chunk.view(from: 1, length: self.maximumMessageBytes)
            self.consume(1 + self.maximumMessageBytes, of: &chunk)
            self.state = .discardingOversizedFrame(endBlockSeen: false)
            return .defect(self.frameTooLarge(startedAt: frameOffset, payloadPrefix: prefix))
        }

        guard let controlIndex else {
            self.startAccumulating(startedAt: frameOffset, chunk: &chunk, endBlockSeen: false)
            return nil
        }
        if chunk.byte(at: controlIndex) == Self.startBlock {
            let partial = chunk.view(from: 1, length: controlIndex - 1)
            self.consume(controlIndex, of: &chunk)
            return .defect(
                .startBlockInsideFrame(offset: self.streamOffset, frameOffset: frameOffset, partialPayload: partial)
            )
        }
        // EB at `controlIndex`.
        guard controlIndex + 1 < chunk.readableBytes else {
            self.startAccumulating(startedAt: frameOffset, chunk: &chunk, endBlockSeen: true)
            return nil
        }
        let following = chunk.byte(at: controlIndex + 1)
        guard following == Self.carriageReturn else {
            let payload = chunk.view(from: 1, length: controlIndex - 1)
            self.consume(controlIndex + 1, of: &chunk)
            return .defect(
                self.endBlockNotFollowedByCarriageReturn(startedAt: frameOffset, following: following, payload: payload)
            )
        }
        let frame = chunk.view(from: 0, length: controlIndex + 2)
        self.consume(controlIndex + 2, of: &chunk)
        return .frame(MLLPFrame(bytes: frame, streamOffset: frameOffset))
    }

    /// Inside a frame that started in an earlier chunk. `frame` holds its SB and payload so far (and its EB
    /// if `endBlockSeen`).
    private mutating func continueFrame(
        startedAt frameOffset: Int,
        frame: inout ByteBuffer,
        endBlockSeen: Bool,
        chunk: inout ByteBuffer
    ) -> Event? {
        if endBlockSeen {
            let following = chunk.byte(at: 0)
            guard following == Self.carriageReturn else {
                // `following` is left in `chunk` to be scanned again between frames.
                return .defect(
                    self.endBlockNotFollowedByCarriageReturn(
                        startedAt: frameOffset,
                        following: following,
                        payload: frame.view(from: 1, length: frame.readableBytes - 2)
                    )
                )
            }
            self.append(1, of: &chunk, to: &frame)
            self.keepForReuse(frame)
            return .frame(MLLPFrame(bytes: frame, streamOffset: frameOffset))
        }

        let payloadSoFar = frame.readableBytes - 1
        let controlIndex = chunk.firstFramingByte(from: 0)
        let plainBytes = controlIndex ?? chunk.readableBytes
        if payloadSoFar + plainBytes > self.maximumMessageBytes {
            self.append(self.maximumMessageBytes - payloadSoFar, of: &chunk, to: &frame)
            self.state = .discardingOversizedFrame(endBlockSeen: false)
            return .defect(
                self.frameTooLarge(
                    startedAt: frameOffset,
                    payloadPrefix: frame.view(from: 1, length: self.maximumMessageBytes)
                )
            )
        }

        guard let controlIndex else {
            self.append(chunk.readableBytes, of: &chunk, to: &frame)
            self.state = .accumulating(frameOffset: frameOffset, frame: frame, endBlockSeen: false)
            return nil
        }
        if chunk.byte(at: controlIndex) == Self.startBlock {
            self.append(controlIndex, of: &chunk, to: &frame)
            return .defect(
                .startBlockInsideFrame(
                    offset: self.streamOffset,
                    frameOffset: frameOffset,
                    partialPayload: frame.view(from: 1, length: frame.readableBytes - 1)
                )
            )
        }
        // EB at `controlIndex`.
        guard controlIndex + 1 < chunk.readableBytes else {
            self.append(chunk.readableBytes, of: &chunk, to: &frame)
            self.state = .accumulating(frameOffset: frameOffset, frame: frame, endBlockSeen: true)
            return nil
        }
        let following = chunk.byte(at: controlIndex + 1)
        guard following == Self.carriageReturn else {
            self.append(controlIndex, of: &chunk, to: &frame)
            self.consume(1, of: &chunk)
            return .defect(
                self.endBlockNotFollowedByCarriageReturn(
                    startedAt: frameOffset,
                    following: following,
                    payload: frame.view(from: 1, length: frame.readableBytes - 1)
                )
            )
        }
        self.append(controlIndex + 2, of: &chunk, to: &frame)
        self.keepForReuse(frame)
        return .frame(MLLPFrame(bytes: frame, streamOffset: frameOffset))
    }

    /// After an oversized frame was reported: skip through its EB (and a CR right after it) or up to the
    /// next SB, silently.
    private mutating func discardOversizedFrame(endBlockSeen: Bool, chunk: inout ByteBuffer) {
        if endBlockSeen {
            if chunk.byte(at: 0) == Self.carriageReturn { self.consume(1, of: &chunk) }
            self.state = .betweenFrames
            return
        }
        guard let controlIndex = chunk.firstFramingByte(from: 0) else {
            self.consume(chunk.readableBytes, of: &chunk)
            return
        }
        if chunk.byte(at: controlIndex) == Self.startBlock {
            self.consume(controlIndex, of: &chunk)
            self.state = .betweenFrames
        } else {
            self.consume(controlIndex + 1, of: &chunk)
            self.state = .discardingOversizedFrame(endBlockSeen: true)
        }
    }

    // MARK: - Helpers

    /// Consumes the bytes before the next SB in `chunk` (at least one) and classifies them.
    private mutating func skipToStartBlock(_ chunk: inout ByteBuffer) -> MLLPFramingDefect {
        let offset = self.streamOffset
        let firstByte = chunk.byte(at: 0)
        let (count, fillerOnly) = chunk.withUnsafeReadableBytes { bytes in
            var index = 0
            var fillerOnly = true
            while index < bytes.count, bytes[index] != Self.startBlock {
                switch bytes[index] {
                case 0x00, 0x0A, 0x0D: break
                default: fillerOnly = false
                }
                index += 1
            }
            return (index, fillerOnly)
        }
        self.consume(count, of: &chunk)
        return fillerOnly
            ? .fillerBetweenFrames(offset: offset, byteCount: count)
            : .dataBeforeStartBlock(offset: offset, byteCount: count, firstByte: firstByte)
    }

    /// Moves a frame's first part (everything left in `chunk`) into a new accumulation buffer.
    private mutating func startAccumulating(startedAt frameOffset: Int, chunk: inout ByteBuffer, endBlockSeen: Bool) {
        var frame: ByteBuffer
        if var spare = self.spare.take(), spare.modifyIfUniquelyOwned({ $0.clear() }) != nil {
            frame = spare
        } else {
            frame = ByteBufferAllocator().buffer(capacity: chunk.readableBytes)
        }
        self.append(chunk.readableBytes, of: &chunk, to: &frame)
        self.state = .accumulating(frameOffset: frameOffset, frame: frame, endBlockSeen: endBlockSeen)
    }

    /// Keeps a completed frame's accumulation buffer for the next split frame, if it is small enough.
    private mutating func keepForReuse(_ frame: ByteBuffer) {
        self.spare = frame.capacity <= Self.reusedBufferLimit ? frame : nil
    }

    private func frameTooLarge(startedAt frameOffset: Int, payloadPrefix: ByteBuffer) -> MLLPFramingDefect {
        .frameTooLarge(
            offset: frameOffset + 1 + self.maximumMessageBytes,
            frameOffset: frameOffset,
            limit: self.maximumMessageBytes,
            payloadPrefix: payloadPrefix
        )
    }

    /// An end block followed by `following` instead of a carriage return, the stream consumed through the end block.
    private func endBlockNotFollowedByCarriageReturn(
        startedAt frameOffset: Int,
        following: UInt8,
        payload: ByteBuffer
    ) -> MLLPFramingDefect {
        .endBlockNotFollowedByCarriageReturn(
            offset: self.streamOffset - 1,
            frameOffset: frameOffset,
            followingByte: following,
            payload: payload
        )
    }

    private mutating func consume(_ count: Int, of chunk: inout ByteBuffer) {
        chunk.moveReaderIndex(forwardBy: count)
        self.streamOffset &+= count
    }

    private mutating func append(_ count: Int, of chunk: inout ByteBuffer, to frame: inout ByteBuffer) {
        frame.writeImmutableBuffer(chunk.view(from: 0, length: count))
        self.consume(count, of: &chunk)
    }
}

extension ByteBuffer {
    /// Index (relative to the reader index, from `start`) of the first SB or EB, if any.
    ///
    /// Eight bytes at a time first: a message's payload is hundreds of bytes with no framing byte, and a byte at a
    /// time cost about nine instructions per byte (callgrind, `bench/profile/instructions.sh`). A word holds SB or
    /// EB exactly when the word XOR that byte repeated has a zero byte, which `(x - 0x01…) & ~x & 0x80…` tells
    /// without false positives; the word that has one is then read a byte at a time for the exact index.
    fileprivate func firstFramingByte(from start: Int) -> Int? {
        self.withUnsafeReadableBytes { bytes in
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highBits: UInt64 = 0x8080_8080_8080_8080
            let startBlocks = ones &* UInt64(MLLPFrameScanner.startBlock)
            let endBlocks = ones &* UInt64(MLLPFrameScanner.endBlock)
            var index = start
            while index + 8 <= bytes.count {
                let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                let startBits = word ^ startBlocks
                let endBits = word ^ endBlocks
                if ((startBits &- ones) & ~startBits | (endBits &- ones) & ~endBits) & highBits != 0 { break }
                index += 8
            }
            while index < bytes.count {
                let byte = bytes[index]
                if byte == MLLPFrameScanner.startBlock || byte == MLLPFrameScanner.endBlock { return index }
                index += 1
            }
            return nil
        }
    }

    /// The readable byte at `index` relative to the reader index; callers guarantee `index < readableBytes`.
    fileprivate func byte(at index: Int) -> UInt8 {
        self.readableBytesView[self.readerIndex + index]
    }

    /// A view (no copy) of `length` readable bytes starting `start` bytes after the reader index; callers
    /// guarantee the range lies within the readable bytes.
    fileprivate func view(from start: Int, length: Int) -> ByteBuffer {
        var slice = self
        slice.moveReaderIndex(forwardBy: start)
        slice.moveWriterIndex(to: slice.readerIndex + length)
        return slice
    }
}

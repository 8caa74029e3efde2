public import NIOCore

/// A framing defect found by ``MLLPFrameScanner``. Every offset is a position in the connection's
/// byte stream (0 = first byte received).
///
/// After reporting any defect the scanner has already resynchronised, and the connection can go on:
/// whether it should (tolerate, answer with a NAK, or close) is the caller's policy. The offending
/// bytes are never part of a later ``MLLPFrame``, so forwarding only frames never forwards them.
///
/// Cases that discard a partial frame carry its payload so the caller can parse MSH-10 and answer with
/// a NAK; those bytes may contain patient data and are never part of ``description``.
public enum MLLPFramingDefect: Sendable, Hashable, CustomStringConvertible {
    /// `byteCount` bytes outside any frame, all CR, LF or NUL (typically a trailing LF after EB CR, or
    /// keep-alive NULs). Tolerable. Resync: the bytes are skipped.
    case fillerBetweenFrames(offset: Int, byteCount: Int)
    /// `byteCount` bytes outside any frame that are not only filler (log text, an unframed message or
    /// ACK, another protocol). Resync: the bytes are skipped up to the next SB (MLLP R2 §1.2). A run that
    /// continues into the next read is reported again from its new start.
    case dataBeforeStartBlock(offset: Int, byteCount: Int, firstByte: UInt8)
    /// An SB at `offset` inside the frame that started at `frameOffset` (the sender abandoned a message
    /// and started another). Resync: the partial frame is discarded and the SB starts a new frame.
    case startBlockInsideFrame(offset: Int, frameOffset: Int, partialPayload: ByteBuffer)
    /// The payload of the frame at `frameOffset` exceeds `limit` bytes without an EB; `offset` is the first
    /// byte beyond the limit and `payloadPrefix` the first `limit` payload bytes. Resync: the rest of the
    /// frame is discarded through its EB (and CR) or up to the next SB, whichever comes first, without
    /// further reports.
    case frameTooLarge(offset: Int, frameOffset: Int, limit: Int, payloadPrefix: ByteBuffer)
    /// The EB at `offset` (frame started at `frameOffset`) is followed by `followingByte` instead of CR
    /// (e.g. a 0x1C inside the payload, or a sender that omits the final CR). Resync: the frame is
    /// discarded through the EB; `followingByte` is scanned again (an SB there starts the next frame).
    case endBlockNotFollowedByCarriageReturn(offset: Int, frameOffset: Int, followingByte: UInt8, payload: ByteBuffer)
    /// The input ended at `offset` (connection closed, or the caller's frame-completion timer fired) inside
    /// the frame that started at `frameOffset`. Reported only by ``MLLPFrameScanner/flush()``; the partial
    /// frame is discarded and the scanner starts afresh.
    case incompleteFrame(offset: Int, frameOffset: Int, partialPayload: ByteBuffer)

    /// Stream offset of the offending byte (for runs, of their first byte).
    public var offset: Int {
        switch self {
        case .fillerBetweenFrames(let offset, _), .dataBeforeStartBlock(let offset, _, _),
            .startBlockInsideFrame(let offset, _, _), .frameTooLarge(let offset, _, _, _),
            .endBlockNotFollowedByCarriageReturn(let offset, _, _, _), .incompleteFrame(let offset, _, _):
            offset
        }
    }

    /// `true` only for ``fillerBetweenFrames(offset:byteCount:)``, which a gateway may ignore.
    public var isTolerable: Bool {
        if case .fillerBetweenFrames = self { return true }
        return false
    }

    /// The payload (or its prefix) of the frame this defect discarded, if any: parse its MSH to address a NAK.
    /// May contain patient data: never log it. If the parsed MSH ends with
    /// ``HL7SegmentTerminator/endOfPayload``, the cut may have fallen inside MSH, so MSH-10 may be truncated.
    public var discardedPayload: ByteBuffer? {
        switch self {
        case .fillerBetweenFrames, .dataBeforeStartBlock: nil
        case .startBlockInsideFrame(_, _, let payload), .frameTooLarge(_, _, _, let payload),
            .endBlockNotFollowedByCarriageReturn(_, _, _, let payload), .incompleteFrame(_, _, let payload):
            payload
        }
    }

    /// Operator-readable, log-safe summary: kind, offsets and counts only.
    public var description: String {
        switch self {
        case .fillerBetweenFrames(let offset, let byteCount):
            "\(byteCount) filler byte(s) (CR/LF/NUL) outside a frame at byte \(offset)"
        case .dataBeforeStartBlock(let offset, let byteCount, let firstByte):
            "\(byteCount) byte(s) before a start block at byte \(offset) (first byte "
                + "\(DiagnosticRendering.hex(firstByte)))"
        case .startBlockInsideFrame(let offset, let frameOffset, _):
            "start block 0x0B at byte \(offset) inside the frame started at byte \(frameOffset)"
        case .frameTooLarge(let offset, let frameOffset, let limit, _):
            "frame started at byte \(frameOffset) exceeds \(limit) payload bytes without an end block "
                + "(at byte \(offset))"
        case .endBlockNotFollowedByCarriageReturn(let offset, let frameOffset, let followingByte, _):
            "end block 0x1C at byte \(offset) followed by \(DiagnosticRendering.hex(followingByte)) instead of "
                + "0x0D (frame started at byte \(frameOffset))"
        case .incompleteFrame(let offset, let frameOffset, _):
            "input ended at byte \(offset) inside the frame started at byte \(frameOffset)"
        }
    }
}

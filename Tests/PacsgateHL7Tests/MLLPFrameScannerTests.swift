import NIOCore
import PacsgateHL7
import Testing

@Suite("MLLPFrameScanner")
struct MLLPFrameScannerTests {
    static let pieceSizes = [1, 2, 3, 7, 64, Int.max]

    // MARK: - Real-peer fixtures

    @Test("captured streams: frames cover the input exactly, whole and in pieces", arguments: Fixture.capturedStreams)
    func capturedStreams(name: String, frameCount: Int) throws {
        let input = try Fixture.load("captured", name)
        var wholeScanner = MLLPFrameScanner()
        let whole = wholeScanner.events(from: input, pieceSize: Int.max)
        let frames = MLLPFrameScanner.frames(in: whole)
        #expect(whole.count == frameCount)
        #expect(frames.count == frameCount)

        // Forwarding the frames reproduces the received bytes exactly.
        var forwarded = ByteBuffer()
        for frame in frames {
            #expect(frame.streamOffset == forwarded.readableBytes)
            #expect(frame.bytes.readableBytesView.first == 0x0B)
            #expect(frame.bytes.readableBytesView.suffix(2).elementsEqual([0x1C, 0x0D]))
            #expect(frame.payload.readableBytes == frame.bytes.readableBytes - 3)
            forwarded.writeImmutableBuffer(frame.bytes)
        }
        #expect(forwarded == input)
        #expect(wholeScanner.streamOffset == input.readableBytes)
        #expect(!wholeScanner.isInsideFrame)

        for pieceSize in Self.pieceSizes {
            var scanner = MLLPFrameScanner()
            #expect(scanner.events(from: input, pieceSize: pieceSize) == whole, "piece size \(pieceSize)")
        }
    }

    @Test("one byte at a time: nil until the final CR, then the frame")
    func dripFeed() throws {
        let input = try Fixture.load("captured", "probe-request.bin")
        var scanner = MLLPFrameScanner()
        var remaining = input
        while remaining.readableBytes > 1 {
            var byte = remaining.readSlice(length: 1) ?? ByteBuffer()
            #expect(scanner.next(from: &byte) == nil)
            #expect(scanner.isInsideFrame)
        }
        let event = scanner.next(from: &remaining)
        #expect(event.map(Scanned.init) == .frame(input, at: 0))
        #expect(!scanner.isInsideFrame)
    }

    @Test("mllp_send payloads are the samples, as sent (mllp_send strips the last CR)")
    func mllpSendPayloads() throws {
        var scanner = MLLPFrameScanner()
        let frames = MLLPFrameScanner.frames(
            in: scanner.events(from: try Fixture.load("captured", "mllp_send-to-receiver.bin"), pieceSize: Int.max)
        )
        try #require(frames.count == Fixture.sampleNames.count)
        for (frame, name) in zip(frames, Fixture.sampleNames) {
            let sample = try Fixture.load("messages", name)
            #expect(frame.payload.readableBytesView.elementsEqual(sample.readableBytesView.dropLast()))
        }
    }

    @Test("a frame inside one chunk is a view of the chunk, not a copy")
    func zeroCopy() throws {
        var chunk = ByteBuffer.bytes("\n")  // filler first, so the frame starts mid-chunk
        chunk.writeImmutableBuffer(try Fixture.load("captured", "probe-reply-aa.bin"))
        let chunkStart = chunk.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        var scanner = MLLPFrameScanner()
        #expect(scanner.next(from: &chunk) == .defect(.fillerBetweenFrames(offset: 0, byteCount: 1)))
        guard case .frame(let frame) = scanner.next(from: &chunk) else {
            Issue.record("expected a frame")
            return
        }
        let frameStart = frame.bytes.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let payloadStart = frame.payload.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(frameStart == chunkStart + 1)
        #expect(payloadStart == chunkStart + 2)
    }

    // MARK: - Volume

    @Test("100 frames in one chunk")
    func hundredFramesInOneChunk() {
        var input = ByteBuffer()
        for index in 0..<100 {
            input.writeImmutableBuffer(.framed("MSH|^~\\&|A|B|C|D|20250101||ADT^A01|ID\(index)|P|2.5.1\r"))
        }
        var chunk = input
        var scanner = MLLPFrameScanner()
        var frames: [MLLPFrame] = []
        while let event = scanner.next(from: &chunk) {
            guard case .frame(let frame) = event else {
                Issue.record("unexpected \(event)")
                return
            }
            frames.append(frame)
        }
        #expect(chunk.readableBytes == 0)
        #expect(frames.count == 100)
        var offset = 0
        for (index, frame) in frames.enumerated() {
            #expect(frame.streamOffset == offset)
            #expect(frame.payload.text.contains("|ID\(index)|"))
            offset += frame.bytes.readableBytes
        }
        #expect(offset == input.readableBytes)
    }

    @Test("a 1 MiB message split in 7-byte pieces is one frame, accumulated once")
    func oneMebibyteInSevenBytePieces() {
        var payload = ByteBuffer(string: "MSH|^~\\&|A|B|C|D|20250101||ORU^R01|BIG1|P|2.5.1\rOBX|1|ED|PDF||")
        payload.writeRepeatingByte(UInt8(ascii: "A"), count: 1_048_576 - payload.readableBytes - 1)
        payload.writeString("\r")
        #expect(payload.readableBytes == 1_048_576)
        var input = ByteBuffer(integer: UInt8(0x0B))
        input.writeImmutableBuffer(payload)
        input.writeBytes([0x1C, 0x0D])

        var scanner = MLLPFrameScanner()
        #expect(scanner.scanned(from: input, pieceSize: 7) == [.frame(input, at: 0)])
        #expect(scanner.streamOffset == input.readableBytes)
    }

    @Test("split frames: a frame still held is never overwritten; a buffer let go is reused for the next one")
    func splitFramesReuseOnlyBuffersLetGo() throws {
        var scanner = MLLPFrameScanner()
        func splitFrame(_ id: String) throws -> MLLPFrame {
            var input = ByteBuffer.framed("MSH|^~\\&|A|B|C|D|20250101||ADT^A01|\(id)|P|2.5.1\rPID|1\r")
            var frames: [MLLPFrame] = []
            while input.readableBytes > 0, let piece = input.readSlice(length: min(5, input.readableBytes)) {
                var chunk = piece
                while let event = scanner.next(from: &chunk) {
                    if case .frame(let frame) = event { frames.append(frame) }
                }
            }
            #expect(frames.count == 1)
            return try #require(frames.first)
        }
        func storage(_ frame: MLLPFrame) -> UnsafeRawPointer? {
            frame.bytes.withUnsafeReadableBytes { UnsafeRawPointer($0.baseAddress) }
        }

        // Held (as while its write is pending): the next frame goes into a new buffer, the held one is intact.
        let first = try splitFrame("ID1")
        var second: MLLPFrame? = try splitFrame("ID2")
        #expect(first.payload.text.contains("|ID1|"))
        #expect(second?.payload.text.contains("|ID2|") == true)
        #expect(storage(first) != second.flatMap(storage))

        // Let go: the next split frame is accumulated in the same storage, without allocating.
        let secondStorage = second.flatMap(storage)
        second = nil
        let third = try splitFrame("ID3")
        #expect(storage(third) == secondStorage)
        #expect(third.payload.text.contains("|ID3|"))
        #expect(first.payload.text.contains("|ID1|"))
    }

    @Test("a 1 KiB message in 256-byte reads, again and again, is accumulated in one buffer")
    func repeatedSplitMessagesShareOneBuffer() throws {
        var payload = ByteBuffer(string: "MSH|^~\\&|A|B|C|D|20250101||ORM^O01|R1|P|2.5.1\r")
        payload.writeRepeatingByte(UInt8(ascii: "A"), count: 1024 - payload.readableBytes - 1)
        payload.writeString("\r")
        var input = ByteBuffer(integer: UInt8(0x0B))
        input.writeImmutableBuffer(payload)
        input.writeBytes([0x1C, 0x0D])
        var scanner = MLLPFrameScanner()
        var storages: Set<UInt> = []
        for _ in 0..<10 {
            let frames = MLLPFrameScanner.frames(in: scanner.events(from: input, pieceSize: 256))
            #expect(frames.count == 1)
            if let base = frames.first?.bytes.withUnsafeReadableBytes({ $0.baseAddress }) {
                storages.insert(UInt(bitPattern: base))
            }
        }
        #expect(storages.count == 1, "each message was accumulated in a new buffer")
    }

    @Test("a split frame larger than the reuse limit is not kept for the next one")
    func largeAccumulationBuffersAreNotKept() throws {
        var scanner = MLLPFrameScanner()
        var payload = ByteBuffer(string: "MSH|^~\\&|A|B|C|D|20250101||ORU^R01|BIG|P|2.5.1\rOBX|1|ED|PDF||")
        payload.writeRepeatingByte(UInt8(ascii: "A"), count: MLLPFrameScanner.reusedBufferLimit)
        payload.writeString("\r")
        var input = ByteBuffer(integer: UInt8(0x0B))
        input.writeImmutableBuffer(payload)
        input.writeBytes([0x1C, 0x0D])
        var big: ByteBuffer? = try #require(
            MLLPFrameScanner.frames(in: scanner.events(from: input, pieceSize: 4096)).first?.bytes)
        let bigStorage = big?.withUnsafeReadableBytes { UnsafeRawPointer($0.baseAddress) }
        big = nil
        let small = ByteBuffer.framed("MSH|^~\\&|A|B|C|D|20250101||ADT^A01|S1|P|2.5.1\r")
        let next = try #require(MLLPFrameScanner.frames(in: scanner.events(from: small, pieceSize: 7)).first?.bytes)
        #expect(next.withUnsafeReadableBytes { UnsafeRawPointer($0.baseAddress) } != bigStorage)
        #expect(next.readableBytes == small.readableBytes)
    }

    // MARK: - Size limit

    @Test("a payload of exactly the limit is accepted", arguments: pieceSizes)
    func payloadAtLimit(pieceSize: Int) {
        let input = ByteBuffer.framed("0123456789abcdef")
        var scanner = MLLPFrameScanner(maximumMessageBytes: 16)
        #expect(scanner.scanned(from: input, pieceSize: pieceSize) == [.frame(input, at: 0)])
    }

    @Test("oversized frame: reported once at the first byte over the limit, then resync", arguments: pieceSizes)
    func oversized(pieceSize: Int) {
        var input = ByteBuffer.framed("0123456789abcdefX")  // 17 payload bytes, limit 16
        let next = ByteBuffer.framed("MSH|ok")
        input.writeImmutableBuffer(next)
        var scanner = MLLPFrameScanner(maximumMessageBytes: 16)
        #expect(
            scanner.scanned(from: input, pieceSize: pieceSize) == [
                .defect(
                    .frameTooLarge(offset: 17, frameOffset: 0, limit: 16, payloadPrefix: .bytes("0123456789abcdef"))
                ),
                .frame(next, at: 20),
            ]
        )
    }

    @Test(
        "oversized frame without any end block: the rest is discarded silently up to the next SB",
        arguments: pieceSizes
    )
    func oversizedWithoutEndBlock(pieceSize: Int) {
        var input = ByteBuffer.bytes("\u{0B}" + String(repeating: "x", count: 40))
        let next = ByteBuffer.framed("MSH|ok")
        input.writeImmutableBuffer(next)
        var scanner = MLLPFrameScanner(maximumMessageBytes: 8)
        #expect(
            scanner.scanned(from: input, pieceSize: pieceSize) == [
                .defect(.frameTooLarge(offset: 9, frameOffset: 0, limit: 8, payloadPrefix: .bytes("xxxxxxxx"))),
                .frame(next, at: 41),
            ]
        )
    }

    @Test("oversized frame with a bad trailer: discarding ends at its EB; what follows is scanned")
    func oversizedEndBlockWithoutCarriageReturn() {
        var scanner = MLLPFrameScanner(maximumMessageBytes: 2)
        #expect(
            scanner.scanned(from: .bytes("\u{0B}abcd\u{1C}Z"), pieceSize: Int.max) == [
                .defect(.frameTooLarge(offset: 3, frameOffset: 0, limit: 2, payloadPrefix: .bytes("ab"))),
                .defect(.dataBeforeStartBlock(offset: 6, byteCount: 1, firstByte: UInt8(ascii: "Z"))),
            ]
        )
        #expect(!scanner.isInsideFrame)
    }

    @Test("limit 0: only empty frames pass")
    func zeroLimit() {
        var scanner = MLLPFrameScanner(maximumMessageBytes: 0)
        #expect(
            scanner.scanned(from: .bytes("\u{0B}\u{1C}\r\u{0B}a\u{1C}\r"), pieceSize: Int.max) == [
                .frame(.bytes("\u{0B}\u{1C}\r"), at: 0),
                .defect(.frameTooLarge(offset: 4, frameOffset: 3, limit: 0, payloadPrefix: .bytes(""))),
            ]
        )
    }

    // MARK: - Bytes outside frames

    @Test("data before SB: counted, skipped, the frame after it is intact")
    func dataBeforeStartBlock() {
        let frame = ByteBuffer.framed("MSH|x")
        var input = ByteBuffer.bytes("INFO log line\n")
        input.writeImmutableBuffer(frame)
        var scanner = MLLPFrameScanner()
        #expect(
            scanner.scanned(from: input, pieceSize: Int.max) == [
                .defect(.dataBeforeStartBlock(offset: 0, byteCount: 14, firstByte: UInt8(ascii: "I"))),
                .frame(frame, at: 14),
            ]
        )
    }

    @Test("data before SB split over reads is reported per read, from where each part starts")
    func dataBeforeStartBlockAcrossReads() {
        let frame = ByteBuffer.framed("MSH|x")
        var input = ByteBuffer.bytes("abc")
        input.writeImmutableBuffer(frame)
        var scanner = MLLPFrameScanner()
        #expect(
            scanner.scanned(from: input, pieceSize: 2) == [
                .defect(.dataBeforeStartBlock(offset: 0, byteCount: 2, firstByte: UInt8(ascii: "a"))),
                .defect(.dataBeforeStartBlock(offset: 2, byteCount: 1, firstByte: UInt8(ascii: "c"))),
                .frame(frame, at: 3),
            ]
        )
    }

    @Test("CR, LF and NUL between frames are tolerable filler; anything mixed in is not")
    func filler() {
        let frame = ByteBuffer.framed("MSH|x")
        var input = frame
        input.writeString("\n")
        input.writeImmutableBuffer(frame)
        input.writeBytes([0x00, 0x0D, 0x0A])
        input.writeImmutableBuffer(frame)
        input.writeString("\n \n")
        var scanner = MLLPFrameScanner()
        let events = scanner.scanned(from: input, pieceSize: Int.max)
        #expect(
            events == [
                .frame(frame, at: 0),
                .defect(.fillerBetweenFrames(offset: 8, byteCount: 1)),
                .frame(frame, at: 9),
                .defect(.fillerBetweenFrames(offset: 17, byteCount: 3)),
                .frame(frame, at: 20),
                .defect(.dataBeforeStartBlock(offset: 28, byteCount: 3, firstByte: 0x0A)),
            ]
        )
        if case .defect(let filler) = events[1], case .defect(let junk) = events[5] {
            #expect(filler.isTolerable)
            #expect(!junk.isTolerable)
        }
    }

    @Test("an unframed message is data before SB")
    func unframedMessage() {
        var scanner = MLLPFrameScanner()
        #expect(
            scanner.scanned(from: .bytes("MSH|^~\\&|A|B\rMSA|AA|1\r"), pieceSize: Int.max) == [
                .defect(.dataBeforeStartBlock(offset: 0, byteCount: 22, firstByte: UInt8(ascii: "M")))
            ]
        )
    }

    // MARK: - Defects inside frames

    /// The scanner looks for SB and EB eight bytes at a time: every position in and around a word, after payload
    /// bytes next to the framing bytes' values (and with their high bit set), must still be found exactly.
    @Test("SB and EB are found at every offset, after any payload byte", arguments: [0x00, 0x0A, 0x0C, 0x1B, 0x1D, 0x41, 0x7F, 0x8B, 0x9C, 0xFF] as [UInt8])
    func framingBytesAtEveryOffset(filler: UInt8) {
        for length in 0..<40 {
            let payload = ByteBuffer(bytes: Array(repeating: filler, count: length))
            var frame = ByteBuffer(bytes: [0x0B])
            frame.writeImmutableBuffer(payload)
            frame.writeBytes([0x1C, 0x0D])
            var scanner = MLLPFrameScanner()
            #expect(scanner.scanned(from: frame, pieceSize: Int.max) == [.frame(frame, at: 0)], "length \(length)")

            var interrupted = ByteBuffer(bytes: [0x0B])
            interrupted.writeImmutableBuffer(payload)
            let next = ByteBuffer.framed("MSH|next")
            interrupted.writeImmutableBuffer(next)
            scanner = MLLPFrameScanner()
            #expect(
                scanner.scanned(from: interrupted, pieceSize: Int.max) == [
                    .defect(.startBlockInsideFrame(offset: 1 + length, frameOffset: 0, partialPayload: payload)),
                    .frame(next, at: 1 + length),
                ], "length \(length)")
        }
    }

    @Test("SB inside a frame: the partial frame is dropped and the SB starts the next one", arguments: pieceSizes)
    func startBlockInsideFrame(pieceSize: Int) {
        let next = ByteBuffer.framed("MSH|second")
        var input = ByteBuffer.bytes("\u{0B}MSH|first")
        input.writeImmutableBuffer(next)
        var scanner = MLLPFrameScanner()
        #expect(
            scanner.scanned(from: input, pieceSize: pieceSize) == [
                .defect(.startBlockInsideFrame(offset: 10, frameOffset: 0, partialPayload: .bytes("MSH|first"))),
                .frame(next, at: 10),
            ]
        )
    }

    @Test("EB not followed by CR: the frame is dropped; the byte after EB is scanned again", arguments: pieceSizes)
    func endBlockWithoutCarriageReturn(pieceSize: Int) {
        let next = ByteBuffer.framed("MSH|ok")
        var input = ByteBuffer.bytes("\u{0B}MSH|a\u{1C}X")
        input.writeImmutableBuffer(next)
        var scanner = MLLPFrameScanner()
        #expect(
            scanner.scanned(from: input, pieceSize: pieceSize) == [
                .defect(
                    .endBlockNotFollowedByCarriageReturn(
                        offset: 6,
                        frameOffset: 0,
                        followingByte: UInt8(ascii: "X"),
                        payload: .bytes("MSH|a")
                    )
                ),
                .defect(.dataBeforeStartBlock(offset: 7, byteCount: 1, firstByte: UInt8(ascii: "X"))),
                .frame(next, at: 8),
            ]
        )
    }

    @Test("EB followed directly by the next SB (missing final CR)", arguments: pieceSizes)
    func endBlockFollowedByStartBlock(pieceSize: Int) {
        let next = ByteBuffer.framed("MSH|ok")
        var input = ByteBuffer.bytes("\u{0B}MSH|a\u{1C}")
        input.writeImmutableBuffer(next)
        var scanner = MLLPFrameScanner()
        #expect(
            scanner.scanned(from: input, pieceSize: pieceSize) == [
                .defect(
                    .endBlockNotFollowedByCarriageReturn(
                        offset: 6,
                        frameOffset: 0,
                        followingByte: 0x0B,
                        payload: .bytes("MSH|a")
                    )
                ),
                .frame(next, at: 7),
            ]
        )
    }

    @Test("empty frame")
    func emptyFrame() {
        var scanner = MLLPFrameScanner()
        let events = scanner.events(from: .bytes("\u{0B}\u{1C}\r"), pieceSize: Int.max)
        #expect(events.map(Scanned.init) == [.frame(.bytes("\u{0B}\u{1C}\r"), at: 0)])
        #expect(MLLPFrameScanner.frames(in: events).first?.payload.readableBytes == 0)
    }

    // MARK: - flush

    @Test("flush inside a frame reports the partial frame and starts afresh", arguments: [1, 4, Int.max])
    func flushIncompleteFrame(pieceSize: Int) {
        var scanner = MLLPFrameScanner()
        #expect(scanner.scanned(from: .bytes("\n\u{0B}MSH|par"), pieceSize: pieceSize).count == 1)
        #expect(scanner.isInsideFrame)
        #expect(scanner.flush() == .incompleteFrame(offset: 9, frameOffset: 1, partialPayload: .bytes("MSH|par")))
        #expect(!scanner.isInsideFrame)
        #expect(scanner.flush() == nil)
        // The tail of the abandoned frame is now outside any frame.
        #expect(
            scanner.scanned(from: .bytes("tial\u{1C}\r"), pieceSize: Int.max) == [
                .defect(.dataBeforeStartBlock(offset: 9, byteCount: 6, firstByte: UInt8(ascii: "t")))
            ]
        )
    }

    @Test("flush after an EB that is still waiting for its CR excludes the EB from the payload")
    func flushAfterEndBlock() {
        var scanner = MLLPFrameScanner()
        #expect(scanner.scanned(from: .bytes("\u{0B}MSH|a\u{1C}"), pieceSize: Int.max).isEmpty)
        #expect(scanner.flush() == .incompleteFrame(offset: 7, frameOffset: 0, partialPayload: .bytes("MSH|a")))
    }

    @Test("flush between frames and while discarding an oversized frame reports nothing")
    func flushWithoutFrame() {
        var scanner = MLLPFrameScanner(maximumMessageBytes: 1)
        #expect(scanner.flush() == nil)
        #expect(scanner.scanned(from: .bytes("\u{0B}abc"), pieceSize: Int.max).count == 1)
        #expect(scanner.isInsideFrame)
        #expect(scanner.flush() == nil)
        #expect(!scanner.isInsideFrame)
    }

    // MARK: - Robustness

    @Test("garbage in random pieces: every byte is consumed and every frame is well formed")
    func garbage() {
        var generator = SplitMix64(seed: 0x5EED)
        // Bias towards framing bytes so every path is exercised.
        let alphabet: [UInt8] = [0x0B, 0x1C, 0x0D, 0x0A, 0x00, UInt8(ascii: "M"), UInt8(ascii: "|"), 0xFF]
        for _ in 0..<200 {
            var input = ByteBuffer()
            for _ in 0..<Int(generator.next() % 200) {
                input.writeInteger(alphabet[Int(generator.next() % UInt64(alphabet.count))])
            }
            var scanner = MLLPFrameScanner(maximumMessageBytes: 16)
            let pieceSize = Int(generator.next() % 9) + 1
            let events = scanner.events(from: input, pieceSize: pieceSize)
            #expect(scanner.streamOffset == input.readableBytes)
            for frame in MLLPFrameScanner.frames(in: events) {
                #expect(frame.bytes.readableBytesView.first == 0x0B)
                #expect(frame.bytes.readableBytesView.suffix(2).elementsEqual([0x1C, 0x0D]))
                #expect(!frame.payload.readableBytesView.contains(0x0B))
                #expect(!frame.payload.readableBytesView.contains(0x1C))
                #expect(frame.payload.readableBytes <= 16)
            }
            // Whole-chunk scanning finds the same frames.
            var wholeScanner = MLLPFrameScanner(maximumMessageBytes: 16)
            #expect(
                MLLPFrameScanner.frames(in: wholeScanner.events(from: input, pieceSize: Int.max))
                    == MLLPFrameScanner.frames(in: events)
            )
        }
    }

    @Test("defect descriptions name the defect and offsets, never payload bytes")
    func defectDescriptions() {
        let secret = ByteBuffer.bytes("MSH|^~\\&|A\rPID|1||SECRET")
        #expect(
            MLLPFramingDefect.dataBeforeStartBlock(offset: 5, byteCount: 3, firstByte: 0x47).description
                == "3 byte(s) before a start block at byte 5 (first byte 0x47)"
        )
        #expect(
            MLLPFramingDefect.fillerBetweenFrames(offset: 9, byteCount: 1).description
                == "1 filler byte(s) (CR/LF/NUL) outside a frame at byte 9"
        )
        let defects: [MLLPFramingDefect] = [
            .startBlockInsideFrame(offset: 40, frameOffset: 2, partialPayload: secret),
            .frameTooLarge(offset: 40, frameOffset: 2, limit: 38, payloadPrefix: secret),
            .endBlockNotFollowedByCarriageReturn(offset: 40, frameOffset: 2, followingByte: 0x41, payload: secret),
            .incompleteFrame(offset: 40, frameOffset: 2, partialPayload: secret),
        ]
        let expected = [
            "start block 0x0B at byte 40 inside the frame started at byte 2",
            "frame started at byte 2 exceeds 38 payload bytes without an end block (at byte 40)",
            "end block 0x1C at byte 40 followed by 0x41 instead of 0x0D (frame started at byte 2)",
            "input ended at byte 40 inside the frame started at byte 2",
        ]
        for (defect, text) in zip(defects, expected) {
            #expect(defect.description == text)
            #expect(defect.offset == 40)
            #expect(defect.discardedPayload == secret)
            #expect(!defect.isTolerable)
            #expect(!String(reflecting: defect.description).contains("SECRET"))
        }
    }
}

/// Deterministic pseudo-random numbers for the garbage test.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// libFuzzer target: the MLLP frame scanner and, for every frame it yields, the MSH and MSA parsers.
//
// Input: byte 0 picks a chunk size (1...16, or the whole stream for 0), the rest is the stream. Checks beyond
// "no crash": the events do not depend on how the stream is chunked (runs of bytes between frames aside, see
// `normalized`), and every frame is SB, payload, EB, CR.
import NIOCore
import PacsgateHL7

private func events(of stream: ByteBuffer, chunkSize: Int) -> [MLLPFrameScanner.Event] {
    var scanner = MLLPFrameScanner(maximumMessageBytes: 8 * 1024)
    var events: [MLLPFrameScanner.Event] = []
    var rest = stream
    while rest.readableBytes > 0 {
        var chunk = rest.readSlice(length: min(chunkSize, rest.readableBytes))!
        while let event = scanner.next(from: &chunk) { events.append(event) }
    }
    if let defect = scanner.flush() { events.append(.defect(defect)) }
    return events
}

/// What a stream's events say independently of chunking. Bytes between frames are counted, never buffered, so a
/// run of them is reported once per chunk it arrives in (and classified filler or data per chunk): merge adjacent
/// between-frame defects into one (offset, count) run before comparing.
private enum Normalized: Equatable {
    case event(MLLPFrameScanner.Event)
    case outside(offset: Int, count: Int)
}

private func normalized(_ events: [MLLPFrameScanner.Event]) -> [Normalized] {
    var result: [Normalized] = []
    for event in events {
        var run: (offset: Int, count: Int)?
        switch event {
        case .defect(.fillerBetweenFrames(let offset, let count)): run = (offset, count)
        case .defect(.dataBeforeStartBlock(let offset, let count, _)): run = (offset, count)
        default: break
        }
        guard let run else {
            result.append(.event(event))
            continue
        }
        if case .outside(let offset, let count) = result.last, offset + count == run.offset {
            result[result.count - 1] = .outside(offset: offset, count: count + run.count)
        } else {
            result.append(.outside(offset: run.offset, count: run.count))
        }
    }
    return result
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMLLP(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: count)
    guard let first = input.first else { return 0 }
    let stream = ByteBuffer(bytes: input.dropFirst())
    let chunkSize = first % 17 == 0 ? max(stream.readableBytes, 1) : Int(first % 17)

    let whole = events(of: stream, chunkSize: max(stream.readableBytes, 1))
    let chunked = events(of: stream, chunkSize: chunkSize)
    if normalized(whole) != normalized(chunked) {
        fatalError("MLLPFrameScanner events depend on chunking (\(chunkSize))")
    }
    for case .frame(let frame) in whole {
        if frame.bytes.readableBytes != frame.payload.readableBytes + 3
            || frame.bytes.getInteger(at: frame.bytes.readerIndex, as: UInt8.self) != 0x0B
        {
            fatalError("frame bytes are not SB payload EB CR")
        }
        if let header = try? MSHParser.parse(frame.payload) {
            _ = header.description
            _ = header.messageCode
            _ = header.sendingApplication
        }
        _ = try? MSAParser.parse(frame.payload)
    }
    // The parsers on raw input too, without framing.
    _ = try? MSHParser.parse(stream)
    _ = try? MSAParser.parse(stream)
    return 0
}

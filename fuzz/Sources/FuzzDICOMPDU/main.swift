// libFuzzer target: the DICOM upper-layer PDU stream (PDUStreamObserver, which parses A-ASSOCIATE-RQ/-AC/-RJ,
// RELEASE, ABORT and counts P-DATA-TF), the one-shot A-ASSOCIATE-RQ parser and the DIMSE command-set decoder.
//
// Input: byte 0 picks a chunk size (1...16, or the whole stream for 0), the rest is the stream. Checks beyond
// "no crash": the events do not depend on how the stream is chunked, and a parsed A-ASSOCIATE-RQ's encoding parses
// and re-encodes to the same bytes.
import NIOCore
import PacsgateDICOM

private func events(of stream: ByteBuffer, chunkSize: Int) -> [PDUStreamObserver.Event] {
    var observer = PDUStreamObserver(maxBufferedLength: 16 * 1024)
    var events: [PDUStreamObserver.Event] = []
    var rest = stream
    while rest.readableBytes > 0 {
        let chunk = rest.readSlice(length: min(chunkSize, rest.readableBytes))!
        observer.observe(chunk) { events.append($0) }
    }
    return events
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDICOMPDU(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: count)
    guard let first = input.first else { return 0 }
    let stream = ByteBuffer(bytes: input.dropFirst())
    let chunkSize = first % 17 == 0 ? max(stream.readableBytes, 1) : Int(first % 17)

    let whole = events(of: stream, chunkSize: max(stream.readableBytes, 1))
    let chunked = events(of: stream, chunkSize: chunkSize)
    if whole != chunked {
        fatalError("PDUStreamObserver events depend on chunking (\(chunkSize)): \(whole) vs \(chunked)")
    }

    // The parsed request keeps no secrets (user identity) and only a summary of extended negotiation, so its
    // encoding is not the input; but parsing its own encoding must give back the same value and the same bytes.
    var request = stream
    if let parsed = try? AssociateRequest.parse(&request, maxLength: 16 * 1024) {
        var encoded = ByteBuffer()
        parsed.encode(into: &encoded)
        var again = encoded
        guard let reparsed = try? AssociateRequest.parse(&again, maxLength: Int(UInt32.max)) else {
            fatalError("the encoding of a parsed A-ASSOCIATE-RQ does not parse: \(parsed)")
        }
        var reencoded = ByteBuffer()
        reparsed.encode(into: &reencoded)
        if reencoded != encoded {
            fatalError("A-ASSOCIATE-RQ encoding is not stable: \(parsed) vs \(reparsed)")
        }
    }

    _ = try? DIMSECommand.decode(stream)
    return 0
}

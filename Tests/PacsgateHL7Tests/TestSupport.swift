import Foundation
import NIOCore
import PacsgateHL7
import Testing

/// Committed fixtures (see Fixtures/capture/capture.py for how they were captured).
enum Fixture {
    /// Bytes of `Fixtures/<directory>/<name>` from the test bundle.
    static func load(_ directory: String, _ name: String) throws -> ByteBuffer {
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/\(directory)"),
            "missing fixture \(directory)/\(name)"
        )
        return ByteBuffer(bytes: try Data(contentsOf: url))
    }

    /// The three synthetic sample payloads, in the order mllp_send sent them.
    static let sampleNames = ["adt-a01-v2.3.hl7", "orm-o01-v2.5.1.hl7", "oru-r01-v2.5.1.hl7"]

    /// Every captured MLLP stream with the number of frames it holds.
    static let capturedStreams: [(name: String, frames: Int)] = [
        ("mllp_send-to-receiver.bin", 3),
        ("receiver-to-mllp_send.bin", 3),
        ("probe-request.bin", 1),
        ("probe-reply-aa.bin", 1),
        ("probe-request-ar.bin", 1),
        ("probe-reply-ar.bin", 1),
    ]
}

extension MLLPFrameScanner {
    /// Feeds `input` in pieces of at most `pieceSize` bytes and returns every event, in order.
    ///
    /// Records an issue if `next(from:)` returns `nil` while a piece still has readable bytes.
    mutating func events(from input: ByteBuffer, pieceSize: Int) -> [Event] {
        var events: [Event] = []
        var remaining = input
        while remaining.readableBytes > 0 {
            var piece = remaining.readSlice(length: min(pieceSize, remaining.readableBytes)) ?? ByteBuffer()
            while let event = self.next(from: &piece) { events.append(event) }
            #expect(piece.readableBytes == 0, "scanner returned nil with bytes left in the chunk")
        }
        return events
    }

    /// ``events(from:pieceSize:)`` as comparable values.
    mutating func scanned(from input: ByteBuffer, pieceSize: Int) -> [Scanned] {
        self.events(from: input, pieceSize: pieceSize).map(Scanned.init)
    }

    /// The frames among `events`.
    static func frames(in events: [Event]) -> [MLLPFrame] {
        events.compactMap { if case .frame(let frame) = $0 { frame } else { nil } }
    }
}

/// A scanner event reduced to what a test can state: a frame's bytes and stream offset, or a defect.
///
/// Mapping a frame checks that its payload is exactly its bytes without SB and EB CR.
enum Scanned: Equatable {
    case frame(ByteBuffer, at: Int)
    case defect(MLLPFramingDefect)

    init(_ event: MLLPFrameScanner.Event) {
        switch event {
        case .frame(let frame):
            let bytes = frame.bytes.readableBytesView
            #expect(frame.payload.readableBytesView.elementsEqual(bytes.dropFirst().dropLast(2)))
            self = .frame(frame.bytes, at: frame.streamOffset)
        case .defect(let defect):
            self = .defect(defect)
        }
    }
}

extension ByteBuffer {
    /// `string` as raw bytes (test inputs use `\u{0B}`, `\u{1C}`, `\r` for MLLP and HL7 control bytes).
    static func bytes(_ string: String) -> ByteBuffer { ByteBuffer(string: string) }

    /// One MLLP frame around `payload`.
    static func framed(_ payload: String) -> ByteBuffer { ByteBuffer(string: "\u{0B}\(payload)\u{1C}\r") }

    /// Readable bytes as a String, for readable expectations.
    var text: String { String(buffer: self) }
}

extension Fixture {
    /// File-system path of `Fixtures/<directory>/<name>` (for scripts run by peers).
    static func path(_ directory: String, _ name: String) throws -> String {
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/\(directory)"),
            "missing fixture \(directory)/\(name)"
        )
        return url.path
    }
}

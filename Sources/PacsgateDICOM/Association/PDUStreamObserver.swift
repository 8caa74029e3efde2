public import NIOCore

/// Watches one direction of a relayed DICOM association and reports PDU-level events.
///
/// Feed it every chunk as it passes (chunk boundaries anywhere). P-DATA-TF bodies are never
/// buffered: their length is counted down, so observing them costs no allocation. Other PDUs
/// (A-ASSOCIATE-RQ/-AC up to ``maxBufferedLength``, and the 10-byte RJ, RELEASE and ABORT)
/// are collected in one reused buffer and parsed. After a protocol error the observer stops
/// reporting; the bytes keep flowing, what to do is the caller's decision.
///
/// ```swift
/// observer.observe(chunk) { event in
///     if case .associateAccept(let ac) = event { audit.acceptedContexts = ac.acceptedContextCount }
/// }
/// ```
public struct PDUStreamObserver: Sendable {
    /// What the observer saw.
    public enum Event: Sendable, Hashable {
        /// A complete A-ASSOCIATE-RQ.
        case associateRequest(AssociateRequest)
        /// A complete A-ASSOCIATE-AC (see ``AssociateAccept/acceptedContextCount``).
        case associateAccept(AssociateAccept)
        /// An A-ASSOCIATE-RJ.
        case associateReject(AssociateReject)
        /// The header of a P-DATA-TF; `count` is the number seen so far, this one included.
        case dataTransfer(length: UInt32, count: Int)
        /// An A-RELEASE-RQ.
        case releaseRequest
        /// An A-RELEASE-RP.
        case releaseResponse
        /// An A-ABORT.
        case abort(AssociationAbort)
        /// Malformed bytes; `streamOffset` is where the offending PDU starts in the stream.
        /// Reported once, after which the observer ignores the rest of the stream.
        case protocolError(DICOMParseError, streamOffset: Int)

        /// The type of the PDU the event reports; `nil` for a protocol error.
        public var pduType: PDUType? {
            switch self {
            case .associateRequest: .associateRequest
            case .associateAccept: .associateAccept
            case .associateReject: .associateReject
            case .dataTransfer: .dataTransfer
            case .releaseRequest: .releaseRequest
            case .releaseResponse: .releaseResponse
            case .abort: .abort
            case .protocolError: nil
            }
        }
    }

    private enum State: Sendable {
        /// Collecting a PDU header in `pending`.
        case header
        /// Collecting a non-P-DATA PDU (header included) in `pending`.
        case buffered(PDUHeader)
        /// Skipping the rest of a P-DATA-TF body.
        case dataTransfer(remaining: UInt32)
        /// Passing over a PDU the caller parsed before it reached the stream (``passParsedPDU(totalLength:)``).
        case passing(remaining: Int)
        /// Stopped after a protocol error.
        case failed
    }

    /// Largest PDU-length field accepted for an A-ASSOCIATE-RQ or -AC.
    public let maxBufferedLength: Int
    /// P-DATA-TF PDUs seen so far.
    public private(set) var dataTransferCount = 0
    /// Bytes fed so far.
    public private(set) var bytesObserved = 0

    private var state = State.header
    private var pending = ByteBuffer()
    private var pduStart = 0

    /// Creates an observer.
    /// - Parameter maxBufferedLength: cap on the length field of a buffered A-ASSOCIATE-RQ/-AC.
    public init(maxBufferedLength: Int = 65536) {
        self.maxBufferedLength = maxBufferedLength
    }

    /// Whether a protocol error stopped the observer.
    public var hasFailed: Bool {
        if case .failed = self.state { return true }
        return false
    }

    /// Whether the stream ended cleanly between PDUs so far (nothing partial pending).
    public var isAtPDUBoundary: Bool {
        if case .header = self.state { return self.pending.readableBytes == 0 }
        return false
    }

    /// The stream's next `totalLength` bytes are a whole PDU the caller has already parsed and checked (the
    /// A-ASSOCIATE-RQ the gateway peeked and forwards): they are passed over without being copied, parsed again or
    /// reported. Only at a PDU boundary with nothing buffered; otherwise the PDU is observed as usual.
    public mutating func passParsedPDU(totalLength: Int) {
        guard case .header = self.state, self.pending.readableBytes == 0, totalLength > 0 else { return }
        self.state = .passing(remaining: totalLength)
    }

    /// Consumes the next chunk of the stream, calling `onEvent` for each event in order.
    public mutating func observe(_ chunk: ByteBuffer, _ onEvent: (Event) -> Void) {
        var chunk = chunk
        while chunk.readableBytes > 0 {
            switch self.state {
            case .failed:
                self.consume(chunk.readableBytes, of: &chunk)

            case .passing(let remaining):
                let step = min(remaining, chunk.readableBytes)
                self.consume(step, of: &chunk)
                if step == remaining {
                    self.state = .header
                    self.pduStart = self.bytesObserved
                } else {
                    self.state = .passing(remaining: remaining - step)
                }

            case .dataTransfer(let remaining):
                let step = Int(min(UInt64(remaining), UInt64(chunk.readableBytes)))
                self.consume(step, of: &chunk)
                let left = remaining - UInt32(step)
                if left == 0 {
                    self.state = .header
                    self.pduStart = self.bytesObserved
                } else {
                    self.state = .dataTransfer(remaining: left)
                }

            case .header:
                self.collect(upTo: PDUHeader.size, from: &chunk)
                do {
                    guard let header = try PDUHeader.peek(self.pending) else { continue }
                    let limit = header.type == .dataTransfer ? Int.max : self.maxBufferedLength
                    try header.validate(maxLength: limit)
                    if header.type == .dataTransfer {
                        self.pending.clear()
                        self.dataTransferCount += 1
                        self.state = .dataTransfer(remaining: header.length)
                        onEvent(.dataTransfer(length: header.length, count: self.dataTransferCount))
                    } else {
                        self.state = .buffered(header)
                    }
                } catch {
                    self.fail(error, onEvent)
                }

            case .buffered(let header):
                self.collect(upTo: header.totalLength, from: &chunk)
                guard self.pending.readableBytes == header.totalLength else { continue }
                do {
                    let event = try Self.event(header: header, pdu: self.pending)
                    self.pending.clear()
                    self.state = .header
                    self.pduStart = self.bytesObserved
                    onEvent(event)
                } catch {
                    self.fail(error, onEvent)
                }
            }
        }
    }

    /// Moves bytes from `chunk` into `pending` until `pending` holds `target` bytes.
    private mutating func collect(upTo target: Int, from chunk: inout ByteBuffer) {
        let step = min(target - self.pending.readableBytes, chunk.readableBytes)
        if let bytes = chunk.readSlice(length: step) {
            self.pending.writeImmutableBuffer(bytes)
            self.bytesObserved += step
        }
    }

    private mutating func consume(_ count: Int, of chunk: inout ByteBuffer) {
        chunk.moveReaderIndex(forwardBy: count)
        self.bytesObserved += count
    }

    private mutating func fail(_ error: DICOMParseError, _ onEvent: (Event) -> Void) {
        self.state = .failed
        self.pending = ByteBuffer()
        onEvent(.protocolError(error, streamOffset: self.pduStart))
    }

    /// Parses a complete buffered PDU (any type but P-DATA-TF) into its event.
    private static func event(header: PDUHeader, pdu: ByteBuffer) throws(DICOMParseError) -> Event {
        switch header.type {
        case .associateRequest: .associateRequest(try AssociateRequest(pdu: pdu))
        case .associateAccept: .associateAccept(try AssociateAccept(pdu: pdu))
        case .associateReject: .associateReject(AssociateReject(pdu: pdu))
        case .releaseRequest: .releaseRequest
        case .releaseResponse: .releaseResponse
        case .abort: .abort(AssociationAbort(pdu: pdu))
        case .dataTransfer: .dataTransfer(length: header.length, count: 0)  // never buffered
        }
    }
}

public import NIOCore

/// Pure state machine for the `mllp` backend health check: one test message out, one acknowledgment in.
///
/// The test message is an `NMD^N02` (application management data, v2.3+) consisting of an MSH alone.
/// All of NMD's segment groups are optional, it carries no patient or order data, and a receiver has
/// nothing to store or act on, yet any conformant receiver must still acknowledge it, echoing MSH-10
/// in MSA-2. (An `ACK` is unsuitable: receivers must not acknowledge acknowledgments.)
///
/// Use one probe per check on a fresh connection: write ``writeRequest(into:)``, feed every chunk read to
/// ``receive(_:)`` until it returns a verdict, and call ``connectionClosed()`` or ``timedOut()`` if the
/// connection ends or the deadline passes first. Never retry within a check.
public struct MLLPProbe: Sendable {
    /// What the test message says about itself. Values are written verbatim with the standard delimiters
    /// `|^~\&`, so HD components (`APP^1.2.3^ISO`) are allowed; `|`, `~`, `\` and control characters are not.
    public struct Configuration: Sendable, Hashable {
        /// MSH-3.
        public var sendingApplication: String
        /// MSH-4.
        public var sendingFacility: String
        /// MSH-5: the backend's application name, if it routes or filters on it.
        public var receivingApplication: String
        /// MSH-6.
        public var receivingFacility: String
        /// MSH-11.
        public var processingID: String
        /// MSH-12.
        public var versionID: String

        /// Creates a configuration; the defaults identify the gateway as `PACSGATE`, production, v2.5.1.
        public init(
            sendingApplication: String = "PACSGATE",
            sendingFacility: String = "",
            receivingApplication: String = "",
            receivingFacility: String = "",
            processingID: String = "P",
            versionID: String = "2.5.1"
        ) {
            self.sendingApplication = sendingApplication
            self.sendingFacility = sendingFacility
            self.receivingApplication = receivingApplication
            self.receivingFacility = receivingFacility
            self.processingID = processingID
            self.versionID = versionID
        }
    }

    /// A configuration value that cannot be written into the test message.
    public enum ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
        /// `field` (e.g. `MSH-3`) has a delimiter or control character at UTF-8 offset `offset`.
        case invalidCharacter(field: String, offset: Int)
        /// The control ID is empty.
        case emptyControlID
        /// The control ID is longer than ``MSHParser/maximumControlIDLength``.
        case controlIDTooLong(length: Int)

        /// Operator-readable text.
        public var description: String {
            switch self {
            case .invalidCharacter(let field, let offset):
                "\(field) contains a delimiter or control character at offset \(offset)"
            case .emptyControlID:
                "probe control ID is empty"
            case .controlIDTooLong(let length):
                "probe control ID of \(length) bytes exceeds \(MSHParser.maximumControlIDLength)"
            }
        }
    }

    /// The outcome of one check.
    public enum Verdict: Sendable, Hashable, CustomStringConvertible {
        /// A framed acknowledgment of the test message with MSA-1 AA or CA.
        case healthy(HL7AcknowledgmentCode)
        /// Anything else.
        case unhealthy(UnhealthyReason)

        /// Operator-readable text.
        public var description: String {
            switch self {
            case .healthy(let code): "healthy (MSA-1 \(code.rawValue))"
            case .unhealthy(let reason): "unhealthy: \(reason)"
            }
        }
    }

    /// Why a check failed, phrased for an operator.
    public enum UnhealthyReason: Sendable, Hashable, CustomStringConvertible {
        /// The reply did not start with an MLLP start block (an unframed ACK, or not an HL7 listener).
        case unframedReply(byteCount: Int, firstByte: UInt8)
        /// The reply's framing was broken.
        case framingDefect(MLLPFramingDefect)
        /// An MLLP Release 2 commit NAK (`0x0B 0x15 0x1C 0x0D`).
        case commitNegativeAcknowledgment
        /// A framed reply that is not a parsable acknowledgment.
        case invalidAcknowledgment(MSAParseError)
        /// An acknowledgment of some other message.
        case controlIDMismatch(expected: String, received: String)
        /// MSA-1 AE, AR, CE or CR, with MSA-3 if present.
        case negativeAcknowledgment(HL7AcknowledgmentCode, text: String?)
        /// The connection closed before a complete reply.
        case closedBeforeReply(receivedBytes: Int)
        /// The deadline passed before a complete reply.
        case timedOut(receivedBytes: Int)

        /// Operator-readable text.
        public var description: String {
            switch self {
            case .unframedReply(let byteCount, let firstByte):
                "reply is not MLLP-framed: \(byteCount) byte(s) before any start block, first byte "
                    + "\(DiagnosticRendering.hex(firstByte))"
                    + (firstByte == UInt8(ascii: "M") ? " (an unframed HL7 message?)" : "")
            case .framingDefect(let defect):
                "reply framing defect: \(defect)"
            case .commitNegativeAcknowledgment:
                "MLLP commit NAK (0x15)"
            case .invalidAcknowledgment(let error):
                "reply is not a valid acknowledgment: \(error)"
            case .controlIDMismatch(let expected, let received):
                "acknowledgment is for control ID \"\(received)\", expected \"\(expected)\""
            case .negativeAcknowledgment(let code, let text):
                "negative acknowledgment \(code.rawValue)" + (text.map { ": \($0)" } ?? "")
            case .closedBeforeReply(let receivedBytes):
                "connection closed before a complete reply (\(receivedBytes) byte(s) received)"
            case .timedOut(let receivedBytes):
                "no complete reply before the deadline (\(receivedBytes) byte(s) received)"
            }
        }
    }

    /// Largest acknowledgment payload accepted.
    static let maximumReplyBytes = 64 * 1024

    /// MSH-10 of the test message; the reply's MSA-2 must equal it.
    public let controlID: String
    private let configuration: Configuration
    private let timestamp: HL7Timestamp
    private var scanner = MLLPFrameScanner(maximumMessageBytes: Self.maximumReplyBytes)
    private var verdict: Verdict?

    /// Creates a probe for one check.
    ///
    /// - Parameters:
    ///   - configuration: MSH values of the test message.
    ///   - controlID: a control ID unique to this check (e.g. `PGW` + node + counter); no delimiters.
    ///   - timestamp: MSH-7.
    public init(
        configuration: Configuration = Configuration(),
        controlID: String,
        timestamp: HL7Timestamp
    ) throws(ConfigurationError) {
        try Self.validate(configuration.sendingApplication, field: "MSH-3", allowComponents: true)
        try Self.validate(configuration.sendingFacility, field: "MSH-4", allowComponents: true)
        try Self.validate(configuration.receivingApplication, field: "MSH-5", allowComponents: true)
        try Self.validate(configuration.receivingFacility, field: "MSH-6", allowComponents: true)
        try Self.validate(configuration.processingID, field: "MSH-11", allowComponents: true)
        try Self.validate(configuration.versionID, field: "MSH-12", allowComponents: true)
        guard !controlID.isEmpty else { throw .emptyControlID }
        guard controlID.utf8.count <= MSHParser.maximumControlIDLength else {
            throw .controlIDTooLong(length: controlID.utf8.count)
        }
        try Self.validate(controlID, field: "MSH-10", allowComponents: false)
        self.configuration = configuration
        self.controlID = controlID
        self.timestamp = timestamp
    }

    /// Writes the framed test message into `buffer`.
    ///
    /// - Returns: the number of bytes written.
    @discardableResult
    public func writeRequest(into buffer: inout ByteBuffer) -> Int {
        let configuration = self.configuration
        let version = HL7Version(ascii: configuration.versionID.utf8.prefix { $0 != UInt8(ascii: "^") })
        let isV231OrLater = version.map { $0 >= .v2_3_1 } ?? true
        let start = buffer.writerIndex
        buffer.writeInteger(MLLPFrameScanner.startBlock)
        GeneratedMSH(
            sendingApplication: configuration.sendingApplication, sendingFacility: configuration.sendingFacility,
            receivingApplication: configuration.receivingApplication, receivingFacility: configuration.receivingFacility,
            timestamp: self.timestamp, messageType: isV231OrLater ? "NMD^N02^NMD_N02" : "NMD^N02",
            controlID: self.controlID, processingID: configuration.processingID, versionID: configuration.versionID
        ).write(into: &buffer)
        buffer.writeMultipleIntegers(MLLPFrameScanner.endBlock, MLLPFrameScanner.carriageReturn)
        return buffer.writerIndex - start
    }

    /// Consumes reply bytes.
    ///
    /// - Returns: the verdict once the reply decides it (later calls return it again and discard their
    ///   bytes), or `nil` while more bytes are needed. Filler bytes and MLLP R2 commit ACKs are skipped.
    public mutating func receive(_ chunk: inout ByteBuffer) -> Verdict? {
        if let verdict = self.verdict {
            chunk.moveReaderIndex(to: chunk.writerIndex)
            return verdict
        }
        while let event = self.scanner.next(from: &chunk) {
            let verdict: Verdict
            switch event {
            case .defect(let defect) where defect.isTolerable:
                continue
            case .defect(.dataBeforeStartBlock(_, let byteCount, let firstByte)):
                verdict = .unhealthy(.unframedReply(byteCount: byteCount, firstByte: firstByte))
            case .defect(let defect):
                verdict = .unhealthy(.framingDefect(defect))
            case .frame(let frame):
                guard let frameVerdict = self.judge(frame.payload) else { continue }
                verdict = frameVerdict
            }
            self.verdict = verdict
            chunk.moveReaderIndex(to: chunk.writerIndex)
            return verdict
        }
        return nil
    }

    /// The connection ended; returns the verdict (unhealthy unless one was already reached).
    public mutating func connectionClosed() -> Verdict {
        self.conclude(.unhealthy(.closedBeforeReply(receivedBytes: self.scanner.streamOffset)))
    }

    /// The check's deadline passed; returns the verdict (unhealthy unless one was already reached).
    public mutating func timedOut() -> Verdict {
        self.conclude(.unhealthy(.timedOut(receivedBytes: self.scanner.streamOffset)))
    }

    // MARK: - Helpers

    /// The verdict for one reply frame, or `nil` for an MLLP R2 commit ACK (the HL7 ACK follows it).
    private func judge(_ payload: ByteBuffer) -> Verdict? {
        if payload.readableBytesView.elementsEqual(CollectionOfOne(0x06)) { return nil }
        if payload.readableBytesView.elementsEqual(CollectionOfOne(0x15)) {
            return .unhealthy(.commitNegativeAcknowledgment)
        }
        let acknowledgment: HL7Acknowledgment
        do {
            acknowledgment = try MSAParser.parse(payload)
        } catch {
            return .unhealthy(.invalidAcknowledgment(error))
        }
        guard acknowledgment.acknowledgedControlID == self.controlID else {
            return .unhealthy(
                .controlIDMismatch(expected: self.controlID, received: acknowledgment.acknowledgedControlID)
            )
        }
        guard acknowledgment.code.isPositive else {
            return .unhealthy(.negativeAcknowledgment(acknowledgment.code, text: acknowledgment.textMessage))
        }
        return .healthy(acknowledgment.code)
    }

    private mutating func conclude(_ fallback: Verdict) -> Verdict {
        if let verdict = self.verdict { return verdict }
        self.verdict = fallback
        return fallback
    }

    private static func validate(_ value: String, field: String, allowComponents: Bool) throws(ConfigurationError) {
        for (offset, byte) in value.utf8.enumerated() {
            let isForbidden: Bool
            switch byte {
            case 0x00..<0x20, 0x7F, UInt8(ascii: "|"), UInt8(ascii: "~"), UInt8(ascii: "\\"): isForbidden = true
            case UInt8(ascii: "^"), UInt8(ascii: "&"): isForbidden = !allowComponents
            default: isForbidden = false
            }
            if isForbidden { throw .invalidCharacter(field: field, offset: offset) }
        }
    }
}

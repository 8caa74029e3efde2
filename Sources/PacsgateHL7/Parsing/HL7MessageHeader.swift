import NIOCore

/// The MSH segment of one HL7 v2 message, as parsed by ``MSHParser``.
///
/// The header keeps a view of the MSH bytes (no copy) and the positions of the fields the gateway
/// uses; each accessor decodes its field on demand. Field values are returned in wire form: escape
/// sequences such as `\F\` are not decoded and components stay joined with the message's component
/// separator. MSH never carries patient data, so every value here may be logged.
///
/// Because it views the payload's storage, a header keeps the whole received buffer alive: use it while
/// handling the message and keep only the strings you need (e.g. ``controlID`` in an ``AckMatcher``).
public struct HL7MessageHeader: Sendable, Hashable, CustomStringConvertible {
    /// Positions (relative to the start of the segment) of the fields the gateway reads.
    struct FieldSpans: Hashable, Sendable {
        var encodingCharacters = 0..<0
        var sendingApplication = 0..<0
        var sendingFacility = 0..<0
        var receivingApplication = 0..<0
        var receivingFacility = 0..<0
        var dateTimeOfMessage = 0..<0
        var messageType = 0..<0
        var controlID = 0..<0
        var processingID = 0..<0
        var versionID = 0..<0
        var acceptAcknowledgmentType = 0..<0
        var applicationAcknowledgmentType = 0..<0

        mutating func record(field number: Int, _ span: Range<Int>) {
            switch number {
            case 3: self.sendingApplication = span
            case 4: self.sendingFacility = span
            case 5: self.receivingApplication = span
            case 6: self.receivingFacility = span
            case 7: self.dateTimeOfMessage = span
            case 9: self.messageType = span
            case 10: self.controlID = span
            case 11: self.processingID = span
            case 12: self.versionID = span
            case 15: self.acceptAcknowledgmentType = span
            case 16: self.applicationAcknowledgmentType = span
            default: break
            }
        }
    }

    /// The MSH segment without its terminator.
    let segment: ByteBuffer
    let spans: FieldSpans
    /// Offset (from the start of the payload) of the byte after the MSH terminator.
    let nextSegmentOffset: Int

    /// MSH-1 and MSH-2.
    public let delimiters: HL7Delimiters
    /// How the MSH segment was terminated; anything but ``HL7SegmentTerminator/carriageReturn`` is a defect to report.
    public let segmentTerminator: HL7SegmentTerminator

    init(
        segment: ByteBuffer,
        spans: FieldSpans,
        nextSegmentOffset: Int,
        delimiters: HL7Delimiters,
        segmentTerminator: HL7SegmentTerminator
    ) {
        self.segment = segment
        self.spans = spans
        self.nextSegmentOffset = nextSegmentOffset
        self.delimiters = delimiters
        self.segmentTerminator = segmentTerminator
    }

    /// MSH-3 sending application (HD), e.g. `RIS`.
    public var sendingApplication: String { self.string(self.spans.sendingApplication) }
    /// MSH-4 sending facility (HD).
    public var sendingFacility: String { self.string(self.spans.sendingFacility) }
    /// MSH-5 receiving application (HD).
    public var receivingApplication: String { self.string(self.spans.receivingApplication) }
    /// MSH-6 receiving facility (HD).
    public var receivingFacility: String { self.string(self.spans.receivingFacility) }
    /// MSH-7 date/time of message, unparsed (e.g. `20250101120000+0100`).
    public var dateTimeOfMessage: String { self.string(self.spans.dateTimeOfMessage) }
    /// MSH-9 message type in full, e.g. `ADT^A01^ADT_A01`.
    public var messageType: String { self.string(self.spans.messageType) }
    /// MSH-9.1 message code, e.g. `ADT`.
    public var messageCode: String { self.string(self.component(1, of: self.spans.messageType)) }
    /// MSH-9.2 trigger event, e.g. `A01`; empty when absent.
    public var triggerEvent: String { self.string(self.component(2, of: self.spans.messageType)) }
    /// MSH-9.3 message structure, e.g. `ADT_A01`; empty when absent (always before v2.3.1).
    public var messageStructure: String { self.string(self.component(3, of: self.spans.messageType)) }
    /// MSH-10 message control ID; never empty. An acknowledgment echoes it in MSA-2.
    public var controlID: String { self.string(self.spans.controlID) }
    /// MSH-11 processing ID in full (`P`, `T`, `D`, optionally `^` processing mode).
    public var processingID: String { self.string(self.spans.processingID) }
    /// MSH-12 version ID in full, e.g. `2.5.1`.
    public var versionID: String { self.string(self.spans.versionID) }
    /// MSH-15 accept acknowledgment type (`AL`, `NE`, `ER`, `SU`); empty in original mode.
    public var acceptAcknowledgmentType: String { self.string(self.spans.acceptAcknowledgmentType) }
    /// MSH-16 application acknowledgment type (`AL`, `NE`, `ER`, `SU`); empty in original mode.
    public var applicationAcknowledgmentType: String { self.string(self.spans.applicationAcknowledgmentType) }

    /// `true` when MSH-15 asks for accept (commit) acknowledgments, i.e. it is present and not `NE`.
    ///
    /// Acknowledgments generated for such a message use the commit codes CA/CE/CR (v2.5.1 §2.9.3).
    public var requestsAcceptAcknowledgment: Bool {
        let span = self.spans.acceptAcknowledgmentType
        guard !span.isEmpty else { return false }
        return !self.field(span).elementsEqual("NE".utf8)
    }

    /// The version from the first component of MSH-12, if it is numeric.
    var version: HL7Version? {
        HL7Version(ascii: self.field(self.component(1, of: self.spans.versionID)))
    }

    /// A one-line summary for logs (MSH fields only).
    public var description: String {
        "MSH type=\(self.messageType) control-id=\(self.controlID) "
            + "from=\(self.sendingApplication)/\(self.sendingFacility) "
            + "to=\(self.receivingApplication)/\(self.receivingFacility) "
            + "processing=\(self.processingID) version=\(self.versionID)"
    }

    /// The bytes of a span of the segment.
    func field(_ span: Range<Int>) -> ByteBufferView {
        let view = self.segment.readableBytesView
        return view[(view.startIndex + span.lowerBound)..<(view.startIndex + span.upperBound)]
    }

    /// The span of component `number` (1-based) of the field at `span`; empty if the field has fewer components.
    func component(_ number: Int, of span: Range<Int>) -> Range<Int> {
        var current = 1
        var start = span.lowerBound
        for (position, byte) in zip(span, self.field(span)) where byte == self.delimiters.component {
            if current == number { return start..<position }
            current += 1
            start = position + 1
        }
        return current == number ? start..<span.upperBound : span.upperBound..<span.upperBound
    }

    private func string(_ span: Range<Int>) -> String {
        String(decoding: self.field(span), as: UTF8.self)
    }
}

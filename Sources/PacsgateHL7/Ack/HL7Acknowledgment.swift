/// An acknowledgment message as parsed by ``MSAParser``: its own MSH and its MSA segment.
public struct HL7Acknowledgment: Sendable, Hashable, CustomStringConvertible {
    /// The acknowledgment's own MSH.
    public let header: HL7MessageHeader
    /// MSA-1.
    public let code: HL7AcknowledgmentCode
    /// MSA-2 in wire form: the MSH-10 of the message being acknowledged.
    public let acknowledgedControlID: String
    /// MSA-3 text message in wire form, `nil` when absent or empty (deprecated since v2.5 in favour of ERR).
    public let textMessage: String?

    init(header: HL7MessageHeader, code: HL7AcknowledgmentCode, acknowledgedControlID: String, textMessage: String?) {
        self.header = header
        self.code = code
        self.acknowledgedControlID = acknowledgedControlID
        self.textMessage = textMessage
    }

    /// A one-line summary for logs.
    public var description: String {
        "MSA code=\(self.code.rawValue) acknowledges=\(self.acknowledgedControlID) control-id=\(self.header.controlID)"
    }
}

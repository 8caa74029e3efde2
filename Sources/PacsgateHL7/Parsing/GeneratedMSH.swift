import NIOCore

/// The MSH segment of a message the gateway writes from scratch (the health probe's test message, the NAK of input
/// whose own MSH could not be read), with the standard delimiters `|^~\&`.
///
/// An acknowledgment of a readable message is not written with this: it mirrors that message's delimiters and
/// copies its fields as they came (``HL7AckBuilder/writeAcknowledgment(replyingTo:code:error:controlID:timestamp:into:)``).
struct GeneratedMSH {
    /// MSH-3…6, written as given: the caller has checked them against the delimiters (or they are the gateway's own).
    var sendingApplication: String
    var sendingFacility = ""
    var receivingApplication = ""
    var receivingFacility = ""
    var timestamp: HL7Timestamp
    /// MSH-9, components included (`ACK`, `NMD^N02^NMD_N02`).
    var messageType: String
    /// MSH-10, escaped as it is written.
    var controlID: String
    var processingID = "P"
    var versionID: String

    /// Writes the segment and its carriage return.
    func write(into buffer: inout ByteBuffer) {
        buffer.writeString("MSH|^~\\&|")
        for field in [self.sendingApplication, self.sendingFacility, self.receivingApplication, self.receivingFacility] {
            buffer.writeString(field)
            buffer.writeString("|")
        }
        self.timestamp.write(into: &buffer)
        buffer.writeString("||")
        buffer.writeString(self.messageType)
        buffer.writeString("|")
        buffer.writeHL7Escaped(self.controlID, delimiters: .standard)
        buffer.writeString("|")
        buffer.writeString(self.processingID)
        buffer.writeString("|")
        buffer.writeString(self.versionID)
        buffer.writeInteger(MLLPFrameScanner.carriageReturn)
    }
}

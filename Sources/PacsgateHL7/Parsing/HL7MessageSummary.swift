/// The MSH values of one message that its audit record and log lines carry.
///
/// Only MSH is read, so nothing here is patient data. Values are copied out of the received bytes (a
/// header would keep the whole read buffer alive until the message's ACK arrives) and kept in wire form
/// (escape sequences undecoded, components joined by the message's own separator).
public struct HL7MessageSummary: Sendable, Hashable {
    /// MSH-3.
    public var sendingApplication: String
    /// MSH-4.
    public var sendingFacility: String
    /// MSH-5.
    public var receivingApplication: String
    /// MSH-6.
    public var receivingFacility: String
    /// MSH-9 in full, e.g. `ORM^O01^ORM_O01`.
    public var messageType: String
    /// MSH-10.
    public var controlID: String
    /// MSH-12.
    public var version: String

    /// Creates a summary from explicit values.
    public init(
        sendingApplication: String,
        sendingFacility: String,
        receivingApplication: String,
        receivingFacility: String,
        messageType: String,
        controlID: String,
        version: String
    ) {
        self.sendingApplication = sendingApplication
        self.sendingFacility = sendingFacility
        self.receivingApplication = receivingApplication
        self.receivingFacility = receivingFacility
        self.messageType = messageType
        self.controlID = controlID
        self.version = version
    }

    /// Copies the values out of a parsed header.
    public init(_ header: HL7MessageHeader) {
        self.init(
            sendingApplication: header.sendingApplication,
            sendingFacility: header.sendingFacility,
            receivingApplication: header.receivingApplication,
            receivingFacility: header.receivingFacility,
            messageType: header.messageType,
            controlID: header.controlID,
            version: header.versionID
        )
    }
}

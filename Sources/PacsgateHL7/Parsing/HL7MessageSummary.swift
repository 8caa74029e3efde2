public import PacsgateAuditRecords

extension HL7MessageSummary {
    /// Copies the values out of a parsed header (``HL7MessageSummary`` is defined with the audit record types, which
    /// carry it).
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

import NIOCore

/// Synthetic HL7 messages for the gateway tests. The PID segment carries a marker so tests can prove that
/// no byte of it ever reaches a log line or an audit record.
enum HL7Samples {
    /// Appears only in PID (patient data): must never be logged or audited.
    static let patientMarker = "SENTINELPATIENT"

    /// An ORM^O01 v2.5.1 from RIS/HOSP to PACS/MACH7 (original mode).
    static func order(_ controlID: String, finalCarriageReturn: Bool = true) -> String {
        "MSH|^~\\&|RIS|HOSP|PACS|MACH7|20250101115959||ORM^O01^ORM_O01|\(controlID)|P|2.5.1\r"
            + "PID|1||MRN-\(patientMarker)^^^SYN^MR||\(patientMarker)^ALPHA||19700101|U\r"
            + "ORC|NW|PLC-\(controlID)" + (finalCarriageReturn ? "\r" : "")
    }

    /// Message `index` of a mixed feed: ADT^A01 v2.3, ORM^O01 v2.5.1 and ORU^R01 v2.5.1 from two senders.
    /// Without a final CR, as `mllp_send` sends them (it strips each message's trailing CR).
    static func feedMessage(_ index: Int) -> (text: String, header: Header) {
        let controlID = "MSG" + String(repeating: "0", count: 6 - String(index).count) + String(index)
        let header: Header
        switch index % 3 {
        case 0:
            header = Header(
                sendingApp: "REGADT",
                sendingFacility: "SYNTHHOSP",
                receivingApp: "PACS",
                receivingFacility: "MACH7",
                messageType: "ADT^A01",
                controlID: controlID,
                version: "2.3"
            )
        case 1:
            header = Header(
                sendingApp: "RIS",
                sendingFacility: "SYNTHHOSP",
                receivingApp: "PACS",
                receivingFacility: "MACH7",
                messageType: "ORM^O01^ORM_O01",
                controlID: controlID,
                version: "2.5.1"
            )
        default:
            header = Header(
                sendingApp: "RIS",
                sendingFacility: "RADIOLOGY",
                receivingApp: "MACH7",
                receivingFacility: "SITE-A",
                messageType: "ORU^R01^ORU_R01",
                controlID: controlID,
                version: "2.5.1"
            )
        }
        let text =
            "MSH|^~\\&|\(header.sendingApp)|\(header.sendingFacility)|\(header.receivingApp)|"
            + "\(header.receivingFacility)|20250101120000||\(header.messageType)|\(controlID)|P|\(header.version)\r"
            + "PID|1||MRN\(index)^^^SYN^MR||\(patientMarker)^N\(index)||19700101|U\r"
            + "OBR|1|PLC\(index)|FIL\(index)|CTHEAD^CT HEAD^L"
        return (text, header)
    }

    struct Header {
        var sendingApp: String
        var sendingFacility: String
        var receivingApp: String
        var receivingFacility: String
        var messageType: String
        var controlID: String
        var version: String
    }
}

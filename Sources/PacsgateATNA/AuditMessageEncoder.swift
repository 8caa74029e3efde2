/// Renders an ``AuditMessage`` as the XML of the DICOM Audit Message Schema (PS3.15 §A.5.1), UTF-8 without a byte
/// order mark, on one line.
///
/// Written by hand: the element order is fixed by the schema, and every value is escaped here — `&`, `<`, `>`, `"`
/// become entities; tab, CR and LF become character references (so a value cannot break the line or be normalised
/// away); the other C0 controls, which XML 1.0 cannot carry at all, are written as the text `\xNN`; DEL too.
/// Detail values are base64 (`xsd:base64Binary`), whatever bytes they hold.
public enum AuditMessageEncoder {
    /// The XML declaration every message starts with.
    static let declaration = #"<?xml version="1.0" encoding="UTF-8"?>"#

    /// The message as UTF-8 bytes.
    public static func encode(_ message: AuditMessage) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        out.append(contentsOf: Self.declaration.utf8)
        out.append(contentsOf: "<AuditMessage>".utf8)
        Self.event(message.event, into: &out)
        for participant in message.participants {
            Self.participant(participant, into: &out)
        }
        Self.source(message.source, into: &out)
        for object in message.objects {
            Self.object(object, into: &out)
        }
        out.append(contentsOf: "</AuditMessage>".utf8)
        return out
    }

    /// The message as a string (tests, docs).
    public static func string(_ message: AuditMessage) -> String {
        String(decoding: Self.encode(message), as: UTF8.self)
    }

    // MARK: elements, in schema order

    private static func event(_ event: EventIdentification, into out: inout [UInt8]) {
        out.append(contentsOf: "<EventIdentification".utf8)
        Self.attribute("EventActionCode", event.action.rawValue, into: &out)
        Self.attribute("EventDateTime", event.time.iso8601, into: &out)
        Self.attribute("EventOutcomeIndicator", String(event.outcome.rawValue), into: &out)
        out.append(UInt8(ascii: ">"))
        Self.coded("EventID", event.id, into: &out)
        for type in event.types {
            Self.coded("EventTypeCode", type, into: &out)
        }
        if let description = event.outcomeDescription {
            out.append(contentsOf: "<EventOutcomeDescription>".utf8)
            Self.escape(description, into: &out)
            out.append(contentsOf: "</EventOutcomeDescription>".utf8)
        }
        out.append(contentsOf: "</EventIdentification>".utf8)
    }

    private static func participant(_ participant: ActiveParticipant, into out: inout [UInt8]) {
        out.append(contentsOf: "<ActiveParticipant".utf8)
        Self.attribute("UserID", participant.userID, into: &out)
        if let alternative = participant.alternativeUserID { Self.attribute("AlternativeUserID", alternative, into: &out) }
        if let name = participant.userName { Self.attribute("UserName", name, into: &out) }
        Self.attribute("UserIsRequestor", participant.isRequestor ? "true" : "false", into: &out)
        switch participant.networkAccessPoint {
        case .machineName(let name)?:
            Self.attribute("NetworkAccessPointID", name, into: &out)
            Self.attribute("NetworkAccessPointTypeCode", "1", into: &out)
        case .ipAddress(let address)?:
            Self.attribute("NetworkAccessPointID", address, into: &out)
            Self.attribute("NetworkAccessPointTypeCode", "2", into: &out)
        case nil:
            break
        }
        if participant.roles.isEmpty {
            out.append(contentsOf: "/>".utf8)
            return
        }
        out.append(UInt8(ascii: ">"))
        for role in participant.roles {
            Self.coded("RoleIDCode", role, into: &out)
        }
        out.append(contentsOf: "</ActiveParticipant>".utf8)
    }

    private static func source(_ source: AuditSource, into out: inout [UInt8]) {
        out.append(contentsOf: "<AuditSourceIdentification".utf8)
        if let site = source.siteID { Self.attribute("AuditEnterpriseSiteID", site, into: &out) }
        Self.attribute("AuditSourceID", source.id, into: &out)
        if source.typeCodes.isEmpty {
            out.append(contentsOf: "/>".utf8)
            return
        }
        out.append(UInt8(ascii: ">"))
        for code in source.typeCodes {
            out.append(contentsOf: "<AuditSourceTypeCode".utf8)
            Self.attribute("csd-code", code, into: &out)
            out.append(contentsOf: "/>".utf8)
        }
        out.append(contentsOf: "</AuditSourceIdentification>".utf8)
    }

    private static func object(_ object: ParticipantObject, into out: inout [UInt8]) {
        out.append(contentsOf: "<ParticipantObjectIdentification".utf8)
        Self.attribute("ParticipantObjectID", object.id, into: &out)
        if let type = object.typeCode { Self.attribute("ParticipantObjectTypeCode", String(type.rawValue), into: &out) }
        if let role = object.role { Self.attribute("ParticipantObjectTypeCodeRole", String(role), into: &out) }
        out.append(UInt8(ascii: ">"))
        Self.coded("ParticipantObjectIDTypeCode", object.idType, into: &out)
        out.append(contentsOf: "<ParticipantObjectName>".utf8)
        Self.escape(object.name, into: &out)
        out.append(contentsOf: "</ParticipantObjectName>".utf8)
        for detail in object.details {
            out.append(contentsOf: "<ParticipantObjectDetail".utf8)
            Self.attribute("type", detail.type, into: &out)
            out.append(contentsOf: #" value=""#.utf8)
            Base64.encode(detail.value, into: &out)
            out.append(contentsOf: #""/>"#.utf8)
        }
        out.append(contentsOf: "</ParticipantObjectIdentification>".utf8)
    }

    private static func coded(_ element: String, _ value: CodedValue, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "<"))
        out.append(contentsOf: element.utf8)
        Self.attribute("csd-code", value.code, into: &out)
        Self.attribute("codeSystemName", value.codingScheme, into: &out)
        Self.attribute("originalText", value.meaning, into: &out)
        out.append(contentsOf: "/>".utf8)
    }

    // MARK: escaping

    private static func attribute(_ name: String, _ value: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: name.utf8)
        out.append(contentsOf: #"=""#.utf8)
        Self.escape(value, into: &out)
        out.append(UInt8(ascii: "\""))
    }

    /// Appends `text` escaped for both attribute values and element content.
    static func escape(_ text: String, into out: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "&"): out.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): out.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): out.append(contentsOf: "&gt;".utf8)
            case UInt8(ascii: "\""): out.append(contentsOf: "&quot;".utf8)
            case UInt8(ascii: "\t"): out.append(contentsOf: "&#9;".utf8)
            case UInt8(ascii: "\n"): out.append(contentsOf: "&#10;".utf8)
            case UInt8(ascii: "\r"): out.append(contentsOf: "&#13;".utf8)
            case 0..<0x20, 0x7f:
                // Not representable in XML 1.0, not even as a character reference.
                out.append(contentsOf: #"\x"#.utf8)
                out.append(Self.hexDigit(byte >> 4))
                out.append(Self.hexDigit(byte & 0xf))
            default:
                out.append(byte)
            }
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "A") + value - 10
    }
}

/// Standard base64 (RFC 4648 §4) with padding, for `xsd:base64Binary`.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8], into out: inout [UInt8]) {
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out.append(Self.alphabet[Int(chunk >> 18 & 0x3f)])
            out.append(Self.alphabet[Int(chunk >> 12 & 0x3f)])
            out.append(Self.alphabet[Int(chunk >> 6 & 0x3f)])
            out.append(Self.alphabet[Int(chunk & 0x3f)])
            index += 3
        }
        switch bytes.count - index {
        case 1:
            let chunk = UInt32(bytes[index]) << 16
            out.append(Self.alphabet[Int(chunk >> 18 & 0x3f)])
            out.append(Self.alphabet[Int(chunk >> 12 & 0x3f)])
            out.append(contentsOf: "==".utf8)
        case 2:
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out.append(Self.alphabet[Int(chunk >> 18 & 0x3f)])
            out.append(Self.alphabet[Int(chunk >> 12 & 0x3f)])
            out.append(Self.alphabet[Int(chunk >> 6 & 0x3f)])
            out.append(UInt8(ascii: "="))
        default:
            break
        }
    }

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        Self.encode(bytes, into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

public import PacsgateCore

/// RFC 5424 syslog messages carrying DICOM audit messages (PS3.15 §A.6), and their RFC 5425/6587 octet-counting frame.
///
/// `<85>1 2026-11-25T22:13:55.412Z host pacsgate 1234 IHE+RFC-3881 - <?xml …>`: facility 10 (security/authorization),
/// severity 5 (notice); no structured data; the XML as MSG, UTF-8 without a byte order mark (IHE CP-ITI-1003).
public struct SyslogFrame: Sendable {
    /// `HOSTNAME`: 1…255 printable US-ASCII characters, no spaces (anything else becomes `_`).
    public var hostname: String
    /// `APP-NAME` (≤ 48 characters).
    public var appName: String
    /// `PROCID` (≤ 128 characters).
    public var processID: String
    /// `MSGID`, `IHE+RFC-3881` as the IHE profiles use.
    public var messageID: String

    /// Priority 85 = facility 10 × 8 + severity 5.
    public static let priority = 85

    public init(hostname: String, appName: String = "pacsgate", processID: String, messageID: String = "IHE+RFC-3881") {
        self.hostname = Self.printable(hostname, limit: 255)
        self.appName = Self.printable(appName, limit: 48)
        self.processID = Self.printable(processID, limit: 128)
        self.messageID = Self.printable(messageID, limit: 32)
    }

    /// The syslog message (no framing).
    public func message(_ payload: [UInt8], time: WallClock.Instant) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 96)
        out.append(contentsOf: "<\(Self.priority)>1 \(time.iso8601) \(self.hostname) \(self.appName) \(self.processID) \(self.messageID) - ".utf8)
        out.append(contentsOf: payload)
        return out
    }

    /// Octet counting (RFC 5425 §4.3): `MSG-LEN SP SYSLOG-MSG`.
    public static func octetCounted(_ message: [UInt8]) -> [UInt8] {
        var out = Array("\(message.count) ".utf8)
        out.append(contentsOf: message)
        return out
    }

    private static func printable(_ text: String, limit: Int) -> String {
        let mapped = text.utf8.prefix(limit).map { byte -> UInt8 in
            (33...126).contains(byte) ? byte : UInt8(ascii: "_")
        }
        return mapped.isEmpty ? "-" : String(decoding: mapped, as: UTF8.self)
    }
}

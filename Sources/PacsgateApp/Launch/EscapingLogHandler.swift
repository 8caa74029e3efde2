import Logging
import PacsgateAdmin

#if canImport(Glibc)
import Glibc
#endif

/// The executable's log handler: swift-log's `StreamLogHandler` line format on standard error, with every control
/// character escaped. Under journald each line starts with its level as a syslog priority (`<4>warning …`, which
/// journald takes as the entry's priority) instead of a timestamp, which journald records itself.
///
/// `StreamLogHandler` prints messages and metadata values raw, so a CR/LF, an ANSI escape or a NUL in a value taken
/// from the wire (an AE title, an HL7 field, an SNI name, a client's bytes quoted in an error) could forge or hide a
/// log line. Here every C0 control, DEL, C1 control and U+2028/U+2029 in the message, the metadata keys and values and
/// the source becomes a visible escape (`\n`, `\r`, `\t`, `\u{1B}`); each record is exactly one line.
///
/// Metadata is written as `key=value` pairs (logfmt). A value that contains a space, `=`, `"` or a control character
/// is written in double quotes with `\\` and `\"` escaped, so a value taken from the wire (an HL7 field such as
/// `ADT A01 conn.client=10.0.0.9`) stays one value and cannot fake further fields; a single word stays bare.
struct EscapingLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    /// What starts each line: a timestamp, or the syslog priority for journald.
    let lineStart: LineStart
    /// Receives each finished line (newline included). Standard error by default; tests capture it.
    let output: @Sendable (String) -> Void
    /// Also keeps each line for the admin's logs page (`logging.recent_lines`).
    let recent: RecentLogLines?

    enum LineStart: Sendable {
        /// `2026-11-25T20:17:51+0000 notice pacsgate: …`
        case timestamp
        /// `<5>notice pacsgate: …` (journald reads the prefix as the priority and adds its own timestamp).
        case syslogPriority
    }

    init(
        label: String, lineStart: LineStart = .timestamp, recent: RecentLogLines? = nil,
        output: @escaping @Sendable (String) -> Void = EscapingLogHandler.writeToStandardError
    ) {
        self.label = label
        self.lineStart = lineStart
        self.recent = recent
        self.output = output
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = self.metadata
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        if let error = event.error, merged["error"] == nil { merged["error"] = "\(error)" }
        let pretty = merged.sorted { $0.key < $1.key }
            .map { "\(Self.escape($0.key))=\(Self.value("\($0.value)"))" }
            .joined(separator: " ")
        let start =
            switch self.lineStart {
            case .timestamp: "\(Self.timestamp()) "
            case .syslogPriority: "<\(Self.syslogPriority(event.level))>"
            }
        let rest =
            "\(event.level) \(Self.escape(self.label)):\(pretty.isEmpty ? "" : " \(pretty)") "
            + "[\(Self.escape(event.source))] \(Self.escape("\(event.message)"))"
        self.output(start + rest + "\n")
        // The logs page shows a time on every line, also when the journal gets the priority prefix instead.
        self.recent?.append(level: event.level, self.lineStart == .timestamp ? start + rest : "\(Self.timestamp()) " + rest)
    }

    /// syslog's priority for a level (RFC 5424: 2 critical … 7 debug); swift-log's `trace` is below debug.
    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Whether standard error is the journal: `JOURNAL_STREAM` (`DEVICE:INODE`, set by systemd for a service whose
    /// output goes to journald) names the stream standard error is, as systemd.exec(5) advises to check — a child
    /// whose output was redirected inherits the variable but not the stream.
    static func standardErrorIsJournal(environment: [String: String]) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// `text` with every control character (C0, DEL, C1, line and paragraph separators) made visible.
    static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: Self.needsEscape) else { return text }
        var escaped = ""
        escaped.unicodeScalars.reserveCapacity(text.unicodeScalars.count + 8)
        for scalar in text.unicodeScalars { Self.append(scalar, to: &escaped) }
        return escaped
    }

    /// Appends `scalar`, made visible when it is a control character.
    private static func append(_ scalar: Unicode.Scalar, to text: inout String) {
        switch scalar {
        case "\n": text += "\\n"
        case "\r": text += "\\r"
        case "\t": text += "\\t"
        case _ where Self.needsEscape(scalar): text += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
        default: text.unicodeScalars.append(scalar)
        }
    }

    /// A metadata value as logfmt writes it: bare when it is one plain word, otherwise in double quotes with `\\`,
    /// `\"` and every control character escaped.
    static func value(_ text: String) -> String {
        guard text.isEmpty || text.unicodeScalars.contains(where: Self.needsQuotes) else { return text }
        var quoted = "\""
        quoted.unicodeScalars.reserveCapacity(text.unicodeScalars.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": quoted += "\\\\"
            case "\"": quoted += "\\\""
            default: Self.append(scalar, to: &quoted)
            }
        }
        return quoted + "\""
    }

    private static func needsQuotes(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "=" || scalar == "\"" || Self.needsEscape(scalar)
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// One `write(2)` per line (unbuffered, like `StreamLogHandler`'s locked stream): lines from different threads
    /// do not interleave.
    static let writeToStandardError: @Sendable (String) -> Void = { line in
        var bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return -1 }
                return write(STDERR_FILENO, base + offset, buffer.count - offset)
            }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }

    private static func timestamp() -> String {
        var buffer = [Int8](repeating: 0, count: 64)
        var now = time(nil)
        var local = tm()
        guard localtime_r(&now, &local) != nil else { return "<unknown>" }
        let length = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

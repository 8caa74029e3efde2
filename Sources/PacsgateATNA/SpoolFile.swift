import Foundation
import PacsgateCore

/// The on-disk spool: the audit messages waiting for the repository, so a gateway restart does not lose them.
///
/// One record per line: `<queued-at-ms> <length> <syslog message>\n` (the message is one line: the encoder escapes
/// line breaks). Appended while the repository is unreachable, rewritten whole on shutdown with whatever is still
/// queued, emptied once everything has been sent. A record torn by a crash ends the file when it is read back. A
/// crash after part of the spool was sent sends that part again on the next start (at least once).
struct SpoolFile {
    let path: String

    init(path: String) {
        self.path = path
    }

    /// Appends `entries` (the file is created owner-only: audit messages name patients' studies and users).
    func append(_ entries: [ExportQueue.Entry]) throws {
        guard !entries.isEmpty else { return }
        try PrivateFile.append(Self.encode(entries), to: self.path)
    }

    /// Replaces the file with `entries` (empty: removes it).
    func rewrite(_ entries: [ExportQueue.Entry]) throws {
        if entries.isEmpty {
            if FileManager.default.fileExists(atPath: self.path) { try FileManager.default.removeItem(atPath: self.path) }
            return
        }
        try PrivateFile.write(Self.encode(entries), to: self.path)
    }

    /// The records in the file, oldest first (none when there is no file); a torn last record is left out.
    func load() throws -> [ExportQueue.Entry] {
        guard FileManager.default.fileExists(atPath: self.path) else { return [] }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: self.path)))
        return Self.decode(bytes)
    }

    static func encode(_ entries: [ExportQueue.Entry]) -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries {
            out.append(contentsOf: "\(entry.queuedAt) \(entry.message.count) ".utf8)
            out.append(contentsOf: entry.message)
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    static func decode(_ bytes: [UInt8]) -> [ExportQueue.Entry] {
        var entries: [ExportQueue.Entry] = []
        var index = 0
        func number() -> Int64? {
            var value: Int64 = 0
            var digits = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9"), digits < 18 {
                value = value * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
                index += 1
                digits += 1
            }
            guard digits > 0, index < bytes.count, bytes[index] == UInt8(ascii: " ") else { return nil }
            index += 1
            return value
        }
        while index < bytes.count {
            guard let time = number(), let length = number(), length >= 0,
                index + Int(length) < bytes.count, bytes[index + Int(length)] == UInt8(ascii: "\n")
            else { break }
            entries.append(ExportQueue.Entry(message: Array(bytes[index..<(index + Int(length))]), queuedAt: time, onDisk: true))
            index += Int(length) + 1
        }
        return entries
    }
}

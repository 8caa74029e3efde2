import Foundation
import Logging
import NIOConcurrencyHelpers
import PacsgateCore

/// A small file pacsgate writes for keepalived and its scripts (the VRRP track file, the handover file, the health
/// file): rewritten whole — a new file renamed over the old, so a reader sees one or the other — when its content
/// changes (the health file: at every call, its age is what keepalived checks), and never failing silently: the first
/// failure is logged at `error` (not each retry: the error names a new temporary file every time), then the recovery.
/// A file that cannot be written is retried at every call (the VRRP loop calls every 50 ms, the health loop every
/// 250 ms).
final class KeepalivedFile: Sendable {
    private struct State {
        /// What the file was last written with (nil: unknown, or the last write failed).
        var written: String?
        /// The error of the last failed write, until one succeeds.
        var failure: String?
    }

    /// What the file is, for log lines ("the VRRP track file").
    let what: String
    /// Whether every call rewrites the file (its age counts), unsynced: it is rewritten in a moment anyway, and a disk
    /// that stalls must not hold up the loop that writes it.
    let everyCall: Bool
    private let state = NIOLockedValueBox(State())

    init(_ what: String, everyCall: Bool = false) {
        self.what = what
        self.everyCall = everyCall
    }

    /// Writes `content` to `path` unless it was written already (`repair`: unless the file holds it).
    func write(_ content: String, to path: String, repair: Bool = false, logger: Logger) {
        let written = self.state.withLockedValue { $0.written }
        if written == content, !self.everyCall {
            guard repair else { return }
            if (try? String(contentsOfFile: path, encoding: .utf8)) == content { return }
        }
        do {
            if self.everyCall {
                // A temporary file beside it, renamed over it (Foundation's atomic write).
                try Data(content.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            } else {
                // Readable by all (keepalived and its scripts; nothing secret), synced, replaced in one rename.
                try PrivateFile.write(Array(content.utf8), to: path, mode: 0o644)
            }
        } catch {
            let reason = "\(error)"
            let first = self.state.withLockedValue { state -> Bool in
                defer {
                    state.written = nil
                    state.failure = reason
                }
                return state.failure == nil
            }
            if first {
                logger.error(
                    "HA cannot write \(self.what); keepalived does not learn what this unit says until it can (retrying)",
                    metadata: ["path": "\(path)", "error": "\(reason)", "content": "\(content.trimmingCharacters(in: .whitespacesAndNewlines))"])
            }
            return
        }
        let recovered = self.state.withLockedValue { state -> Bool in
            defer {
                state.written = content
                state.failure = nil
            }
            return state.failure != nil
        }
        if recovered {
            logger.notice("HA writes \(self.what) again", metadata: ["path": "\(path)"])
        }
    }
}

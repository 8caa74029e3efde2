package import Logging
import NIOConcurrencyHelpers

/// Captures log lines in memory (message and metadata) so tests can check what an operator would read. The one log
/// capture of the tests: every target's gateway harness logs into one of these.
///
/// `Sendable`: the lines sit in a `NIOLockedValueBox`.
package final class LogRecorder: Sendable {
    /// One log line as emitted: level, message, and the handler's and the event's metadata merged.
    package struct Line: Sendable, CustomStringConvertible {
        package var level: Logger.Level
        package var message: String
        package var metadata: [String: String]

        /// `level message key=value …`, keys sorted: the line as a test searches it.
        package var description: String {
            let fields = self.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            return ([self.level.rawValue, self.message] + fields).joined(separator: " ")
        }
    }

    private let lines = NIOLockedValueBox<[Line]>([])

    package init() {}

    /// A log handler that appends to this recorder.
    package func handler() -> Handler { Handler(recorder: self) }

    /// Every line recorded so far.
    package var all: [Line] { self.lines.withLockedValue { $0 } }

    /// Every line recorded so far, rendered (``Line/description``).
    package var rendered: [String] { self.all.map(\.description) }

    /// A logger whose lines land here, from `level` up.
    package func logger(label: String = "pacsgate-test", level: Logger.Level = .debug) -> Logger {
        var logger = Logger(label: label) { _ in Handler(recorder: self) }
        logger.logLevel = level
        return logger
    }

    /// Whether a line at `level` holds `text` in its message or metadata.
    package func contains(_ level: Logger.Level, _ text: String) -> Bool {
        self.all.contains { $0.level == level && $0.description.contains(text) }
    }

    /// The lines with `message` whose metadata holds every pair of `metadata`.
    package func lines(message: String, metadata: [String: String] = [:]) -> [Line] {
        self.all.filter { line in
            line.message == message && metadata.allSatisfy { line.metadata[$0.key] == $0.value }
        }
    }

    fileprivate func append(_ line: Line) {
        self.lines.withLockedValue { $0.append(line) }
    }

    /// The `LogHandler` feeding a ``LogRecorder`` (from `.debug` up unless its logger says otherwise).
    package struct Handler: LogHandler {
        package let recorder: LogRecorder
        package var metadata: Logger.Metadata = [:]
        package var logLevel: Logger.Level = .debug

        package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        package func log(event: LogEvent) {
            var merged: [String: String] = [:]
            for (key, value) in self.metadata { merged[key] = "\(value)" }
            for (key, value) in event.metadata ?? [:] { merged[key] = "\(value)" }
            self.recorder.append(Line(level: event.level, message: "\(event.message)", metadata: merged))
        }
    }
}

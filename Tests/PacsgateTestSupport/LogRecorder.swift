package import Logging
import NIOConcurrencyHelpers

/// Captures log lines in memory (message and metadata) so tests can check what an operator would read.
///
/// `Sendable`: the lines sit in a `NIOLockedValueBox`.
package final class LogRecorder: Sendable {
    /// One log line as emitted: level, message, and the handler's and the event's metadata merged.
    package struct Line: Sendable {
        package var level: Logger.Level
        package var message: String
        package var metadata: [String: String]
    }

    private let lines = NIOLockedValueBox<[Line]>([])

    package init() {}

    /// A log handler that appends to this recorder.
    package func handler() -> Handler { Handler(recorder: self) }

    /// Every line recorded so far.
    package var all: [Line] { self.lines.withLockedValue { $0 } }

    fileprivate func append(_ line: Line) {
        self.lines.withLockedValue { $0.append(line) }
    }

    /// The `LogHandler` feeding a ``LogRecorder`` (every level from `.debug` up).
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

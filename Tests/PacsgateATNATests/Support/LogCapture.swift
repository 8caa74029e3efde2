import Logging
import NIOConcurrencyHelpers

/// Collects log lines (level and message) for assertions.
final class LogCapture: Sendable {
    let lines = NIOLockedValueBox<[(Logger.Level, String)]>([])

    var logger: Logger {
        Logger(label: "atna-test") { _ in Handler(capture: self) }
    }

    func contains(_ level: Logger.Level, _ text: String) -> Bool {
        self.lines.withLockedValue { $0.contains { $0.0 == level && $0.1.contains(text) } }
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let metadata = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
            self.capture.lines.withLockedValue { $0.append((event.level, "\(event.message) \(metadata)")) }
        }
    }
}

public import Logging
import NIOConcurrencyHelpers

/// The gateway's most recent log lines, kept in memory for the admin's logs page: a ring of `capacity` lines
/// (`logging.recent_lines`), fed by the executable's log handler with each line exactly as it writes it (escaped,
/// one line each).
///
/// Appending takes a lock for a few instructions and never allocates beyond the line itself; the oldest line is
/// overwritten when the ring is full. Thread-safe.
public final class RecentLogLines: Sendable {
    /// One line with its level and its number (counting every line ever appended).
    public struct Line: Sendable, Equatable {
        public var number: Int
        public var level: Logger.Level
        public var text: String
    }

    private struct Ring {
        var lines: [Line] = []
        var start = 0
        var appended = 0
    }

    public let capacity: Int
    private let ring: NIOLockedValueBox<Ring>

    /// - Parameter capacity: lines kept (at least 1).
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        var ring = Ring()
        ring.lines.reserveCapacity(min(self.capacity, 4096))
        self.ring = NIOLockedValueBox(ring)
    }

    /// Adds a line (without its newline).
    public func append(level: Logger.Level, _ text: String) {
        self.ring.withLockedValue { ring in
            ring.appended += 1
            let line = Line(number: ring.appended, level: level, text: text)
            if ring.lines.count < self.capacity {
                ring.lines.append(line)
            } else {
                ring.lines[ring.start] = line
                ring.start = (ring.start + 1) % self.capacity
            }
        }
    }

    /// The newest `limit` lines at `minimum` level or above, oldest first.
    public func lines(minimum: Logger.Level = .trace, limit: Int = .max) -> [Line] {
        self.ring.withLockedValue { ring in
            var result: [Line] = []
            let count = ring.lines.count
            var index = count - 1
            while index >= 0, result.count < limit {
                let line = ring.lines[(ring.start + index) % count]
                if line.level >= minimum { result.append(line) }
                index -= 1
            }
            return result.reversed()
        }
    }

    /// Lines appended since the start, kept or not.
    public var appended: Int { self.ring.withLockedValue { $0.appended } }
}

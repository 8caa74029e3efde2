#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock time for audit records and logs (monotonic `NIODeadline` is used for timers).
public enum WallClock {
    /// A point in UTC wall-clock time with millisecond resolution.
    public struct Instant: Sendable, Comparable, Hashable {
        /// Milliseconds since the Unix epoch.
        public var millisecondsSinceEpoch: Int64

        public init(millisecondsSinceEpoch: Int64) {
            self.millisecondsSinceEpoch = millisecondsSinceEpoch
        }

        public static func < (lhs: Instant, rhs: Instant) -> Bool {
            lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch
        }

        /// ISO 8601 UTC with milliseconds: `2026-11-25T20:01:02.345Z`.
        public var iso8601: String {
            var seconds = time_t(self.millisecondsSinceEpoch / 1000)
            let ms = Int(self.millisecondsSinceEpoch % 1000)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            func pad(_ value: Int32, _ width: Int) -> String {
                let text = String(value)
                return String(repeating: "0", count: max(0, width - text.count)) + text
            }
            return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
                + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(ms), 3))Z"
        }

        /// `YYYYMMDDHHMMSS` in UTC, the HL7 DTM form.
        public var hl7Timestamp: String {
            let iso = self.iso8601
            return iso.filter { $0.isNumber }.prefix(14).description
        }
    }

    /// Now.
    public static func now() -> Instant {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Instant(millisecondsSinceEpoch: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }
}

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
            var bytes: [UInt8] = []
            self.appendISO8601(to: &bytes)
            return String(decoding: bytes, as: UTF8.self)
        }

        /// Appends ``iso8601``'s 24 ASCII bytes (every audit record starts with one, so no string is built).
        public func appendISO8601(to bytes: inout [UInt8]) {
            var seconds = time_t(self.millisecondsSinceEpoch.quotientAndRemainder(dividingBy: 1000).quotient)
            var milliseconds = Int(self.millisecondsSinceEpoch % 1000)
            if milliseconds < 0 {
                milliseconds += 1000
                seconds -= 1
            }
            var parts = tm()
            gmtime_r(&seconds, &parts)
            func digits(_ value: Int, _ width: Int) {
                let rest0 = max(0, value)
                var divisor = 1
                var places = 1
                while places < width || rest0 / divisor >= 10 {
                    divisor *= 10
                    places += 1
                }
                var rest = rest0
                while divisor > 0 {
                    bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: (rest / divisor) % 10))
                    rest %= divisor
                    divisor /= 10
                }
            }
            digits(Int(parts.tm_year) + 1900, 4)
            bytes.append(UInt8(ascii: "-"))
            digits(Int(parts.tm_mon) + 1, 2)
            bytes.append(UInt8(ascii: "-"))
            digits(Int(parts.tm_mday), 2)
            bytes.append(UInt8(ascii: "T"))
            digits(Int(parts.tm_hour), 2)
            bytes.append(UInt8(ascii: ":"))
            digits(Int(parts.tm_min), 2)
            bytes.append(UInt8(ascii: ":"))
            digits(Int(parts.tm_sec), 2)
            bytes.append(UInt8(ascii: "."))
            digits(milliseconds, 3)
            bytes.append(UInt8(ascii: "Z"))
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

extension WallClock.Instant {
    /// A UTC calendar time (proleptic Gregorian; Howard Hinnant's days-from-civil).
    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, millisecond: Int = 0) {
        let shifted = month <= 2 ? year - 1 : year
        let era = (shifted >= 0 ? shifted : shifted - 399) / 400
        let yearOfEra = shifted - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = Int64(era * 146_097 + dayOfEra - 719_468)
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        self.init(millisecondsSinceEpoch: seconds * 1000 + Int64(millisecond))
    }
}

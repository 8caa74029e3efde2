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
        ///
        /// The date is computed from the day number (``civilDate(daysSinceEpoch:)``) rather than with `gmtime_r`,
        /// which in glibc takes the time-zone lock on every call although UTC needs no zone.
        public func appendISO8601(to bytes: inout [UInt8]) {
            let (days, millisecondOfDay) = self.millisecondsSinceEpoch.floorDivided(by: 86_400_000)
            let (year, month, day) = Self.civilDate(daysSinceEpoch: days)
            let (secondOfDay, milliseconds) = Int(millisecondOfDay).quotientAndRemainder(dividingBy: 1000)
            // Fixed widths: divisions by constants, which compile to multiplications.
            func twoDigits(_ value: Int) {
                bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value / 10))
                bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10))
            }
            if (0...9999).contains(year) {
                twoDigits(year / 100)
                twoDigits(year % 100)
            } else {
                bytes.append(contentsOf: (year < 0 ? "0000" : String(year)).utf8)
            }
            bytes.append(UInt8(ascii: "-"))
            twoDigits(month)
            bytes.append(UInt8(ascii: "-"))
            twoDigits(day)
            bytes.append(UInt8(ascii: "T"))
            twoDigits(secondOfDay / 3600)
            bytes.append(UInt8(ascii: ":"))
            twoDigits(secondOfDay / 60 % 60)
            bytes.append(UInt8(ascii: ":"))
            twoDigits(secondOfDay % 60)
            bytes.append(UInt8(ascii: "."))
            bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: milliseconds / 100))
            twoDigits(milliseconds % 100)
            bytes.append(UInt8(ascii: "Z"))
        }

        /// The proleptic Gregorian date of a day counted from 1970-01-01 (day 0), negative days included: Howard
        /// Hinnant's `civil_from_days` (eras of 400 years, 146,097 days each, starting on March 1st).
        package static func civilDate(daysSinceEpoch: Int64) -> (year: Int, month: Int, day: Int) {
            let shifted = daysSinceEpoch + 719_468  // days from 0000-03-01
            let (era, dayOfEra) = shifted.floorDivided(by: 146_097)
            let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
            let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
            let monthFromMarch = (5 * dayOfYear + 2) / 153
            let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
            let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
            let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
            return (Int(year), Int(month), Int(day))
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

extension Int64 {
    /// Quotient rounded towards negative infinity, and the remainder that goes with it (never negative for a
    /// positive divisor): what calendar arithmetic needs before 1970.
    fileprivate func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let (quotient, remainder) = self.quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }
}

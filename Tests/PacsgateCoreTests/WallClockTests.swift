import Foundation
import Testing

@testable import PacsgateCore

#if canImport(Glibc)
import Glibc
#endif

@Suite struct WallClockTests {
    /// The C library's spelling of an instant, for comparison.
    private func libc(_ milliseconds: Int64) -> String {
        var seconds = time_t(milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000)
        let fraction = Int(milliseconds - Int64(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), fraction)
    }

    @Test func knownInstants() {
        #expect(WallClock.Instant(millisecondsSinceEpoch: 0).iso8601 == "1970-01-01T00:00:00.000Z")
        #expect(WallClock.Instant(millisecondsSinceEpoch: -1).iso8601 == "1969-12-31T23:59:59.999Z")
        #expect(WallClock.Instant(millisecondsSinceEpoch: 951_782_400_000).iso8601 == "2000-02-29T00:00:00.000Z")
        #expect(WallClock.Instant(millisecondsSinceEpoch: 1_764_100_862_345).iso8601 == "2025-11-25T20:01:02.345Z")
        #expect(WallClock.Instant(millisecondsSinceEpoch: 4_107_542_399_999).iso8601 == "2100-02-28T23:59:59.999Z")
        #expect(WallClock.Instant(millisecondsSinceEpoch: 4_107_542_400_000).iso8601 == "2100-03-01T00:00:00.000Z")
    }

    /// Every day boundary from 1901 to 2200 (leap days, the century years 2000 and 2100, the ends of months), and
    /// instants inside days, agree with `gmtime_r`.
    @Test func agreesWithTheCLibraryAcrossThreeCenturies() {
        let day: Int64 = 86_400_000
        var mismatches: [String] = []
        for dayNumber in Int64(-25_202)...Int64(84_000) {
            for offset in [0, 1, 43_200_123, day - 1] {
                let milliseconds = dayNumber * day + offset
                let ours = WallClock.Instant(millisecondsSinceEpoch: milliseconds).iso8601
                let theirs = self.libc(milliseconds)
                if ours != theirs, mismatches.count < 5 { mismatches.append("\(milliseconds): \(ours) != \(theirs)") }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches)")
    }
}

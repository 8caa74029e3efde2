import NIOCore
import PacsgateCore

/// An instant rendered as an HL7 DTM/TS value, `YYYYMMDDHHMMSS[+/-ZZZZ]`, for MSH-7 of generated messages.
///
/// Callers inject it (from their clock) so generated ACKs and probes are deterministic under test.
public struct HL7Timestamp: Sendable, Hashable, CustomStringConvertible {
    /// Latest representable instant, 9999-12-31T23:59:59Z.
    private static let maximumUnixSeconds: Int64 = 253_402_300_799

    /// Seconds since 1970-01-01T00:00:00Z.
    public let unixSeconds: Int64
    /// Offset of the rendered wall-clock time from UTC, or `nil` to render UTC without a zone suffix.
    public let utcOffsetMinutes: Int?

    /// Creates a timestamp.
    ///
    /// - Parameters:
    ///   - unixSeconds: the instant; clamped to 1970-01-01 … 9999-12-31 so the rendering is always 14 digits.
    ///   - utcOffsetMinutes: the zone to render the wall-clock time in, e.g. `60` for `+0100`; clamped to
    ///     ±23:59. `nil` renders UTC with no suffix (receivers then assume their own local time, so prefer
    ///     an explicit offset; `nil` exists for peers that reject the suffix).
    public init(unixSeconds: Int64, utcOffsetMinutes: Int?) {
        self.unixSeconds = min(max(unixSeconds, 0), Self.maximumUnixSeconds)
        self.utcOffsetMinutes = utcOffsetMinutes.map { min(max($0, -1439), 1439) }
    }

    /// The HL7 rendering, e.g. `20250101120000+0000`.
    public var description: String {
        var buffer = ByteBuffer()
        self.write(into: &buffer)
        return String(buffer: buffer)
    }

    /// Writes the rendering into `buffer` and returns the number of bytes written (14 or 19).
    @discardableResult
    func write(into buffer: inout ByteBuffer) -> Int {
        let offsetSeconds = Int64(self.utcOffsetMinutes ?? 0) * 60
        let local = min(max(self.unixSeconds + offsetSeconds, 0), Self.maximumUnixSeconds)
        let days = local / 86_400
        let secondOfDay = local % 86_400
        let (year, month, day) = WallClock.Instant.civilDate(daysSinceEpoch: days)

        var written = 0
        written += Self.writeDigits(Int64(year), width: 4, into: &buffer)
        written += Self.writeDigits(Int64(month), width: 2, into: &buffer)
        written += Self.writeDigits(Int64(day), width: 2, into: &buffer)
        written += Self.writeDigits(secondOfDay / 3600, width: 2, into: &buffer)
        written += Self.writeDigits(secondOfDay % 3600 / 60, width: 2, into: &buffer)
        written += Self.writeDigits(secondOfDay % 60, width: 2, into: &buffer)
        if let offset = self.utcOffsetMinutes {
            written += buffer.writeInteger(offset < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            written += Self.writeDigits(Int64(offset.magnitude / 60), width: 2, into: &buffer)
            written += Self.writeDigits(Int64(offset.magnitude % 60), width: 2, into: &buffer)
        }
        return written
    }

    /// Writes a non-negative `value` as exactly `width` decimal digits (zero padded).
    private static func writeDigits(_ value: Int64, width: Int, into buffer: inout ByteBuffer) -> Int {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        var remaining = value
        for _ in 0..<width {
            buffer.writeInteger(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: remaining / divisor % 10))
            remaining %= divisor
            divisor /= 10
        }
        return width
    }
}

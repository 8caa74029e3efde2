import Testing

@testable import PacsgateCore

@Suite struct ConfigValueParserTests {
    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)),
        ("2s", .seconds(2)),
        ("30m", .seconds(1800)),
        ("1h", .seconds(3600)),
        ("1d", .seconds(86_400)),
        ("1h30m", .seconds(5400)),
        ("1m500ms", .milliseconds(60_500)),
        ("90", .seconds(90)),
        ("0", .zero),
        ("0s", .zero),
        (" 2s\t", .seconds(2)),
        ("10000000s", .seconds(10_000_000)),
    ])
    func durations(text: String, expected: Duration) {
        #expect(ConfigValueParser.duration(text) == expected)
    }

    @Test(arguments: [
        "", "   ", "s", "ms", "10x", "-1s", "-1", "1.5s", "2 s", "2S", "1h30", "h1", "10msx", "1e3s",
        // Each number is capped at 10,000,000; longer digit runs are refused, not wrapped.
        "10000001s", "99999999999s", "99999999999999999999999s", "99999999999999999999999",
    ])
    func badDurations(text: String) {
        #expect(ConfigValueParser.duration(text) == nil, "'\(text)' should be refused")
    }

    @Test func plainSecondsAreCappedLikeSuffixedOnes() {
        // "99999999999s" is refused by the 10,000,000 cap, so the same number without a unit must be too:
        // 99,999,999,999 s is 3,170 years and overflows the Int64 nanoseconds of the health-check deadline.
        #expect(ConfigValueParser.duration("99999999999s") == nil)
        #expect(ConfigValueParser.duration("99999999999") == nil)
        #expect(ConfigValueParser.duration("100000000") == nil)
        #expect(ConfigValueParser.duration("100000001") == nil)
    }

    @Test func durationsAreCappedAtAYear() {
        #expect(ConfigValueParser.maximumDuration == .seconds(366 * 86_400))
        // Exactly the maximum is accepted however it is written …
        #expect(ConfigValueParser.duration("366d") == ConfigValueParser.maximumDuration)
        #expect(ConfigValueParser.duration("8784h") == ConfigValueParser.maximumDuration)
        #expect(ConfigValueParser.duration("365d24h") == ConfigValueParser.maximumDuration)
        #expect(ConfigValueParser.duration("31622400") == ConfigValueParser.maximumDuration)
        // … and anything longer is refused, with or without a unit.
        #expect(ConfigValueParser.duration("367d") == nil)
        #expect(ConfigValueParser.duration("8785h") == nil)
        #expect(ConfigValueParser.duration("366d1ms") == nil)
        #expect(ConfigValueParser.duration("31622401") == nil)
        #expect(ConfigValueParser.duration("9999999d") == nil)
        #expect(ConfigValueParser.duration("10000000m10000000m") == nil)
    }

    @Test(arguments: [
        ("512", 512),
        ("0", 0),
        ("10b", 10),
        ("10B", 10),
        ("64KiB", 65_536),
        ("64KB", 65_536),
        ("64k", 65_536),
        ("4MiB", 4_194_304),
        ("4mb", 4_194_304),
        ("1GiB", 1_073_741_824),
        ("1 MiB", 1_048_576),
        (" 2KiB ", 2048),
    ])
    func byteSizes(text: String, expected: Int) {
        #expect(ConfigValueParser.byteSize(text) == expected)
    }

    @Test(arguments: ["", "KiB", "-1", "1.5MiB", "10TiB", "10 bytes", "64KiBs", "99999999999999GiB", "０1"])
    func badByteSizes(text: String) {
        #expect(ConfigValueParser.byteSize(text) == nil, "'\(text)' should be refused")
    }

    @Test(arguments: [
        (Duration.milliseconds(250), "250ms"),
        (.milliseconds(1500), "1500ms"),
        (.seconds(2), "2s"),
        (.seconds(90), "90s"),
        (.seconds(1800), "30m"),
        (.seconds(5400), "90m"),
        (.seconds(3600), "1h"),
        (.seconds(7200), "2h"),
        (.seconds(86_400), "1d"),
        (.seconds(90_000), "25h"),
        (.zero, "0s"),
        (.microseconds(1500), "1ms"),
    ])
    func format(duration: Duration, expected: String) {
        #expect(ConfigValueParser.format(duration) == expected)
    }

    @Test(arguments: [Duration.milliseconds(250), .seconds(2), .seconds(90), .seconds(5400), .seconds(86_400 * 3)])
    func formatReadsBack(duration: Duration) {
        #expect(ConfigValueParser.duration(ConfigValueParser.format(duration)) == duration)
    }

    @Test func durationMilliseconds() {
        #expect(Duration.seconds(3).milliseconds == 3000)
        #expect(Duration.microseconds(2999).milliseconds == 2)
        #expect(Duration.seconds(86_400).milliseconds == 86_400_000)
    }
}

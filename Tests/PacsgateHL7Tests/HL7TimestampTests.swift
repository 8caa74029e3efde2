import PacsgateHL7
import Testing

@Suite("HL7Timestamp")
struct HL7TimestampTests {
    @Test(
        "renders YYYYMMDDHHMMSS with an optional zone",
        arguments: [
            (Int64(1_735_732_800), Int?.none, "20250101120000"),
            (1_735_732_800, 0, "20250101120000+0000"),
            (1_735_732_800, 60, "20250101130000+0100"),
            (1_735_732_800, -330, "20250101063000-0530"),
            (1_735_732_800, 765, "20250102004500+1245"),
            (0, 0, "19700101000000+0000"),
            (1_709_164_800, nil, "20240229000000"),  // leap day
            (951_782_400, nil, "20000229000000"),  // leap day in a year divisible by 400
            (4_107_542_399, nil, "21000228235959"),  // 2100 is not a leap year
            (4_107_542_400, nil, "21000301000000"),
            (253_402_300_799, nil, "99991231235959"),
        ]
    )
    func rendering(unixSeconds: Int64, offset: Int?, expected: String) {
        #expect(HL7Timestamp(unixSeconds: unixSeconds, utcOffsetMinutes: offset).description == expected)
    }

    @Test("out-of-range inputs are clamped, never trapped or rendered as garbage")
    func clamping() {
        #expect(HL7Timestamp(unixSeconds: -1, utcOffsetMinutes: nil).description == "19700101000000")
        #expect(HL7Timestamp(unixSeconds: 0, utcOffsetMinutes: -60).description == "19700101000000-0100")
        #expect(HL7Timestamp(unixSeconds: .max, utcOffsetMinutes: 0).description == "99991231235959+0000")
        #expect(HL7Timestamp(unixSeconds: .min, utcOffsetMinutes: .min).description == "19700101000000-2359")
        #expect(HL7Timestamp(unixSeconds: 0, utcOffsetMinutes: .max).utcOffsetMinutes == 1439)
    }
}

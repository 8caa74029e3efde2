import Foundation
import Testing

@testable import PacsgateCore

@Suite struct JSONLineTests {
    private func encoded(_ value: String) -> String {
        var line = JSONLine()
        line.field("v", value)
        return line.text
    }

    private func parsed(_ line: JSONLine) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(line.line))
        return try #require(object as? [String: Any])
    }

    @Test func emptyObject() {
        let line = JSONLine()
        #expect(line.text == "{}")
        #expect(line.line == Array("{}\n".utf8))
    }

    @Test func integersAreSpelledAsSwiftSpellsThem() {
        var values = [0, 1, -1, 9, 10, -10, 99, 100, 104, 1_000_000, Int.max, Int.min, Int.max - 1, Int.min + 1]
        var power = 1
        while power <= Int.max / 10 {
            power *= 10
            values += [power - 1, power, power + 1, -power]
        }
        for value in values {
            var line = JSONLine()
            line.field("n", value)
            #expect(line.text == "{\"n\":\(value)}")
        }
    }

    @Test func everyFieldTypeInOrder() {
        var server = JSONLine()
        server.field("label", "MACH7-A")
        server.field("port", 104)
        var line = JSONLine()
        line.field("event", "connect")
        line.field("note", nil as String?)
        line.field("service", "PACS" as String?)
        line.field("bytes", 1234)
        line.field("port", nil as Int?)
        line.field("retries", 2 as Int?)
        line.field("delta", -5)
        line.field("ok", true)
        line.field("refused", false)
        line.field("contexts", ["1.2.840.10008.1.1", "x"])
        line.field("empty", [String]())
        line.field("server", server)
        line.field("tries", [server, JSONLine()])
        line.field("none", [JSONLine]())
        line.nullField("reason")
        let expected =
            #"{"event":"connect","note":null,"service":"PACS","bytes":1234,"port":null,"retries":2,"delta":-5,"ok":true,"#
            + #""refused":false,"contexts":["1.2.840.10008.1.1","x"],"empty":[],"server":{"label":"MACH7-A","port":104},"#
            + #""tries":[{"label":"MACH7-A","port":104},{}],"none":[],"reason":null}"#
        #expect(line.text == expected)
        #expect(line.line == Array((expected + "\n").utf8))
        // Reading the result does not finish the object: more fields can follow.
        line.field("more", 1)
        #expect(line.text == String(expected.dropLast()) + #","more":1}"#)
    }

    @Test func finishedLineIsTheLineAndLeavesNoCopyBehind() {
        var line = JSONLine(capacity: 16)
        line.field("event", "hl7.message")
        line.field("server", JSONLine.object(ServerIdentity(label: "HL71", endpoint: Endpoint(host: "127.0.0.1", port: 6661))))
        let expected = line.line
        #expect(expected == Array(#"{"event":"hl7.message","server":{"label":"HL71","address":"127.0.0.1:6661"}}"#.utf8) + [0x0a])
        #expect(line.finishedLine() == expected)
    }

    @Test func timeFieldIsISO8601InUTCWithMilliseconds() {
        var line = JSONLine()
        line.field("epoch", WallClock.Instant(millisecondsSinceEpoch: 0))
        line.field("t", WallClock.Instant(millisecondsSinceEpoch: 1_764_100_862_005))
        line.field("leap", WallClock.Instant(millisecondsSinceEpoch: 1_709_164_799_999))
        line.field("before", WallClock.Instant(millisecondsSinceEpoch: -1))
        #expect(
            line.text
                == #"{"epoch":"1970-01-01T00:00:00.000Z","t":"2025-11-25T20:01:02.005Z","#
                + #""leap":"2024-02-28T23:59:59.999Z","before":"1969-12-31T23:59:59.999Z"}"#)
        #expect(WallClock.Instant(millisecondsSinceEpoch: 253_402_300_800_000).iso8601 == "10000-01-01T00:00:00.000Z")
    }

    @Test func intExtremes() {
        var line = JSONLine()
        line.field("min", Int.min)
        line.field("max", Int.max)
        line.field("zero", 0)
        #expect(line.text == #"{"min":-9223372036854775808,"max":9223372036854775807,"zero":0}"#)
    }

    @Test func namedEscapes() {
        #expect(encoded("say \"hi\"") == #"{"v":"say \"hi\""}"#)
        #expect(encoded(#"C:\dicom\in"#) == #"{"v":"C:\\dicom\\in"}"#)
        #expect(encoded("a\nb\rc\td") == #"{"v":"a\nb\rc\td"}"#)
        #expect(encoded("\r\n") == #"{"v":"\r\n"}"#)
        #expect(encoded("/") == #"{"v":"/"}"#)
    }

    @Test func everyOtherControlCharacterIsUnicodeEscaped() {
        let hex = Array("0123456789abcdef")
        for byte in UInt8(0)..<0x20 where ![0x09, 0x0a, 0x0d].contains(byte) {
            let value = String(decoding: [UInt8(ascii: "x"), byte, UInt8(ascii: "y")], as: UTF8.self)
            let escape = "\\u00\(hex[Int(byte >> 4)])\(hex[Int(byte & 0xf)])"
            #expect(encoded(value) == #"{"v":"x"# + escape + #"y"}"#, "byte \(byte)")
        }
        #expect(encoded("\u{00}") == #"{"v":"\u0000"}"#)
        #expect(encoded("\u{08}\u{0c}") == #"{"v":"\u0008\u000c"}"#)
        #expect(encoded("\u{1b}[31m") == #"{"v":"\u001b[31m"}"#)
        #expect(encoded("\u{1f}") == #"{"v":"\u001f"}"#)
        #expect(encoded("\u{7f}") == #"{"v":"\u007f"}"#)
    }

    @Test func javaScriptLineSeparatorsAreEscaped() {
        #expect(encoded("a\u{2028}b\u{2029}c") == #"{"v":"a\u2028b\u2029c"}"#)
        #expect(encoded("\u{2028}\u{2029}") == #"{"v":"\u2028\u2029"}"#)
        #expect(encoded("\u{2029}") == #"{"v":"\u2029"}"#)
        // Neighbours that share the lead byte E2 stay as they are.
        for untouched in ["\u{2000}", "\u{2027}", "\u{202A}", "€", "→", "e\u{2020}f", "\u{2800}"] {
            #expect(
                encoded(untouched) == #"{"v":""# + untouched + #""}"#,
                "\(untouched.unicodeScalars.map { $0.value })"
            )
        }
        #expect(encoded("Müller^Hans 😀") == #"{"v":"Müller^Hans 😀"}"#)
    }

    @Test func keysAreEscapedToo() {
        var line = JSONLine()
        line.field("a\"b\n", "v")
        #expect(line.text == #"{"a\"b\n":"v"}"#)
    }

    @Test func hostileAETitleCannotForgeARecord() throws {
        let hostile = "EVIL\n{\"event\":\"forged\"}"
        var line = JSONLine()
        line.field("event", "association")
        line.field("calling_ae", hostile)
        #expect(line.text == #"{"event":"association","calling_ae":"EVIL\n{\"event\":\"forged\"}"}"#)
        #expect(line.line.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        #expect(line.line.last == UInt8(ascii: "\n"))
        let object = try parsed(line)
        #expect(object.count == 2)
        #expect(object["event"] as? String == "association")
        #expect(object["calling_ae"] as? String == hostile)
    }

    @Test func everyAwkwardCharacterParsesBackUnchanged() throws {
        var scalars = (0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }
        scalars += ["\u{7f}", "\"", "\\", "/", "\u{2028}", "\u{2029}", "é", "€", "😀", "\u{FEFF}"]
        let value = String(scalars)
        var line = JSONLine()
        line.field(value, value)
        line.field("list", [value, ""])
        #expect(!line.text.utf8.contains(UInt8(ascii: "\n")))
        #expect(!line.text.unicodeScalars.contains("\u{2028}"))
        #expect(!line.text.unicodeScalars.contains("\u{2029}"))
        let object = try parsed(line)
        #expect(object[value] as? String == value)
        #expect(object["list"] as? [String] == [value, ""])
    }

    @Test func printableASCII() {
        let bytes: [UInt8] = [0x41, 0x0a, 0x5c, 0x7f, 0xff, 0x20, 0x00, 0x7e, 0x1b, 0x80]
        #expect(String(printableASCII: bytes) == #"A\x0A\x5C\x7F\xFF \x00~\x1B\x80"#)
        #expect(String(printableASCII: Array("MODALITY1  ".utf8)) == "MODALITY1  ")
        #expect(String(printableASCII: [UInt8]()) == "")
        // A backslash is shown as \x5C so the text "\x41" from the wire cannot pass for an escaped byte.
        #expect(String(printableASCII: Array(#"\x41"#.utf8)) == #"\x5Cx41"#)
    }

    @Test("the real server is one object shape in every record, or null")
    func serverField() throws {
        var line = JSONLine()
        line.field("server", ServerIdentity(label: "DICOM\"1", endpoint: Endpoint(host: "192.168.1.21", port: 11112)))
        line.field("none", nil as ServerIdentity?)
        #expect(line.text == #"{"server":{"label":"DICOM\"1","address":"192.168.1.21:11112"},"none":null}"#)
    }
}

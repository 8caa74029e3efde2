import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateApp

#if canImport(Glibc)
import Glibc
#endif

/// Log injection, secrets in world-readable files, TLS versions.
@Suite("Security", .timeLimit(.minutes(2)))
struct SecurityTests {
    @Test("the executable's log handler escapes control characters in messages, metadata and labels")
    func escapingHandler() {
        #expect(EscapingLogHandler.escape("MODALITY1") == "MODALITY1")
        #expect(EscapingLogHandler.escape("A\nB\rC\tD") == "A\\nB\\rC\\tD")
        #expect(
            EscapingLogHandler.escape("\u{1B}[31mRED\u{0}\u{7F}\u{85}\u{2028}")
                == "\\u{1B}[31mRED\\u{0}\\u{7F}\\u{85}\\u{2028}"
        )
        #expect(EscapingLogHandler.escape("é ü 日本") == "é ü 日本", "printable non-ASCII stays readable")

        let lines = NIOLockedValueBox<[String]>([])
        var handler = EscapingLogHandler(label: "pacsgate") { line in lines.withLockedValue { $0.append(line) } }
        handler.logLevel = .debug
        handler[metadataKey: "conn.client"] = "127.0.0.1:4242"
        let logger = Logger(label: "pacsgate") { _ in handler }
        logger.notice(
            "association refused\nFAKE critical pacsgate: audit log deleted",
            metadata: ["dicom.calling_ae": "EVIL\r\n2026-01-01 critical forged", "n": .array(["a\nb"])]
        )
        let written = lines.withLockedValue { $0 }
        #expect(written.count == 1)
        let line = written.first ?? ""
        #expect(line.hasSuffix("\n"))
        #expect(line.dropLast().allSatisfy { !$0.isNewline }, "one record is one line: \(line)")
        #expect(line.contains("dicom.calling_ae=\"EVIL\\r\\n2026-01-01 critical forged\""), "\(line)")
        #expect(line.contains("association refused\\nFAKE critical pacsgate: audit log deleted"), "\(line)")
        #expect(line.contains("conn.client=127.0.0.1:4242"))
        #expect(line.contains(" notice pacsgate: "), "StreamLogHandler's layout: \(line)")
    }

    @Test("metadata values with spaces, '=' or quotes are quoted: a wire value cannot fake extra key=value fields")
    func valuesAreQuoted() {
        #expect(EscapingLogHandler.value("MODALITY1") == "MODALITY1")
        #expect(EscapingLogHandler.value("127.0.0.1:4242") == "127.0.0.1:4242")
        #expect(EscapingLogHandler.value("") == "\"\"")
        #expect(EscapingLogHandler.value("ADT A01") == "\"ADT A01\"")
        #expect(EscapingLogHandler.value("a=b") == "\"a=b\"")
        #expect(EscapingLogHandler.value(#"say "hi" \ bye"#) == #""say \"hi\" \\ bye""#)
        #expect(EscapingLogHandler.value("x\ny") == #""x\ny""#)
        #expect(EscapingLogHandler.value(#"EV\x0DIL"#) == #"EV\x0DIL"#, "one word stays bare, backslashes too")

        let lines = NIOLockedValueBox<[String]>([])
        let handler = EscapingLogHandler(label: "pacsgate") { line in lines.withLockedValue { $0.append(line) } }
        let logger = Logger(label: "pacsgate") { _ in handler }
        // An HL7 sending application as a sender could type it: spaces and key=value pairs of its own.
        let forged = #"LAB conn.client=10.6.6.6 hl7.reason="ok" x=\"#
        logger.warning("hl7 input rejected", metadata: ["hl7.sending_app": "\(forged)", "conn.client": "127.0.0.1:4242"])
        let line = lines.withLockedValue { $0.first } ?? ""
        let fields = Self.logfmtFields(line)
        #expect(fields.map(\.key) == ["conn.client", "hl7.sending_app"], "\(line)")
        #expect(fields.first { $0.key == "hl7.sending_app" }?.value == forged, "\(line)")
        #expect(fields.first { $0.key == "conn.client" }?.value == "127.0.0.1:4242")
    }

    /// The `key=value` fields of an `EscapingLogHandler` line (between the label and `[source]`), read as logfmt:
    /// a value is a bare word or a double-quoted string with `\\` and `\"` escapes.
    static func logfmtFields(_ line: String) -> [(key: String, value: String)] {
        guard let colon = line.range(of: "pacsgate: ") else { return [] }
        var rest = Substring(line[colon.upperBound...])
        var fields: [(key: String, value: String)] = []
        while let equals = rest.firstIndex(of: "="), !rest.hasPrefix("[") {
            let key = String(rest[..<equals])
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                while let character = rest.first, character != "\"" {
                    rest = rest.dropFirst()
                    if character == "\\", let escaped = rest.first {
                        value.append(escaped)
                        rest = rest.dropFirst()
                    } else {
                        value.append(character)
                    }
                }
                rest = rest.dropFirst()
            } else {
                let end = rest.firstIndex(of: " ") ?? rest.endIndex
                value = String(rest[..<end])
                rest = rest[end...]
            }
            fields.append((key, value))
            rest = rest.drop { $0 == " " }
        }
        return fields
    }

    @Test("control characters from the wire (AE titles, HL7 fields) reach the log escaped, one line per record")
    func wireValuesAreEscapedInLogs() async throws {
        try await withTestScope { scope in
            let lines = NIOLockedValueBox<[String]>([])
            let hl7Backend = try await CountingListener.start(scope: scope)
            let dead = try Ports.free()
            let gateway = try await RelGateway.start(
                services: """
                      - label: DICOM
                        listen: "127.0.0.1:11112"
                        protocol: dicom
                        servers:
                          - { label: DICOM1, address: "127.0.0.1:\(dead)" }
                      - label: HL7
                        listen: "127.0.0.1:6667"
                        protocol: hl7
                        servers:
                          - \(hl7Backend.server("HL7A"))
                    """,
                scope: scope,
                logHandler: { label in
                    var handler = EscapingLogHandler(label: label) { line in lines.withLockedValue { $0.append(line) } }
                    handler.logLevel = .debug
                    return handler
                }
            )
            // A-ASSOCIATE-RQ whose calling AE title (bytes 26..<42) carries CR LF and an ANSI escape.
            var request = Array(BackendFaultTests.storeRQ)
            let hostile = Array("EV\r\nIL\u{1B}[2J".utf8)
            for index in 0..<16 { request[26 + index] = index < hostile.count ? hostile[index] : 0x20 }
            let dicom = try await RawConnection.connect(port: try await gateway.port("DICOM"), scope: scope)
            try await dicom.send(ByteBuffer(bytes: request))
            #expect(await dicom.waitForEOF())

            // An HL7 message whose control ID and sending application carry an escape sequence and a NUL.
            let message =
                "MSH|^~\\&|RIS\u{1B}]0;pwned\u{7}|HOSP|MACH7|PACS|20250101120000||ADT^A01|ID\u{1B}[31m\u{0}1|P|2.5.1\r"
                + "EVN|A01|20250101120000\r"
            let hl7 = try await RawConnection.connect(port: try await gateway.port("HL7"), scope: scope)
            try await hl7.send(ByteBuffer(bytes: [0x0B] + Array(message.utf8) + [0x1C, 0x0D]))
            _ = await eventually(timeout: .seconds(10)) { hl7Backend.connections == 1 }
            try await Task.sleep(for: .milliseconds(500))
            await hl7.close()
            await dicom.close()
            _ = try await gateway.records("dicom.association", count: 1)

            let written = lines.withLockedValue { $0 }
            #expect(written.count >= 2)
            for line in written {
                let body = line.dropLast()
                #expect(line.hasSuffix("\n"))
                #expect(
                    !body.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F },
                    "a raw control character reached the log: \(line.debugDescription)"
                )
            }
            let text = written.joined()
            // The DICOM module itself writes AE titles as printable ASCII with \xHH escapes.
            #expect(text.contains("dicom.calling_ae=EV\\x0D\\x0AIL\\x1B[2J"), "\(text)")
            // The HL7 module refuses an MSH with control characters, and says where, without echoing them.
            #expect(text.contains(#"hl7.detail="control character 0x1B in MSH at payload offset 12 "#), "\(text)")
            #expect(text.contains("hl7.reason=invalid_msh"), "\(text)")
        }
    }

    @Test("a configuration file with secrets that every user can read is warned about; 0600 is not")
    func worldReadableSecrets() throws {
        let directory = NSTemporaryDirectory() + "pacsgate-rel-secrets-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/pacsgate.yaml"
        try """
        services:
          - label: TCP
            listen: "127.0.0.1:8000"
            servers:
              - { label: A, address: "127.0.0.1:9000" }
        admin:
          listen: "127.0.0.1:9443"
          users:
            - { name: alice, password_hash: "$2b$12$abcdefghijklmnopqrstuuJ8mJvxw1cFzD8ukfxq1C5dZV3I8bZ9W" }
        """.write(toFile: path, atomically: true, encoding: .utf8)

        chmod(path, 0o644)
        let open = try ConfigurationFile.load(path: path).get()
        let warning = try #require(open.warnings.first { $0.message.contains("readable by every user") })
        #expect(warning.line == 9, "points at the first secret")
        #expect(warning.message.contains("mode 644"))
        #expect(warning.message.contains("chmod o-r \(path)"))

        chmod(path, 0o640)
        let closed = try ConfigurationFile.load(path: path).get()
        #expect(!closed.warnings.contains { $0.message.contains("readable by every user") })

        // Without secrets, a readable file is fine.
        let plain = "services:\n  - { label: TCP, listen: \"127.0.0.1:8000\", "
            + "servers: [{ label: A, address: \"127.0.0.1:9000\" }] }\n"
        try plain.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        #expect(!(try ConfigurationFile.load(path: path).get()).warnings.contains { $0.message.contains("readable") })
    }
}

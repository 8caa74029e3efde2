import Foundation
import PacsgateConfig
import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateATNA

@Suite("syslog framing, queue, spool, configuration")
struct TransportTests {
    @Test("RFC 5424 header with PRI 85 and IHE+RFC-3881; octet counting gives the exact byte length")
    func frame() {
        let frame = SyslogFrame(hostname: "pacs gate", processID: "12")
        let message = frame.message(Array("<x/>".utf8), time: WallClock.Instant(millisecondsSinceEpoch: 0))
        #expect(String(decoding: message, as: UTF8.self) == "<85>1 1970-01-01T00:00:00.000Z pacs_gate pacsgate 12 IHE+RFC-3881 - <x/>")
        let framed = SyslogFrame.octetCounted(message)
        #expect(String(decoding: framed, as: UTF8.self) == "\(message.count) " + String(decoding: message, as: UTF8.self))
    }

    @Test("a message above 32,768 bytes is framed whole, and a non-ASCII value counts in bytes")
    func large() {
        let payload = [UInt8](repeating: UInt8(ascii: "a"), count: 40_000) + Array("é".utf8)
        let framed = SyslogFrame.octetCounted(payload)
        #expect(framed.starts(with: Array("40002 ".utf8)))
        #expect(framed.count == 40_002 + 6)
    }

    @Test("the queue keeps order, refuses beyond its byte bound and expires old heads")
    func queue() {
        var queue = ExportQueue(maxBytes: 30, maxAgeMilliseconds: 1000, maxMessageBytes: 20)
        #expect(queue.append(Array("0123456789".utf8), at: 0) == .queued)
        #expect(queue.append(Array("abcdefghij".utf8), at: 500) == .queued)
        #expect(queue.append(Array("ABCDEFGHIJ".utf8), at: 600) == .queued)
        #expect(queue.append(Array("x".utf8), at: 700) == .droppedFull)
        #expect(queue.append([UInt8](repeating: 1, count: 21), at: 700) == .droppedTooLarge)
        #expect(queue.peek(limit: 2, byteLimit: 100).map { String(decoding: $0, as: UTF8.self) } == ["0123456789", "abcdefghij"])
        #expect(queue.peek(limit: 10, byteLimit: 5).count == 1, "at least one message even above the byte limit")
        queue.acknowledge(1)
        #expect(queue.bytes == 20)
        #expect(queue.append(Array("klmnopqrst".utf8), at: 800) == .queued)
        #expect(queue.expire(now: 1550) == 1)
        #expect(queue.peek(limit: 10, byteLimit: 100).map { String(decoding: $0, as: UTF8.self) } == ["ABCDEFGHIJ", "klmnopqrst"])
        queue.acknowledge(5)
        #expect(queue.isEmpty && queue.bytes == 0)
    }

    @Test("the spool file round-trips its records in order and ignores a torn last record")
    func spool() throws {
        let directory = try Tools.temporaryDirectory("spool")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let spool = SpoolFile(path: "\(directory)/s")
        let entries = (0..<3).map { ExportQueue.Entry(message: Array("m \($0) <x/>".utf8), queuedAt: Int64($0), onDisk: true) }
        try spool.append(Array(entries[0..<2]))
        try spool.append([entries[2]])
        #expect(try spool.load() == entries)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: spool.path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("9 100 torn".utf8))
        try handle.close()
        #expect(try spool.load() == entries)
        try spool.rewrite([entries[1]])
        #expect(try spool.load() == [entries[1]])
        try spool.rewrite([])
        #expect(!FileManager.default.fileExists(atPath: spool.path))
    }

    static func load(_ yaml: String) -> Result<SyslogExportConfiguration?, ConfigErrors> {
        switch ConfigurationLoader(registry: ProtocolRegistry.gateway([])).load(yaml: yaml) {
        case .failure(let errors): return .failure(errors)
        case .success(let (configuration, _)): return SyslogExportConfiguration.decode(from: configuration)
        }
    }

    static let services = """
        services:
          - { label: SVC, listen: "127.0.0.1:1", servers: [{ label: A, address: "127.0.0.1:2" }] }
        state_dir: /var/lib/pacsgate

        """

    @Test("audit.syslog decodes with its defaults; the spool lives in state_dir")
    func configuration() throws {
        let result = Self.load(Self.services + """
            audit:
              path: /tmp/a.jsonl
              syslog:
                address: "arr.example:6514"
                ca_file: ca.pem
                certificate: c.pem
                key: c.key
                site_id: RAD
                retry_interval: 500ms
            """)
        let configuration = try #require(try result.get())
        #expect(configuration.transport == .tls)
        #expect(configuration.address == Endpoint(host: "arr.example", port: 6514))
        #expect(configuration.siteID == "RAD")
        #expect(configuration.spoolPath == "/var/lib/pacsgate/audit-syslog.spool")
        #expect(configuration.spoolMaxBytes == 64 << 20)
        #expect(configuration.retryInterval == .milliseconds(500))
        #expect(try Self.load(Self.services).get() == nil)
    }

    @Test("audit.syslog problems name their line: TLS without its files, TLS keys with udp, an unknown key")
    func configurationProblems() {
        guard case .failure(let errors) = Self.load(Self.services + """
            audit:
              syslog:
                address: "arr.example:6514"
                colour: blue
            """)
        else {
            Issue.record("accepted")
            return
        }
        let text = "\(errors)"
        #expect(text.contains("needs 'ca_file'") && text.contains("needs 'key'"))
        #expect(text.contains("colour"))
        guard case .failure(let udp) = Self.load(Self.services + """
            audit:
              syslog: { address: "arr.example:514", transport: udp, ca_file: x }
            """)
        else {
            Issue.record("accepted")
            return
        }
        #expect("\(udp)".contains("'ca_file' is only used with transport tls"))
    }
}

import Foundation
import NIOCore
import PacsgateCore
import PacsgateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The audit log's defaults under pressure: `on_failure: refuse` for HL7 and TLS, a stalled disk, a flood of refused
/// connections.
@Suite("Faults: audit log under pressure", .serialized, .timeLimit(.minutes(5)))
struct AuditHardeningTests {
    /// An HL7 receiver: answers every MLLP frame AA and prints `got CONTROL_ID` for it, one whole line at a time (its
    /// connections' threads print under one lock: `print` writes its pieces separately, and two threads printing at
    /// once split a line, which made a message look unreceived).
    static let hl7Receiver = #"""
        import socket, sys, threading
        printing = threading.Lock()
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", int(sys.argv[1])))
        server.listen(64)
        def serve(connection):
            buffered = b""
            while True:
                data = connection.recv(65536)
                if not data:
                    return
                buffered += data
                while True:
                    start, end = buffered.find(b"\x0b"), buffered.find(b"\x1c\r")
                    if start < 0 or end < 0:
                        break
                    message, buffered = buffered[start + 1:end], buffered[end + 2:]
                    control = message.split(b"\r")[0].split(b"|")[9]
                    connection.sendall(b"\x0bMSH|^~\\&|RCV|FAC|SND|FAC|20260101000000||ACK|A" + control
                                       + b"|P|2.5\rMSA|AA|" + control + b"\r\x1c\r")
                    with printing:
                        sys.stdout.write("got " + control.decode() + "\n")
                        sys.stdout.flush()
        print("listening", flush=True)
        while True:
            connection, _ = server.accept()
            threading.Thread(target=serve, args=(connection,), daemon=True).start()
        """#

    static func startReceiver(scope: TestScope) async throws -> (ChildProcess, Int) {
        let port = try Ports.free()
        let receiver = try await ChildProcess.start(
            "/usr/bin/python3", ["-c", Self.hl7Receiver, String(port)], name: "hl7-receiver", directory: scope.directory, scope: scope)
        #expect(await eventually(timeout: .seconds(20)) { receiver.output.contains("listening") }, "\(receiver.output)")
        return (receiver, port)
    }

    /// A gateway with one HL7 service in front of the receiver on `receiverPort`.
    static func hl7Gateway(_ receiverPort: Int, audit: String, auditPath: String, scope: TestScope) async throws -> RelGateway {
        try await RelGateway.start(
            services: """
                  - label: HL7
                    listen: "127.0.0.1:6667"
                    protocol: hl7
                    servers:
                      - { label: HL7A, address: "127.0.0.1:\(receiverPort)" }
                """,
            audit: audit, auditPath: auditPath, scope: scope)
    }

    /// One MLLP-framed ADT^A01 with MSH-10 `control`; `note` characters of an NTE segment make it longer.
    static func frame(_ control: String, note: Int = 0) -> ByteBuffer {
        let nte = note > 0 ? "NTE|1||\(String(repeating: "x", count: note))\r" : ""
        return ByteBuffer(
            string: "\u{0B}MSH|^~\\&|SND|FAC|RCV|FAC|20260101000000||ADT^A01|\(control)|P|2.5\rEVN|A01|20260101000000\r\(nte)\u{1C}\r")
    }

    /// The MSA-1 codes of the acknowledgments received so far.
    static func acknowledgmentCodes(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\r").filter { $0.hasPrefix("MSA|") }.map {
            String($0.split(separator: "|")[1])
        }
    }

    @Test("run warns at start when audit.path is not set, and refuses to start without it when audit.required is true")
    func auditPathDefaults() async throws {
        try await withTestScope { scope in
            let binary = try GatewayUnderTest.executable
            let port = try Ports.free()
            let service = """
                services:
                  - label: T
                    listen: "127.0.0.1:\(port)"
                    servers:
                      - { label: S, address: "127.0.0.1:\(try Ports.free())" }

                """
            let unset = "\(scope.directory)/unset.yaml"
            try service.write(toFile: unset, atomically: true, encoding: .utf8)
            let warned = try await GatewayUnderTest.process(config: unset, name: "unset", scope: scope)
            #expect(await Ports.waitListening(port, while: { warned.isRunning }))
            #expect(
                await eventually(timeout: .seconds(10)) {
                    warned.output.contains("audit.path is not set: audit records are kept in memory only")
                }, "\(warned.output)")
            await warned.stop()

            let required = "\(scope.directory)/required.yaml"
            try (service + "audit: { required: true }\n").write(toFile: required, atomically: true, encoding: .utf8)
            let refused = try await GatewayUnderTest.process(config: required, name: "required", scope: scope)
            #expect(await refused.waitForExit(timeout: .seconds(30)) == 1)
            #expect(
                refused.output.contains("\(required):6: audit: 'required: true' but no 'path'"), "\(refused.output)")
            let check = try await ChildProcess.start(
                binary, ["check-config", required], name: "check", directory: scope.directory, scope: scope)
            #expect(await check.waitForExit(timeout: .seconds(30)) == 1)
        }
    }

    @Test("on_failure: refuse covers HL7: while the log cannot be written each message is answered AE and not forwarded")
    func hl7Refuse() async throws {
        try await withTestScope { scope in
            let (receiver, receiverPort) = try await Self.startReceiver(scope: scope)
            let path = "\(scope.directory)/audit.jsonl"
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/full")
            let gateway = try await Self.hl7Gateway(receiverPort, audit: "fsync: every, on_failure: refuse", auditPath: path, scope: scope)
            let client = try await RawConnection.connect(port: try await gateway.port("HL7"), scope: scope)
            // The first message goes through; writing its record fails, so the log is known to be failing.
            try await client.send(Self.frame("FIRST"))
            #expect(await eventually(timeout: .seconds(20)) { Self.acknowledgmentCodes(client.received) == ["AA"] })
            #expect(await eventually(timeout: .seconds(20)) { gateway.audit.status != .ok })
            try await client.send(Self.frame("REFUSED"))
            #expect(await eventually(timeout: .seconds(20)) { Self.acknowledgmentCodes(client.received) == ["AA", "AE"] })
            let text = String(decoding: client.received, as: UTF8.self)
            #expect(text.contains("MSA|AE|REFUSED"), "\(text)")
            #expect(text.contains("the audit log cannot be written"), "\(text)")
            // Recovered: the next message is forwarded again on the same connection.
            try FileManager.default.removeItem(atPath: path)
            #expect(await eventually(timeout: .seconds(20)) { gateway.audit.status == .ok })
            try await client.send(Self.frame("AFTER"))
            #expect(await eventually(timeout: .seconds(20)) { Self.acknowledgmentCodes(client.received) == ["AA", "AE", "AA"] })
            #expect(receiver.output.contains("got FIRST") && receiver.output.contains("got AFTER"), "\(receiver.output)")
            #expect(!receiver.output.contains("got REFUSED"), "the refused message reached the server")
            await client.close()
            let rejected = try await gateway.records("hl7.rejected", count: 1)
            #expect(rejected.first?.string("reason") == "audit_unavailable")
            #expect(rejected.first?.string("nak_code") == "AE")
        }
    }

    @Test("on_failure: refuse covers TLS: while the log cannot be written a connection is closed before forwarding")
    func tlsRefuse() async throws {
        try await withTestScope { scope in
            let backend = try await CountingListener.start(scope: scope)
            let path = "\(scope.directory)/audit.jsonl"
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/full")
            let gateway = try await RelGateway.start(
                services: """
                      - label: HTTPS
                        listen: "127.0.0.1:443"
                        protocol: tls
                        servers:
                          - \(backend.server("WEB1"))
                    """,
                audit: "fsync: every, on_failure: refuse", auditPath: path, scope: scope)
            let port = try await gateway.port("HTTPS")
            let hello = try Fixture.bytes("PacsgateTLSTests", "openssl-sni-alpn.bin")
            let first = try await RawConnection.connect(port: port, scope: scope)
            try await first.send(hello)
            #expect(await eventually(timeout: .seconds(20)) { backend.connections == 1 })
            await first.close()
            #expect(await eventually(timeout: .seconds(20)) { gateway.audit.status != .ok })
            let refused = try await RawConnection.connect(port: port, scope: scope)
            try await refused.send(hello)
            #expect(await refused.waitForEOF(), "the refused connection was not closed")
            // A fatal internal_error alert, then the close; nothing reached the server.
            #expect(refused.received.count == 7 && refused.received.first == 0x15 && refused.received.last == 0x50, "\(refused.received)")
            #expect(backend.connections == 1)
        }
    }

    @Test("refused connections beyond refused_records per client and interval become one aggregate record")
    func refusalsAreAggregated() async throws {
        try await withTestScope { scope in
            let dead = try Ports.free()
            let gateway = try await RelGateway.start(
                services: """
                      - label: DICOM
                        listen: "127.0.0.1:11112"
                        protocol: dicom
                        servers:
                          - { label: DEAD, address: "127.0.0.1:\(dead)" }
                    """,
                audit: "fsync: every, refused_records: 5, refused_interval: 2s", scope: scope)
            let port = try await gateway.port("DICOM")
            let request = try Fixture.firstPDU("echoscu-storescp.client")
            // 30 associations from one client, every one refused (no server is up): A-ASSOCIATE-RJ each.
            for _ in 0..<30 {
                let connection = try await RawConnection.connect(port: port, from: "127.0.0.2", scope: scope)
                try await connection.send(request)
                #expect(await connection.waitForBytes(10))
                await connection.close()
            }
            let other = try await RawConnection.connect(port: port, from: "127.0.0.3", scope: scope)
            try await other.send(request)
            #expect(await other.waitForBytes(10))
            await other.close()
            let aggregate = try await gateway.records("connection.refused.aggregate", count: 1)
            #expect(aggregate.first?.string("client") == "127.0.0.2")
            #expect(aggregate.first?.int("refused") == 25)
            #expect(aggregate.first?.int("written_in_full") == 5)
            #expect((aggregate.first?.fields["services"] as? [String]) == ["DICOM"])
            #expect((aggregate.first?.fields["events"] as? [String]) == ["dicom.association"])
            let full = try gateway.records("dicom.association")
            #expect(full.filter { ($0.string("client") ?? "").hasPrefix("127.0.0.2:") }.count == 5)
            #expect(full.filter { ($0.string("client") ?? "").hasPrefix("127.0.0.3:") }.count == 1)
        }
    }

    @Test("a stalled disk: the gateway stops reading its clients and serving new ones at buffer_records, memory stays bounded, nothing is lost")
    func stalledDiskBackpressure() async throws {
        try await withTestScope { scope in
            let (receiver, receiverPort) = try await Self.startReceiver(scope: scope)
            // A FIFO nobody reads: once its 64 KiB are full, the audit writer blocks in write() — a hung disk.
            let path = "\(scope.directory)/audit.fifo"
            #expect(mkfifo(path, 0o600) == 0)
            let gateway = try await Self.hl7Gateway(receiverPort, audit: "fsync: interval, buffer_records: 200", auditPath: path, scope: scope)
            let port = try await gateway.port("HL7")
            let client = try await RawConnection.connect(port: port, scope: scope)
            // More messages than the socket buffers between the gateway and the receiver can hold in flight: a message's
            // record is made when its ACK comes back, so every message the gateway forwarded before the log stopped
            // makes one while the client is no longer read. Loopback's buffers grow to several MB each way (a gateway's
            // send buffer and a receiver's receive buffer: about 10 MB with Linux's defaults); 2 KiB messages keep
            // that under a quarter of the 40 MB sent (with 100-byte messages it held all of them in one CI run).
            let count = 20_000
            var batch = ByteBuffer()
            for index in 0..<count { batch.writeImmutableBuffer(Self.frame("M\(index)", note: 2000)) }
            let sending = Task { try await client.send(batch) }
            // The log fills up and stops accepting; the client's messages stop being read.
            let filled = await eventually(timeout: .seconds(30)) { !gateway.audit.isAccepting }
            if !filled {
                // What the client was answered (a NAK from the gateway is not the receiver's AA) and why.
                let answers = Dictionary(grouping: Self.acknowledgmentCodes(client.received)) { $0 }.mapValues(\.count)
                let logged = gateway.logs.all.suffix(30).map(\.description)
                let why = "the audit log never filled up; the client's answers by MSA-1: \(answers); the gateway logged:\n"
                Issue.record("\(why)\(logged.joined(separator: "\n"))")
            }
            // Records still come in for a while: the messages of the reads under way and those already forwarded
            // whose ACKs are on their way back (the socket buffers between the gateway and the receiver hold a few
            // MB). Then the count settles while the disk stays stalled: without backpressure every message would be
            // read, forwarded and wait for its record.
            var settled = gateway.audit.waitingRecords
            let settles = await eventually(timeout: .seconds(60)) {
                let before = gateway.audit.waitingRecords
                try? await Task.sleep(for: .seconds(1))
                settled = gateway.audit.waitingRecords
                return settled == before
            }
            let acknowledged = Self.acknowledgmentCodes(client.received).count
            print(
                "stalled audit log: \(settled) records waiting once settled, \(acknowledged) of \(count) messages "
                    + "acknowledged (engine \(TestEngine.effective))")
            #expect(settles, "records kept piling up while the disk was stalled: \(settled)")
            #expect(settled < count / 2, "records kept piling up while the disk was stalled: \(settled)")
            #expect(acknowledged < count / 2, "the client was still being read: \(acknowledged) messages acknowledged")

            // A client arriving now is not served until the log catches up. The native engine does not accept it at
            // all (its listeners wait for the log); NIO's listener gate stops accepting once a connection finds the
            // log full, and that connection's reads wait.
            let runtime = try await gateway.runtime("HL7")
            let acceptedBefore = runtime.stats.totalConnections
            let late = try await RawConnection.connect(port: port, scope: scope)
            try await late.send(Self.frame("LATE"))
            try await Task.sleep(for: .seconds(2))
            #expect(Self.acknowledgmentCodes(late.received).isEmpty, "a new client was served while the audit log was full")
            if TestEngine.effective == .native {
                #expect(runtime.stats.totalConnections == acceptedBefore, "a new client was accepted while the audit log was full")
            }

            // The disk moves again: read the FIFO until every message's record has come through.
            let reader = open(path, O_RDONLY | O_NONBLOCK)
            #expect(reader >= 0)
            defer { close(reader) }
            var text = ""
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(120)
            var messages = 0
            var others: [Substring] = []  // the first records of other events, for a failure's message
            while messages < count + 1, clock.now < deadline {
                let read = chunk.withUnsafeMutableBytes { Glibc.read(reader, $0.baseAddress, $0.count) }
                if read > 0 {
                    text += String(decoding: chunk[0..<read], as: UTF8.self)
                    if let last = text.lastIndex(of: "\n") {
                        for line in text[...last].split(separator: "\n") {
                            if line.contains(#""event":"hl7.message""#) {
                                messages += 1
                            } else if others.count < 5 {
                                others.append(line.prefix(600))
                            }
                        }
                        text = String(text[text.index(after: last)...])
                    }
                } else {
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
            try await sending.value
            #expect(
                messages == count + 1,
                "\(messages) of \(count + 1) hl7.message records; other records:\n\(others.joined(separator: "\n"))")
            #expect(await eventually(timeout: .seconds(30)) { Self.acknowledgmentCodes(client.received).count == count })
            #expect(await eventually(timeout: .seconds(30)) { Self.acknowledgmentCodes(late.received).count == 1 }, "the new client was never served")
            let gotLines = { receiver.output.split(separator: "\n").filter { $0.hasPrefix("got ") } }
            let allReceived = await eventually(timeout: .seconds(30)) { gotLines().count == count + 1 }
            let received = gotLines()
            #expect(allReceived, "the receiver got \(received.count) of \(count + 1) messages, \(Set(received).count) distinct")
            #expect(gateway.audit.isAccepting)
        }
    }
}

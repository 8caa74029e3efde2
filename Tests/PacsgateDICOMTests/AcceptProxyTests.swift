import Foundation
import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateDICOM

/// `accept_proxy:` (issue 20, must show 2 and 3): HAProxy with `send-proxy-v2` in front of the gateway, connecting from
/// 127.0.0.5 (the only trusted source); pynetdicom modalities bound to 127.0.0.9 and 127.0.0.3 behind it. The audit
/// record, the AE allow-list bound to a client network and the persistence key all use the modality's address; hostile
/// headers are each refused and audited, and nothing reaches the server. Runs on both engines (scripts/test.sh).
@Suite("PROXY protocol from an upstream: HAProxy send-proxy-v2 and hostile headers", .serialized, .timeLimit(.minutes(3)))
struct AcceptProxyTests {
    static let haproxy = "/usr/sbin/haproxy"
    /// The upstream proxy's source address, the only one in `accept_proxy`.
    static let upstream = "127.0.0.5"

    static func service(servers: [String], extra: [String] = []) -> String {
        dicomServiceYAML(
            servers: servers,
            extra: ["    accept_proxy: [\(Self.upstream)]", "    peek_timeout: 2s"] + extra)
    }

    @Test("behind HAProxy send-proxy-v2: audit client, AE allow-list by network and source-ip persistence use the modality's address")
    func haproxyInFront() async throws {
        try await withTestScope { scope in
            try Peers.require(Self.haproxy, "the PROXY protocol tests need haproxy (scripts/install-test-deps.sh)")
            let a = try await RealSCP.storescp("storescp-a", scope: scope)
            let b = try await RealSCP.storescp("storescp-b", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: Self.service(
                    servers: [a.server("A"), b.server("B")],
                    extra: [
                        "    persistence: source-ip",
                        "    calling_ae_allow:", "      - { ae: \"CT*\", from: [127.0.0.9] }", "      - \"MR*\"",
                    ]),
                scope: scope)
            let front = try Ports.free()
            let configPath = "\(scope.directory)/haproxy.cfg"
            try """
                defaults
                  mode tcp
                  timeout connect 5s
                  timeout client 20s
                  timeout server 20s
                listen dicom
                  bind 127.0.0.1:\(front)
                  server gateway 127.0.0.1:\(try await gateway.port()) send-proxy-v2 source \(Self.upstream)

                """.write(toFile: configPath, atomically: true, encoding: .utf8)
            let haproxy = try await ChildProcess.start(
                Self.haproxy, ["-db", "-f", configPath], name: "haproxy", directory: scope.directory, scope: scope)
            #expect(await Ports.waitListening(front, while: { haproxy.isRunning }), "haproxy: \(haproxy.output)")

            func echo(_ calling: String, from sources: [String]) async throws -> [String] {
                let output = try await Peers.python(
                    PolicyAndRoutingTests.echoFromScript, [String(front), calling, "MACH7"] + sources,
                    name: "echo-\(calling)", scope: scope)
                return output.split(separator: "\n").filter { $0.hasPrefix("127.") }.map(String.init)
            }
            // CT* only from 127.0.0.9: HAProxy's own address (127.0.0.5) would be refused for both.
            let ct = try await echo("CT01", from: ["127.0.0.9", "127.0.0.3"])
            #expect(ct == ["127.0.0.9 accepted 0", "127.0.0.3 rejected"], "\(ct)")
            // source-ip persistence: each modality's associations stay on one server, the two on different ones
            // (round-robin placed them); keyed on HAProxy's address all would share one.
            let mr = try await echo("MR01", from: ["127.0.0.9", "127.0.0.3", "127.0.0.9", "127.0.0.3", "127.0.0.9"])
            #expect(mr.count == 5 && mr.allSatisfy { $0.hasSuffix("accepted 0") }, "\(mr)")

            let records = try await gateway.associationRecords(count: 7)
            func host(_ record: AuditRecord) -> String { String((record.string("client") ?? "").prefix { $0 != ":" }) }
            #expect(Set(records.map(host)) == ["127.0.0.9", "127.0.0.3"], "\(records.map { $0.string("client") })")
            let ctRecords = records.filter { $0.string("calling_ae") == "CT01" }
            #expect(ctRecords.map { "\(host($0)) \($0.string("outcome") ?? "")" }.sorted()
                == ["127.0.0.3 rejected-by-gateway", "127.0.0.9 released"])
            func servers(from source: String) -> Set<String> {
                Set(records.filter { $0.string("calling_ae") == "MR01" && host($0) == source }.compactMap {
                    $0.object("server")?.string("label")
                })
            }
            #expect(servers(from: "127.0.0.9").count == 1, "\(servers(from: "127.0.0.9"))")
            #expect(servers(from: "127.0.0.3").count == 1, "\(servers(from: "127.0.0.3"))")
            #expect(servers(from: "127.0.0.9") != servers(from: "127.0.0.3"))
            #expect(try gateway.records("proxy.refused").isEmpty)
        }
    }

    /// Connects from `source` to `port`, sends `hex` (one byte a second when `slow`), and prints what the gateway
    /// answered until it closed ("closed" when nothing).
    static let rawScript = #"""
        import binascii, socket, sys, time
        port, source, hex_bytes, slow = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "slow"
        data = binascii.unhexlify(hex_bytes)
        s = socket.socket()
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.settimeout(15)
        try:
            if slow:
                for byte in data:
                    s.sendall(bytes([byte]))
                    time.sleep(1)
            else:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            answer = s.recv(4096)
            print("answered" if answer else "closed")
        except (ConnectionResetError, BrokenPipeError):
            print("closed")
        """#

    @Test("hostile headers — wrong signature, wrong length, truncated, one byte a second, untrusted source — are refused and audited")
    func hostileHeaders() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let gateway = try await DICOMTestGateway.start(
                services: Self.service(servers: [scp.server("DICOM1")]), scope: scope)
            let port = try await gateway.port()
            let v2 = "0d0a0d0a000d0a515549540a"
            let validV1 = Array("PROXY TCP4 10.1.2.3 127.0.0.1 40000 11112\r\n".utf8).hex
            let cases: [(name: String, source: String, hex: String, slow: Bool, reason: String)] = [
                ("wrong signature", Self.upstream, Array("GET / HTTP/1.1\r\n\r\n".utf8).hex, false, "bad PROXY protocol header"),
                // v2, PROXY over TCP/IPv4 with a length of 4: shorter than the 12-byte address block.
                ("wrong length", Self.upstream, v2 + "21110004" + "0a010203", false, "bad PROXY protocol header"),
                ("truncated", Self.upstream, Array("PROXY TCP4 10.1.2.3 127.0".utf8).hex, false, "closed before"),
                ("one byte a second", Self.upstream, validV1, true, "within peek_timeout"),
                ("untrusted source", "127.0.0.7", validV1, false, "source outside accept_proxy"),
            ]
            for (index, item) in cases.enumerated() {
                let output = try await Peers.python(
                    Self.rawScript, [String(port), item.source, item.hex, item.slow ? "slow" : "fast"],
                    name: "hostile-\(index)", scope: scope)
                #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == "closed", "\(item.name): \(output)")
                let arrived = await eventually { ((try? gateway.records("proxy.refused").count) ?? 0) > index }
                #expect(arrived, "\(item.name): no proxy.refused record")
                let record = try #require(try gateway.records("proxy.refused").last, "\(item.name)")
                #expect(record.string("service") == "DICOM")
                #expect(record.string("client")?.hasPrefix("\(item.source):") == true, "\(item.name): \(record.fields)")
                #expect(record.string("reason")?.contains(item.reason) == true, "\(item.name): \(record.fields)")
                #expect(record.string("outcome") == "refused")
            }
            #expect(try gateway.records("proxy.refused").count == cases.count)
            // Nothing reached the server, and no association record claims otherwise.
            #expect(scp.associationsReceived == 0)
            #expect(try gateway.records(AssociationRecord.event).isEmpty)
            #expect(
                gateway.logs.all.contains {
                    $0.level == .warning
                        && $0.message == "connection refused: a PROXY protocol header from a source outside accept_proxy"
                })
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate var hex: String { self.map { String(format: "%02x", $0) }.joined() }
}

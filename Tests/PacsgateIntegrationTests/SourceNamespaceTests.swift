import Foundation
import Logging
import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateApp

/// `source:` with real nodes in their own network namespace (issue 20, must show 1a). The namespace is reached over
/// a veth pair whose host end has two addresses: the primary one (what the kernel picks) and the one `source:` names.
/// dcmtk's storescp (`-d -dhl` logs each association's peer address) is the DICOM node; a Python listener recording
/// each peer address stands for the HL7 and HTTPS nodes (the gateway connects to them once the first MLLP message or
/// the ClientHello has been inspected). A DICOM service without `source:` is the control. Both engines
/// (scripts/test.sh).
@Suite("source: nodes in their own namespace see the configured address", .serialized, .timeLimit(.minutes(2)))
struct SourceNamespaceTests {
    static var ip: String { FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip" }

    /// Root and `ip netns` are what this test needs; elsewhere it cannot run.
    static let available: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: ip) else { return false }
        let probe = "pg20probe\(getpid())"
        guard run([ip, "netns", "add", probe]) == 0 else { return false }
        run([ip, "netns", "del", probe])
        return true
    }()

    @discardableResult
    static func run(_ command: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Listens on `PORT` for ever, appending `PORT PEER` for each connection to `OUT`, and closes it.
    static let listenerScript = #"""
        import socket, sys, threading
        out, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
        lock = threading.Lock()
        def serve(port):
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("0.0.0.0", port))
            listener.listen(8)
            while True:
                connection, peer = listener.accept()
                with lock, open(out, "a") as f:
                    f.write("%d %s\n" % (port, peer[0]))
                connection.close()
        for port in ports:
            threading.Thread(target=serve, args=(port,), daemon=True).start()
        print("listening", flush=True)
        threading.Event().wait()
        """#

    /// Sends one MLLP-framed ADT^A01 to `HOST PORT` and waits for the gateway to close.
    static let hl7Script = #"""
        import socket, sys
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
        s.sendall(b"\x0bMSH|^~\\&|RIS|HOSP|PACS|HOSP|20240101120000||ADT^A01|MSG0001|P|2.5\rPID|1||12345\r\x1c\r")
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        """#

    @Test("DICOM (storescp), HL7 and TLS passthrough come from the source address; without it from the host's own",
          .enabled(if: SourceNamespaceTests.available))
    func nodesSeeTheSource() async throws {
        try await withTestScope(
            directoryPrefix: "pacsgate-source-ns",
            missingPeerAdvice: "the source address test needs dcmtk, python3, openssl and iproute2 (scripts/install-test-deps.sh)"
        ) { scope in
            // Names and a subnet unique to this run (other tests make namespaces too).
            let id = String(format: "%04x", Int.random(in: 0..<0xFFFF))
            let subnet = "10.220.\(Int.random(in: 1..<250))"
            let namespace = "pg20src\(id)"
            let hostEnd = "pg20h\(id)"
            let (primary, source, node) = ("\(subnet).1", "\(subnet).2", "\(subnet).10")
            await scope.onCleanup { Self.run([Self.ip, "netns", "del", namespace]) }
            for command in [
                [Self.ip, "netns", "add", namespace],
                [Self.ip, "link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", namespace],
                [Self.ip, "addr", "add", "\(primary)/24", "dev", hostEnd],
                [Self.ip, "addr", "add", "\(source)/24", "dev", hostEnd],
                [Self.ip, "link", "set", hostEnd, "up"],
                [Self.ip, "-n", namespace, "addr", "add", "\(node)/24", "dev", "eth0"],
                [Self.ip, "-n", namespace, "link", "set", "eth0", "up"],
                [Self.ip, "-n", namespace, "link", "set", "lo", "up"],
            ] {
                try #require(Self.run(command) == 0, "\(command.joined(separator: " "))")
            }
            let storescp = try await ChildProcess.start(
                Self.ip,
                ["netns", "exec", namespace, Peers.storescp, "-d", "-dhl", "-aet", "MACH7", "-od", scope.directory, "11112"],
                name: "storescp", directory: scope.directory, scope: scope)
            let peers = "\(scope.directory)/peers.txt"
            let script = "\(scope.directory)/listener.py"
            try Self.listenerScript.write(toFile: script, atomically: true, encoding: .utf8)
            let listener = try await ChildProcess.start(
                Self.ip, ["netns", "exec", namespace, Peers.env, "python3", script, peers, "2575", "8443"],
                name: "listener", directory: scope.directory, scope: scope)
            #expect(await eventually { listener.output.contains("listening") }, "\(listener.output)")
            #expect(await eventually { storescp.output.contains("DcmDataDictionary") }, "\(storescp.output)")

            let yaml = """
                services:
                  - { label: DICOM, listen: "127.0.0.1:1", protocol: dicom, source: \(source), servers: [{ label: N, address: "\(node):11112" }] }
                  - { label: PLAIN, listen: "127.0.0.1:2", protocol: dicom, servers: [{ label: N, address: "\(node):11112" }] }
                  - { label: HL7, listen: "127.0.0.1:3", protocol: hl7, source: \(source), servers: [{ label: N, address: "\(node):2575" }] }
                  - { label: HTTPS, listen: "127.0.0.1:4", protocol: tls, source: \(source), servers: [{ label: N, address: "\(node):8443" }] }
                """
            let logs = LogRecorder()
            let gateway = try await GatewayUnderTest.inProcess(
                yaml: yaml, registry: BuiltInModules.registry, logger: Logger(label: "source-ns") { _ in logs.handler() },
                scope: scope
            ).gateway
            func port(_ service: String) async throws -> String {
                String(try #require(await gateway.listenAddress(of: service)?.port, "\(service) not listening"))
            }

            for service in ["DICOM", "PLAIN"] {
                let echo = try await Peers.run(
                    Peers.echoscu, ["-aet", "MODALITY1", "-aec", "MACH7", "127.0.0.1", try await port(service)],
                    name: "echoscu-\(service)", scope: scope)
                #expect(echo.status == 0, "\(service): \(echo.output)")
            }
            let received = { storescp.output.split(separator: "\n").filter { $0.contains("Association Received: ") } }
            #expect(await eventually { received().count == 2 }, "\(storescp.output)")
            #expect(received().map { String($0.split(separator: " ").last ?? "") } == [source, primary])

            try await Peers.python(Self.hl7Script, ["127.0.0.1", try await port("HL7")], name: "hl7", scope: scope)
            _ = try await Peers.run(
                "/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(try await port("HTTPS"))", "-servername", "pacs.test"],
                name: "s_client", scope: scope, timeout: .seconds(20))
            let recorded = { ((try? String(contentsOfFile: peers, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
            #expect(await eventually { recorded().count == 2 }, "\(recorded())")
            #expect(Set(recorded()) == ["2575 \(source)", "8443 \(source)"], "\(recorded())")
        }
    }
}

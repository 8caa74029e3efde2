import Foundation
import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateApp

/// `transparent: true` with the modality, the gateway and the node each in a network namespace of its own (issue 20,
/// must show 1b), routed as docs/operations.md ("Transparent mode") tells an operator to: the gateway's namespace is
/// the nodes' route back to the clients, and a policy route with nftables' `socket transparent` hands the nodes'
/// answers to the gateway's transparent sockets. The gateway is the built executable (`pacsgate run`), started inside
/// its namespace with CAP_NET_ADMIN (root). dcmtk's storescp logs each association's peer; a Python listener records
/// the peers of the HL7 and HTTPS (TLS passthrough) nodes. Both engines (`PACSGATE_TEST_ENGINE`).
@Suite("transparent: the nodes see the modality's own address", .serialized, .timeLimit(.minutes(3)))
struct TransparentNamespaceTests {
    static var ip: String { SourceNamespaceTests.ip }

    /// What `command` printed on standard output (nothing when it failed).
    static func output(_ command: [String]) -> String {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return "" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test("DICOM (storescp), HL7 and TLS passthrough nodes see the modality's address, not the gateway's",
          .enabled(if: SourceNamespaceTests.available))
    func nodesSeeTheClient() async throws {
        try await withTestScope(
            directoryPrefix: "pacsgate-transparent-ns",
            missingPeerAdvice: "the transparent mode test needs dcmtk, python3, openssl, nftables and iproute2 (scripts/install-test-deps.sh)"
        ) { scope in
            try Peers.require("/usr/sbin/nft", scope.missingPeerAdvice)
            let id = String(format: "%04x", Int.random(in: 0..<0xFFFF))
            let octet = Int.random(in: 1..<250)
            let (client, gateway, node) = ("pg20c\(id)", "pg20g\(id)", "pg20n\(id)")
            let (vip, modality) = ("10.223.\(octet).1", "10.223.\(octet).10")
            let (gatewayNodeSide, nodeAddress) = ("10.224.\(octet).1", "10.224.\(octet).10")
            for namespace in [client, gateway, node] {
                await scope.onCleanup { SourceNamespaceTests.run([Self.ip, "netns", "del", namespace]) }
            }
            let nftFile = "\(scope.directory)/transparent.nft"
            try TransparentRouting.ruleset.write(toFile: nftFile, atomically: true, encoding: .utf8)
            let network: [[String]] = [
                [Self.ip, "netns", "add", client], [Self.ip, "netns", "add", gateway], [Self.ip, "netns", "add", node],
                [Self.ip, "-n", gateway, "link", "add", "c0", "type", "veth", "peer", "name", "eth0", "netns", client],
                [Self.ip, "-n", gateway, "link", "add", "n0", "type", "veth", "peer", "name", "eth0", "netns", node],
                [Self.ip, "-n", gateway, "addr", "add", "\(vip)/24", "dev", "c0"],
                [Self.ip, "-n", gateway, "addr", "add", "\(gatewayNodeSide)/24", "dev", "n0"],
                [Self.ip, "-n", client, "addr", "add", "\(modality)/24", "dev", "eth0"],
                [Self.ip, "-n", node, "addr", "add", "\(nodeAddress)/24", "dev", "eth0"],
                [Self.ip, "-n", gateway, "link", "set", "c0", "up"], [Self.ip, "-n", gateway, "link", "set", "n0", "up"],
                [Self.ip, "-n", gateway, "link", "set", "lo", "up"],
                [Self.ip, "-n", client, "link", "set", "eth0", "up"], [Self.ip, "-n", client, "link", "set", "lo", "up"],
                [Self.ip, "-n", node, "link", "set", "eth0", "up"], [Self.ip, "-n", node, "link", "set", "lo", "up"],
                [Self.ip, "-n", client, "route", "add", "default", "via", vip],
                // The node's way back to the modalities is the gateway (as docs/operations.md says).
                [Self.ip, "-n", node, "route", "add", "default", "via", gatewayNodeSide],
            ]
            // On the gateway: the nodes' answers to a modality's address belong to a transparent socket here.
            for command in network + TransparentRouting.commands(ip: Self.ip, namespace: gateway, rulesetFile: nftFile) {
                try #require(SourceNamespaceTests.run(command) == 0, "\(command.joined(separator: " "))")
            }

            let storescp = try await ChildProcess.start(
                Self.ip,
                ["netns", "exec", node, Peers.storescp, "-d", "-dhl", "-aet", "MACH7", "-od", scope.directory, "11112"],
                name: "storescp", directory: scope.directory, scope: scope)
            let peers = "\(scope.directory)/peers.txt"
            let listenerScript = "\(scope.directory)/listener.py"
            try SourceNamespaceTests.listenerScript.write(toFile: listenerScript, atomically: true, encoding: .utf8)
            let listener = try await ChildProcess.start(
                Self.ip, ["netns", "exec", node, Peers.env, "python3", listenerScript, peers, "2575", "8443"],
                name: "listener", directory: scope.directory, scope: scope)
            #expect(await eventually { listener.output.contains("listening") }, "\(listener.output)")
            #expect(await eventually { storescp.output.contains("DcmDataDictionary") }, "\(storescp.output)")

            let engine = TestEngine.effective == .nio ? "engine: nio\n" : ""
            let configuration = "\(scope.directory)/pacsgate.yaml"
            try """
                \(engine)audit: { path: "\(scope.directory)/audit.jsonl" }
                services:
                  - { label: DICOM, listen: "\(vip):11112", protocol: dicom, transparent: true, servers: [{ label: N, address: "\(nodeAddress):11112" }] }
                  - { label: HL7, listen: "\(vip):2575", protocol: hl7, transparent: true, servers: [{ label: N, address: "\(nodeAddress):2575" }] }
                  - { label: HTTPS, listen: "\(vip):8443", protocol: tls, transparent: true, servers: [{ label: N, address: "\(nodeAddress):8443" }] }
                """.write(toFile: configuration, atomically: true, encoding: .utf8)
            let gatewayProcess = try await GatewayUnderTest.process(
                config: configuration, arguments: ["--log-format", "plain"], launcher: [Self.ip, "netns", "exec", gateway],
                scope: scope)
            let listening = await eventually(timeout: .seconds(30)) {
                Self.output([Self.ip, "netns", "exec", gateway, "ss", "-Hltn"]).contains("\(vip):8443")
            }
            try #require(listening, "the gateway did not start: \(gatewayProcess.output)")

            let echo = try await Peers.run(
                Self.ip, ["netns", "exec", client, Peers.echoscu, "-aet", "MODALITY1", "-aec", "MACH7", vip, "11112"],
                name: "echoscu", scope: scope)
            #expect(echo.status == 0, "\(echo.output)\n\(gatewayProcess.output)")
            let received = { storescp.output.split(separator: "\n").filter { $0.contains("Association Received: ") } }
            #expect(await eventually { received().count == 1 }, "\(storescp.output)")
            #expect(received().map { String($0.split(separator: " ").last ?? "") } == [modality], "\(storescp.output)")

            let hl7Script = "\(scope.directory)/hl7.py"
            try SourceNamespaceTests.hl7Script.write(toFile: hl7Script, atomically: true, encoding: .utf8)
            _ = try await Peers.run(
                Self.ip, ["netns", "exec", client, Peers.env, "python3", hl7Script, vip, "2575"], name: "hl7", scope: scope)
            _ = try await Peers.run(
                Self.ip,
                ["netns", "exec", client, "/usr/bin/openssl", "s_client", "-connect", "\(vip):8443", "-servername", "pacs.test"],
                name: "s_client", scope: scope, timeout: .seconds(20))
            let recorded = { ((try? String(contentsOfFile: peers, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
            #expect(await eventually { recorded().count == 2 }, "\(recorded())\n\(gatewayProcess.output)")
            #expect(Set(recorded()) == ["2575 \(modality)", "8443 \(modality)"], "\(recorded())")
        }
    }
}

@Suite("transparent: run says what is missing without CAP_NET_ADMIN")
struct TransparentModeCheckTests {
    static let configuration: GatewayConfiguration = {
        var service = ServiceConfiguration(
            label: "DICOM", listen: Endpoint(host: "127.0.0.1", port: 11112), protocolName: "dicom", servers: [])
        service.transparent = true
        return GatewayConfiguration(services: [service])
    }()

    @Test("the effective set is read from /proc/self/status; without bit 12 the start is refused with the fix")
    func capability() throws {
        let status = "Name:\tpacsgate\nCapInh:\t0000000000000000\nCapPrm:\t0000000000001000\nCapEff:\t0000000000001000\n"
        #expect(TransparentModeCheck.effectiveCapabilities(status: status) == 0x1000)
        #expect(TransparentModeCheck.problem(Self.configuration, effective: 0x1000) == nil)
        let problem = try #require(TransparentModeCheck.problem(Self.configuration, effective: 0x2000))
        #expect(problem.contains("'DICOM'") && problem.contains("CAP_NET_ADMIN") && problem.contains("AmbientCapabilities"))
        #expect(TransparentModeCheck.problem(GatewayConfiguration(services: []), effective: 0) == nil)
        // A status without CapEff, or with garbage there, is no capability: the start is refused, not allowed.
        #expect(TransparentModeCheck.effectiveCapabilities(status: "Name:\tpacsgate\n") == nil)
        #expect(TransparentModeCheck.effectiveCapabilities(status: "CapEff:\tzz12\n") == nil)
        #expect(TransparentModeCheck.effectiveCapabilities(status: "CapEff:\t\n") == nil)
        #expect(TransparentModeCheck.problem(Self.configuration, effective: nil)?.contains("CAP_NET_ADMIN") == true)
    }
}

import Foundation
import Testing

/// A real SCP (dcmtk storescp or wlmscpfs) on a loopback port, standing in for a Mach7 node.
package struct RealSCP: Sendable {
    package let process: ChildProcess
    package let port: Int
    /// Where storescp writes received instances (or wlmscpfs reads worklists from).
    package let directory: String

    /// The server entry for a YAML `servers:` list.
    package func server(_ label: String) -> String {
        "{ label: \(label), address: \"127.0.0.1:\(self.port)\" }"
    }

    /// Associations the SCP itself logged (dcmtk's `-v` prints one "Association Received" per association).
    package var associationsReceived: Int {
        self.process.output.components(separatedBy: "Association Received").count - 1
    }

    /// `storescp -v -aet MACH7 -od DIR [+B] PORT`: accepts Verification and every Storage SOP class; `+B`
    /// (bit-preserving) writes each instance exactly as it arrived.
    package static func storescp(_ name: String, scope: TestScope, aet: String = "MACH7") async throws -> RealSCP {
        let directory = try scope.makeDirectory("\(name)-received")
        return try await Self.start(name, scope: scope, directory: directory) { port in
            (Peers.storescp, ["-v", "-aet", aet, "+B", "-od", directory, String(port)])
        }
    }

    /// `wlmscpfs -v -dfp DIR PORT` serving one synthetic worklist item under `DIR/<calledAE>/`.
    package static func wlmscpfs(_ name: String, scope: TestScope, calledAE: String = "MACH7") async throws -> RealSCP {
        let root = try scope.makeDirectory("\(name)-worklists")
        let aeDirectory = try scope.makeDirectory("\(name)-worklists/\(calledAE)")
        _ = FileManager.default.createFile(atPath: "\(aeDirectory)/lockfile", contents: nil)
        let dump = "\(scope.directory)/\(name)-item.dump"
        try Self.worklistDump.write(toFile: dump, atomically: true, encoding: .utf8)
        let made = try await Peers.run(
            Peers.dump2dcm,
            [dump, "\(aeDirectory)/item1.wl"],
            name: "\(name)-dump2dcm",
            scope: scope
        )
        guard made.status == 0 else {
            Issue.record("dump2dcm failed: \(made.output)")
            throw Peers.Missing(description: "dump2dcm failed")
        }
        return try await Self.start(name, scope: scope, directory: root) { port in
            (Peers.wlmscpfs, ["-v", "-dfp", root, String(port)])
        }
    }

    /// Starts the SCP on a free port, retrying on another port if it loses a race for the first: `command` gives the
    /// program and its arguments for a port.
    package static func start(
        _ name: String,
        scope: TestScope,
        directory: String,
        command: (Int) -> (String, [String])
    ) async throws -> RealSCP {
        for attempt in 1...3 {
            let port = try Ports.free()
            let (executable, arguments) = command(port)
            let process = try await ChildProcess.start(
                executable,
                arguments,
                name: "\(name)-\(attempt)",
                directory: scope.directory,
                scope: scope
            )
            if await Ports.waitListening(port, while: { process.isRunning }), process.isRunning {
                return RealSCP(process: process, port: port, directory: directory)
            }
            await process.stop()
        }
        Issue.record("\(name) did not start listening")
        throw Peers.Missing(description: "\(name) did not start")
    }

    /// A complete Modality Worklist item (synthetic demo values; wlmscpfs ignores incomplete ones).
    package static let worklistDump = """
        (0008,0005) CS  [ISO_IR 100]
        (0008,0050) SH  [DEMO-ACC-1]
        (0010,0010) PN  [DEMO^PATIENT]
        (0010,0020) LO  [DEMO-0001]
        (0010,0030) DA  [19700101]
        (0010,0040) CS  [O]
        (0020,000d) UI  [1.2.826.0.1.3680043.8.498.10002.1]
        (0032,1032) PN  [DEMO^PHYSICIAN]
        (0032,1060) LO  [DEMO EXAM]
        (0040,0100) SQ
        (fffe,e000) -
        (0008,0060) CS  [CT]
        (0040,0001) AE  [CT01]
        (0040,0002) DA  [20250101]
        (0040,0003) TM  [080000]
        (0040,0006) PN  [DEMO^TECH]
        (0040,0007) LO  [DEMO STEP]
        (0040,0009) SH  [SPS1]
        (0040,0010) SH  [STATION1]
        (0040,0011) SH  [ROOM1]
        (fffe,e00d) -
        (fffe,e0dd) -
        (0040,1001) SH  [RP1]
        (0040,1003) SH  [LOW]

        """
}

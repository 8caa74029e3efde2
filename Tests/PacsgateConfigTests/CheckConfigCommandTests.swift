import Foundation
import PacsgateTestSupport
import Testing

/// `pacsgate check-config` as an operator runs it: the real executable, real files, exit codes and output.
@Suite("pacsgate check-config")
struct CheckConfigCommandTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("the Mach7 sample validates with the test PKI of scripts/make-test-pki.sh: exit 0 and a one-line summary")
    func mach7Sample() throws {
        let site = try SitePKI.make()
        defer { try? FileManager.default.removeItem(at: site) }
        let result = try PacsgateProcess.run(["check-config", "mach7.yaml"], in: site)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(
            result.standardOutput
                == "mach7.yaml: OK — 6 services (DICOM 192.168.110.100:11112 dicom, HL7 192.168.110.101:6667 hl7, DMWL 192.168.110.102:5104 dicom, DICOM-TLS 192.168.110.100:2762 dicom, HL7-TLS 192.168.110.101:6668 hl7, HTTPS 192.168.110.103:443 tls), 12 servers\n"
        )
        // As shipped (the Debian package installs it as /etc/pacsgate/pacsgate.yaml) the TLS services are commented
        // out, so the sample validates without certificate files.
        let shipped = try PacsgateProcess.run(["check-config", "Samples/mach7.yaml"], in: Self.repository)
        #expect(shipped.status == 0, "\(shipped.standardError)")
        #expect(shipped.standardOutput.hasPrefix("Samples/mach7.yaml: OK — 4 services"), "\(shipped.standardOutput)")
        // Switched on without their certificate files, it says which one is missing, with its line.
        if !FileManager.default.fileExists(atPath: "/etc/pacsgate/tls/gateway.crt") {
            let switchedOn = site.appendingPathComponent("switched-on.yaml").path
            let sample = try String(contentsOf: Self.repository.appendingPathComponent("Samples/mach7.yaml"), encoding: .utf8)
            try SitePKI.withTLSServices(sample).write(toFile: switchedOn, atomically: true, encoding: .utf8)
            let missing = try PacsgateProcess.run(["check-config", "switched-on.yaml"], in: site)
            #expect(missing.status == 1)
            #expect(missing.standardError.contains("switched-on.yaml:"), "\(missing.standardError)")
            #expect(missing.standardError.contains("'/etc/pacsgate/tls/gateway.crt' cannot read a PEM certificate"), "\(missing.standardError)")
        }
    }

    @Test("the loopback sample validates")
    func localSample() throws {
        let result = try PacsgateProcess.run(["check-config", "Samples/local.yaml"], in: Self.repository)
        #expect(result.status == 0)
        #expect(result.standardOutput.hasPrefix("Samples/local.yaml: OK — 4 services"))
    }

    @Test(
        "each broken configuration exits 1 with FILE:LINE: message",
        arguments: [
            (
                "unknown-key.yaml",
                "unknown-key.yaml:6: service 'DICOM': unknown key 'persistance' (known keys: accept_proxy, balance, close_linger, connect_timeout, engine, health_check, idle_timeout, label, listen, maxconn, maxconn_per_client, peek_timeout, persistence, protocol, servers, source, transparent)"
            ),
            (
                "bad-address.yaml",
                "bad-address.yaml:5: service 'DICOM' server 'DICOM1': bad address '192.168.110.300:11112': '192.168.110.300' is not an IP address or host name"
            ),
            (
                "port-out-of-range.yaml",
                "port-out-of-range.yaml:3: service 'HL7': bad listen address '127.0.0.1:66670': port 66670 out of range (1-65535)"
            ),
            (
                "duplicate-label.yaml",
                "duplicate-label.yaml:6: duplicate service label 'DICOM' (first at line 2)"
            ),
            (
                "no-servers.yaml",
                "no-servers.yaml:4: service 'DMWL': has no servers ('servers' must be a non-empty list)"
            ),
            (
                "bad-duration.yaml",
                "bad-duration.yaml:4: service 'HTTPS' health_check: bad duration '2 seconds' for 'interval' (use e.g. 500ms, 2s, 30m, 1h)"
            ),
            (
                "transparent-with-source.yaml",
                "transparent-with-source.yaml:5: service 'DICOM': 'transparent: true' binds the client's own address; remove 'source' from the service and its servers"
            ),
            (
                "bad-send-proxy.yaml",
                "bad-send-proxy.yaml:6: service 'HTTPS' server 'WEB1': 'send_proxy' must be one of v1 | v2, found 'v3'"
            ),
            (
                "all-backups.yaml",
                "all-backups.yaml:6: service 'DICOM': every server is a backup; a backup only takes connections while no primary can, so mark at least one server without 'backup: true'"
            ),
        ])
    func brokenConfiguration(file: String, expected: String) throws {
        let directory = Self.repository.appendingPathComponent("Tests/PacsgateConfigTests/BrokenConfigs")
        let result = try PacsgateProcess.run(["check-config", file], in: directory)
        #expect(result.status == 1)
        #expect(result.standardError == expected + "\n")
        #expect(result.standardOutput.isEmpty)
    }

    @Test("a missing file is reported, exit 1")
    func missingFile() throws {
        let result = try PacsgateProcess.run(["check-config", "/nonexistent/pacsgate.yaml"], in: Self.repository)
        #expect(result.status == 1)
        #expect(result.standardError.hasPrefix("/nonexistent/pacsgate.yaml:0: cannot read file"))
    }

    @Test("--version and --help with examples")
    func versionAndHelp() throws {
        let version = try PacsgateProcess.run(["--version"], in: Self.repository)
        #expect(version.status == 0)
        // The commit is checked in PacsgateServiceTests (VersionTests).
        #expect(version.standardOutput.hasPrefix("0.1.0 (commit "), "\(version.standardOutput)")
        let help = try PacsgateProcess.run(["--help"], in: Self.repository)
        #expect(help.status == 0)
        #expect(help.standardOutput.contains("pacsgate check-config Samples/mach7.yaml"))
        #expect(help.standardOutput.contains("demo"))
    }
}

/// Runs the built `pacsgate` executable (`PACSGATE_BIN`, or `.build/debug/pacsgate`).
enum PacsgateProcess {
    struct Result {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    static var executable: URL {
        get throws { URL(fileURLWithPath: try GatewayUnderTest.executable) }
    }

    static func run(_ arguments: [String], in directory: URL) throws -> Result {
        let process = Process()
        process.executableURL = try executable
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData, as: UTF8.self))
    }
}

/// The site sample with a test PKI: `scripts/make-test-pki.sh` into a fresh directory, and `Samples/mach7.yaml` copied
/// there as `mach7.yaml` with `/etc/pacsgate/tls/` pointing at it (the sample references the files a site installs).
enum SitePKI {
    static func make() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pacsgate-site-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [
            CheckConfigCommandTests.repository.appendingPathComponent("scripts/make-test-pki.sh").path, directory.path, "2",
        ]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PacsgateProcess.Missing(description: "scripts/make-test-pki.sh failed (\(process.terminationStatus))")
        }
        let sample = try String(
            contentsOf: CheckConfigCommandTests.repository.appendingPathComponent("Samples/mach7.yaml"), encoding: .utf8)
        try Self.withTLSServices(sample).replacingOccurrences(of: "/etc/pacsgate/tls/", with: directory.path + "/")
            .write(to: directory.appendingPathComponent("mach7.yaml"), atomically: true, encoding: .utf8)
        return directory
    }

    /// The sample with its TLS services switched on: the lines it carries commented out as `#~ `.
    static func withTLSServices(_ sample: String) -> String {
        sample.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("#~ ") ? line.dropFirst(3) : line == "#~" ? "" : line
        }.joined(separator: "\n")
    }
}

import Foundation
import PacsgateTestSupport
import NIOConcurrencyHelpers
import Testing

#if canImport(Glibc)
import Glibc
#endif

struct ToolFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs real tools on a thread of their own (never blocking the cooperative pool).
enum Tools {
    typealias Output = ToolOutput

    static func run(_ executable: String, _ arguments: [String], input: String? = nil) async throws -> Output {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw ToolFailure("\(executable) is not installed (scripts/install-test-deps.sh installs it)")
        }
        return try await ToolRunner.run(executable, arguments, input: input)
    }

    /// The DICOM audit message schema (PS3.15 §A.5.1, RELAX NG) from the fixtures.
    static var schemaPath: String {
        get throws {
            guard let url = Bundle.module.url(forResource: "audit-message", withExtension: "rng", subdirectory: "Fixtures") else {
                throw ToolFailure("Fixtures/audit-message.rng missing from the test bundle")
            }
            return url.path
        }
    }

    /// Validates XML documents against the schema with `xmllint --relaxng` (Debian libxml2-utils); returns the
    /// validator's complaints (empty: all valid).
    static func validate(_ documents: [String]) async throws -> String {
        let directory = try temporaryDirectory("xml")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var paths: [String] = []
        for (index, document) in documents.enumerated() {
            let path = "\(directory)/m\(index).xml"
            try document.write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
        }
        let result = try await Self.run("/usr/bin/xmllint", ["--noout", "--relaxng", try Self.schemaPath] + paths)
        return result.status == 0 ? "" : result.standardError
    }

    static func temporaryDirectory(_ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pacsgate-atna-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}


/// The peers of the export tests that run the real `pacsgate run`.
enum ExportPeers {
    /// dcmtk's storescp answering C-ECHO as MACH7 on `port`, writing into `directory`; stop it with ``terminate(_:grace:)``.
    static func storescp(port: Int, directory: String) throws -> Process {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/storescp") else {
            throw ToolFailure("dcmtk missing: apt-get install dcmtk")
        }
        let storescp = Process()
        storescp.executableURL = URL(fileURLWithPath: "/usr/bin/storescp")
        storescp.arguments = ["-aet", "MACH7", "-od", directory, String(port)]
        storescp.standardOutput = FileHandle.nullDevice
        storescp.standardError = FileHandle.nullDevice
        try storescp.run()
        return storescp
    }

    /// `pacsgate run --config CONFIG`, its standard error in `<directory>/pacsgate.stderr`; returns the process and a
    /// reader of that log.
    static func gateway(config: String, directory: String) throws -> (Process, @Sendable () -> String) {
        let log = "\(directory)/pacsgate.stderr"
        let gateway = try GatewayUnderTest.detachedProcess(config: config, log: log)
        return (gateway, { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" })
    }
}

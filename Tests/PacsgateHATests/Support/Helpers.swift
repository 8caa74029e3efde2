import Foundation
import PacsgateTestSupport
import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

struct HATestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A loopback port that was free a moment ago.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HATestFailure("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw HATestFailure("bind() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A fresh temporary directory.
func makeTemporaryDirectory(_ prefix: String) throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

/// Keeps every log line in memory (tests check what an operator would read).
struct CapturingLogHandler: LogHandler {
    let lines: NIOLockedValueBox<[String]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
        let text = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        self.lines.withLockedValue { $0.append("\(event.level) \(event.message) \(text)") }
    }
}

/// A logger whose lines land in `lines`.
func capturingLogger(_ lines: NIOLockedValueBox<[String]>) -> Logger {
    Logger(label: "pacsgate-ha-test") { _ in CapturingLogHandler(lines: lines) }
}

/// Runs external programs (the pacsgate executable, curl, ip, keepalived) on a thread of their own, so the wait does
/// not block Swift's cooperative pool.
enum ExternalTools {
    typealias Output = ToolOutput

    static func run(_ executable: String, _ arguments: [String], input: String? = nil) async throws -> Output {
        try await ToolRunner.run(executable, arguments, input: input)
    }

    /// The `pacsgate` executable: `PACSGATE_BIN`, else beside the test bundle (same build directory), else
    /// `.build/debug/pacsgate`.
    static var pacsgate: String {
        get throws {
            var candidates: [String] = []
            if let path = ProcessInfo.processInfo.environment["PACSGATE_BIN"] { candidates.append(path) }
            var directory = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").deletingLastPathComponent()
            for _ in 0..<4 {
                candidates.append(directory.appendingPathComponent("pacsgate").path)
                directory = directory.deletingLastPathComponent()
            }
            for bundle in Bundle.allBundles {
                candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("pacsgate").path)
            }
            candidates.append(
                URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/debug/pacsgate").path)
            for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue {
                    return candidate
                }
            }
            throw HATestFailure("pacsgate executable not found (tried \(candidates.joined(separator: ", "))): run `swift build` first or set PACSGATE_BIN")
        }
    }

    /// The first of `paths` that is an executable file.
    static func tool(_ name: String, _ paths: [String]) throws -> String {
        for path in paths where FileManager.default.isExecutableFile(atPath: path) { return path }
        throw HATestFailure("\(name) not found at \(paths.joined(separator: " or ")) (scripts/install-test-deps.sh installs it)")
    }
}

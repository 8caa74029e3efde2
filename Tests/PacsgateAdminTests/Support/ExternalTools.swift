import Foundation
import PacsgateTestSupport
import NIOConcurrencyHelpers

/// Runs real tools the tests rely on (python3 with prometheus_client, curl, the pacsgate executable).
enum ExternalTools {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    typealias Output = ToolOutput

    /// Runs `executable` with `arguments`, feeding `input` to its standard input (on a thread of its own).
    static func run(_ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil) async throws -> Output {
        try await ToolRunner.run(executable, arguments, input: input, environment: environment)
    }

    /// `python3` on PATH.
    static var python: String {
        get throws {
            for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
                let candidate = "\(directory)/python3"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
            throw Failure(description: "python3 not found on PATH (scripts/install-test-deps.sh installs it)")
        }
    }

    /// Parses Prometheus text format with the reference parser (`prometheus_client` from PyPI) and returns every
    /// sample as `name{label="value",…}` (labels sorted) → value. Throws when the text does not parse.
    static func parsePrometheus(_ text: String) async throws -> [String: Double] {
        let program = """
            import json, sys
            try:
                from prometheus_client.parser import text_string_to_metric_families
            except ImportError:
                print("prometheus_client is not installed: pip install prometheus_client", file=sys.stderr)
                sys.exit(3)
            samples = {}
            for family in text_string_to_metric_families(sys.stdin.read()):
                for sample in family.samples:
                    labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(sample.labels.items()))
                    samples["%s{%s}" % (sample.name, labels)] = sample.value
            print(json.dumps(samples))
            """
        let result = try await Self.run(try Self.python, ["-c", program], input: text)
        guard result.status == 0 else {
            throw Failure(description: "prometheus_client could not parse the metrics (exit \(result.status)): \(result.standardError)")
        }
        guard let object = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Double] else {
            throw Failure(description: "unexpected parser output: \(result.standardOutput.prefix(200))")
        }
        return object
    }
}


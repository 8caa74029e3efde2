public import PacsgateCore
import Yams
import Foundation

/// Reads a YAML configuration file into a validated ``GatewayConfiguration``.
///
/// YAML parsing is Yams' job; this type turns Yams' nodes (which carry line numbers) into the core's ``ConfigNode``
/// tree and hands it to the core's ``ConfigurationDecoder``, so every problem is reported as `FILE:LINE: message`.
public struct ConfigurationLoader: Sendable {
    public let registry: ProtocolRegistry

    public init(registry: ProtocolRegistry) {
        self.registry = registry
    }

    /// The outcome of loading: a configuration with warnings, or the problems.
    public typealias Outcome = Result<(GatewayConfiguration, warnings: [ConfigProblem]), ConfigErrors>

    /// Loads and validates the file at `path`.
    public func load(path: String) -> Outcome {
        switch Self.read(path: path) {
        case .success(let text): return self.load(yaml: text)
        case .failure(let errors): return .failure(errors)
        }
    }

    /// The text of a configuration file; a file larger than ``YAMLGuard/maximumBytes`` is refused before it is read.
    public static func read(path: String) -> Result<String, ConfigErrors> {
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = (attributes[.size] as? NSNumber)?.intValue, size > YAMLGuard.maximumBytes
        {
            return .failure(
                ConfigErrors([
                    ConfigProblem(line: 1, "the file is \(size) bytes; at most \(YAMLGuard.maximumBytes) (1 MiB) are accepted")
                ]))
        }
        do {
            return .success(try String(contentsOfFile: path, encoding: .utf8))
        } catch {
            return .failure(ConfigErrors([ConfigProblem(line: 0, "cannot read file: \(error.localizedDescription)")]))
        }
    }

    /// Loads and validates YAML text.
    public func load(yaml text: String) -> Outcome {
        let root: ConfigNode
        switch Self.parse(yaml: text) {
        case .success(let node): root = node
        case .failure(let errors): return .failure(errors)
        }
        return ConfigurationDecoder(registry: self.registry).decode(root)
    }

    /// Parses YAML into a ``ConfigNode`` tree (no validation). Texts that could exhaust time or memory (see
    /// ``YAMLGuard``) are refused before Yams reads them.
    public static func parse(yaml text: String) -> Result<ConfigNode, ConfigErrors> {
        if let problem = YAMLGuard.check(text) { return .failure(ConfigErrors([problem])) }
        do {
            guard let node = try Yams.compose(yaml: text) else {
                return .failure(ConfigErrors([ConfigProblem(line: 1, "the file is empty")]))
            }
            var problems: [ConfigProblem] = []
            let converted = Self.convert(node, depth: 1, problems: &problems)
            return problems.isEmpty ? .success(converted) : .failure(ConfigErrors(problems))
        } catch let error as YamlError {
            return .failure(ConfigErrors([Self.problem(from: error)]))
        } catch {
            return .failure(ConfigErrors([ConfigProblem(line: 0, "cannot parse YAML: \(error)")]))
        }
    }

    private static func convert(_ node: Node, depth: Int, problems: inout [ConfigProblem]) -> ConfigNode {
        let line = node.mark?.line ?? 0
        if depth > YAMLGuard.maximumDepth, node.scalar == nil {
            problems.append(ConfigProblem(line: line, "nested deeper than \(YAMLGuard.maximumDepth) levels"))
            return ConfigNode(.null, line: line)
        }
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                return ConfigNode(.null, line: line)
            }
            return ConfigNode(.scalar(scalar.string), line: line)
        case .mapping(let mapping):
            var entries: [ConfigNode.Entry] = []
            for (key, value) in mapping {
                guard case .scalar(let keyScalar) = key else {
                    problems.append(ConfigProblem(line: key.mark?.line ?? line, "mapping keys must be plain words"))
                    continue
                }
                entries.append(
                    ConfigNode.Entry(
                        key: keyScalar.string, line: key.mark?.line ?? line,
                        value: convert(value, depth: depth + 1, problems: &problems)))
            }
            return ConfigNode(.mapping(entries), line: line)
        case .sequence(let sequence):
            return ConfigNode(.sequence(sequence.map { convert($0, depth: depth + 1, problems: &problems) }), line: line)
        case .alias:
            // Yams resolves aliases while composing; YAMLGuard has refused them before. Kept for Yams versions that
            // return alias nodes.
            problems.append(ConfigProblem(line: line, "YAML aliases (*name) are not supported; write the value out"))
            return ConfigNode(.null, line: line)
        }
    }

    private static func problem(from error: YamlError) -> ConfigProblem {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            // libyaml's own bound on nesting (1000 levels, before Yams' recursive composer sees the document).
            if problem.hasPrefix("Maximum nesting level reached") {
                return ConfigProblem(line: mark.line, "nested deeper than 1000 levels")
            }
            return ConfigProblem(line: mark.line, "invalid YAML: \(problem)")
        default:
            return ConfigProblem(line: 0, "invalid YAML: \(error)")
        }
    }
}

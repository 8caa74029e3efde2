import PacsgateATNA
import PacsgateAdmin
import PacsgateConfig
import PacsgateCore
import PacsgateHA

/// A configuration read and validated whole: the core, the protocol modules and the `admin:` section.
struct LoadedConfiguration: Sendable {
    var configuration: GatewayConfiguration
    /// `nil` when the file has no `admin:` section (no admin server).
    var admin: AdminConfiguration?
    /// `nil` when the file has no `ha:` section (a single unit).
    var ha: HAConfiguration?
    /// `nil` when the file has no `audit.syslog` section (no audit export).
    var syslog: SyslogExportConfiguration?
    /// The YAML text, served by `GET /api/v1/config`.
    var text: String
    var warnings: [ConfigProblem]
}

/// Reads configuration files the way every command does, so `check-config`, `run`, reloads and uploads agree.
enum ConfigurationFile {
    static var loader: ConfigurationLoader { ConfigurationLoader(registry: BuiltInModules.registry) }

    /// Reads and validates `path`.
    static func load(path: String) -> Result<LoadedConfiguration, ConfigErrors> {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            return .failure(ConfigErrors([ConfigProblem(line: 0, "cannot read file: \(error.localizedDescription)")]))
        }
        return Self.load(yaml: text)
    }

    /// Validates YAML text, the `ha:` section included (its problems are reported with the rest, in line order).
    static func load(yaml text: String) -> Result<LoadedConfiguration, ConfigErrors> {
        switch ConfigurationManager.validateDocument(text, loader: Self.loader) {
        case .failure(let errors):
            var problems = errors.problems
            if case .success(let root) = ConfigurationLoader.parse(yaml: text), case .mapping(let entries) = root.kind,
                let node = entries.first(where: { $0.key == "ha" })?.value
            {
                let stateDirectory = entries.first(where: { $0.key == "state_dir" })?.value.scalar
                problems += HAConfiguration.decode(node, stateDirectory: stateDirectory).1
            }
            return .failure(ConfigErrors(problems))
        case .success(let document):
            switch (HAConfiguration.decode(from: document.configuration), SyslogExportConfiguration.decode(from: document.configuration)) {
            case (.success(let ha), .success(let syslog)):
                return .success(
                    LoadedConfiguration(
                        configuration: document.configuration, admin: document.admin, ha: ha, syslog: syslog, text: text,
                        warnings: document.warnings))
            case (let ha, let syslog):
                // Both sections' problems at once, in line order.
                var problems: [ConfigProblem] = []
                if case .failure(let errors) = ha { problems += errors.problems }
                if case .failure(let errors) = syslog { problems += errors.problems }
                return .failure(ConfigErrors(problems))
            }
        }
    }
}

import Foundation

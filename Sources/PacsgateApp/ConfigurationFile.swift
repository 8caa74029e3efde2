import PacsgateAdmin
import PacsgateConfig
import PacsgateCore

/// A configuration read and validated whole: the core, the protocol modules and the `admin:` section.
struct LoadedConfiguration: Sendable {
    var configuration: GatewayConfiguration
    /// `nil` when the file has no `admin:` section (no admin server).
    var admin: AdminConfiguration?
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

    /// Validates YAML text.
    static func load(yaml text: String) -> Result<LoadedConfiguration, ConfigErrors> {
        ConfigurationManager.validateDocument(text, loader: Self.loader).map {
            LoadedConfiguration(configuration: $0.configuration, admin: $0.admin, text: text, warnings: $0.warnings)
        }
    }
}

import Foundation

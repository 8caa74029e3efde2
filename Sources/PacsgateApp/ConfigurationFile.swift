import PacsgateATNA
import PacsgateAdmin
import PacsgateConfig
import PacsgateCore

/// A configuration read and validated whole: the core, the protocol modules and the `admin:` section.
struct LoadedConfiguration: Sendable {
    var configuration: GatewayConfiguration
    /// `nil` when the file has no `admin:` section (no admin server).
    var admin: AdminConfiguration?
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

    /// Validates YAML text.
    static func load(yaml text: String) -> Result<LoadedConfiguration, ConfigErrors> {
        ConfigurationManager.validateDocument(text, loader: Self.loader).flatMap { document in
            SyslogExportConfiguration.decode(from: document.configuration).map { syslog in
                LoadedConfiguration(
                    configuration: document.configuration, admin: document.admin, syslog: syslog, text: text,
                    warnings: document.warnings)
            }
        }
    }
}

import Foundation

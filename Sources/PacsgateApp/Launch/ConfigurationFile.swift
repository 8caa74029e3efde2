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
        switch ConfigurationLoader.read(path: path) {
        case .success(let read): text = read
        case .failure(let errors): return .failure(errors)
        }
        return Self.load(yaml: text).map { loaded in
            var loaded = loaded
            if let warning = Self.secretsExposure(path: path, text: text) { loaded.warnings.append(warning) }
            return loaded
        }
    }

    /// A warning when a file holding secrets can be read by every user of the machine (`chmod o-r` fixes it).
    static func secretsExposure(path: String, text: String) -> ConfigProblem? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IROTH != 0 else { return nil }
        var secretLine: Int?
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let code = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = code.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") })
            if code.contains(":"), words.contains(where: { ConfigurationRedaction.secretKeys.contains($0.lowercased()) }) {
                secretLine = index + 1
                break
            }
        }
        guard let secretLine else { return nil }
        let mode = String(info.st_mode & 0o777, radix: 8)
        return ConfigProblem(
            line: secretLine,
            "the file holds secrets (password or token hashes, shared secrets) and is readable by every user "
                + "(mode \(mode)); restrict it: chmod o-r \(path)"
        )
    }

    /// Validates YAML text, the `ha:` section included (its problems are reported with the rest, in line order).
    static func load(yaml text: String) -> Result<LoadedConfiguration, ConfigErrors> {
        switch ConfigurationManager.validateDocument(text, loader: Self.loader) {
        case .failure(let errors):
            var problems = errors.problems
            if case .success(let root) = ConfigurationLoader.parse(yaml: text), let node = root.section(.ha) {
                let stateDirectory = MappingReader(root, context: "").peekString("state_dir")
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

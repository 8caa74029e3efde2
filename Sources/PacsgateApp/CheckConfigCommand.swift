import ArgumentParser
import Foundation
import PacsgateConfig
import PacsgateCore

/// `pacsgate check-config FILE`: validate a configuration without binding anything.
struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file.",
        discussion: """
            Exits 0 and prints a one-line summary when the file is valid; otherwise prints one line per problem as
            FILE:LINE: message and exits 1. Warnings (FILE:LINE: warning: …) do not fail the check.
            """
    )

    @Argument(help: "The YAML configuration file.")
    var file: String

    func run() throws {
        switch ConfigurationFile.load(path: self.file) {
        case .failure(let errors):
            printError(errors.formatted(file: self.file))
            throw ExitCode(1)
        case .success(let loaded):
            for warning in loaded.warnings { printError("\(self.file):\(warning.line): warning: \(warning.message)") }
            if let ha = loaded.ha {
                // The secret is checked as `run` will read it: a weak one is refused here, with the command that
                // makes a good one.
                do {
                    _ = try HAWiring.readSecret(ha)
                } catch {
                    printError("\(self.file):\(ha.secretFileLine): ha: \(error)")
                    throw ExitCode(1)
                }
            }
            print("\(self.file): OK — \(ConfigurationSummary(loaded.configuration))")
        }
    }
}

/// A one-line description of a configuration.
struct ConfigurationSummary: CustomStringConvertible {
    let configuration: GatewayConfiguration
    init(_ configuration: GatewayConfiguration) { self.configuration = configuration }

    var description: String {
        let services = self.configuration.services
        let servers = services.reduce(0) { $0 + $1.servers.count }
        let list = services.map { "\($0.label) \($0.listen) \($0.protocolName)" }.joined(separator: ", ")
        return "\(services.count) services (\(list)), \(servers) servers"
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Writes to standard output unbuffered (the demo banner must appear before the first log line).
func printOut(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

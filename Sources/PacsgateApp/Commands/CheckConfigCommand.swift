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
                // makes a good one. A file that does not exist here is a warning: the configuration may be checked
                // on another machine than the unit's (`run` refuses to start without it).
                do {
                    _ = try HAWiring.readSecret(ha)
                } catch let error as HAWiring.SecretError where error.missing {
                    printError("\(self.file):\(ha.secretFileLine): warning: \(error) (not on this machine; `run` refuses to start without it)")
                } catch {
                    printError("\(self.file):\(ha.secretFileLine): \(error)")
                    throw ExitCode(1)
                }
                if ha.vrrpTrackFile == nil {
                    printError(
                        "\(self.file):\(ha.line): warning: ha: no VRRP track file (set state_dir or ha.vrrp_track_file): pacsgate cannot tell keepalived it is not ready, is leaving or must take over, so a stop or a switchover cannot hand the virtual IPs over")
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

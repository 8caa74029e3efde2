public import ArgumentParser
import PacsgateVersion

/// `pacsgate`: the command-line entry point.
public struct PacsgateCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "pacsgate",
        abstract: "A healthcare protocol-aware TCP gateway for Mach7 enterprise imaging (DICOM, HL7 MLLP, TLS).",
        discussion: """
            Examples:
              pacsgate demo                                  # four services on 127.0.0.1 with simulated Mach7 nodes
              pacsgate check-config Samples/mach7.yaml       # validate a configuration, report FILE:LINE problems
              pacsgate run --config /etc/pacsgate/pacsgate.yaml
              kill -HUP $(pidof pacsgate)                    # reload the configuration without dropping connections
              pacsgate ctl status                            # the System Overview as a table (admin API)
              pacsgate hash-password                         # a password hash for admin.users
              pacsgate ha-secret /etc/pacsgate/ha.secret     # a new shared secret for an HA pair
            """,
        version: PacsgateVersion.description,
        subcommands: [
            RunCommand.self, CheckConfigCommand.self, DemoCommand.self, CtlCommand.self, HashPasswordCommand.self,
            HASecretCommand.self, AuditCommand.self,
        ]
    )

    public init() {}
}

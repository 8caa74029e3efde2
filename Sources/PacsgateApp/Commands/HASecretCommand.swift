import ArgumentParser
import Foundation
import PacsgateCore
import PacsgateHA

/// `pacsgate ha-secret FILE`: a new shared secret for an HA pair, written owner-only.
struct HASecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ha-secret",
        abstract: "Write a new shared secret for an HA pair (ha.secret_file).",
        discussion: """
            Writes 32 random bytes from the system's generator in pacsgate's checksummed form
            (pgha1_<43 characters>_<8 hex digits>) to FILE, created with mode 0600 in one step; FILE must not exist
            (--force replaces it). Copy the file to the other unit over a secure channel (scp), make it readable by
            the user pacsgate runs as (chown), and name it in ha.secret_file on both units. The secret is never
            printed.
            """
    )

    @Argument(help: "The file to write, e.g. /etc/pacsgate/ha.secret.")
    var file: String

    @Flag(help: "Replace FILE if it exists (both units then need the new file).")
    var force = false

    func run() throws {
        if !self.force, FileManager.default.fileExists(atPath: self.file) {
            printError("ha-secret: \(self.file) exists; --force replaces it (and both units then need the new file)")
            throw ExitCode(1)
        }
        do {
            try PrivateFile.write(Array((HASecret.generate() + "\n").utf8), to: self.file)
        } catch {
            printError("ha-secret: cannot write \(self.file): \(error)")
            throw ExitCode(1)
        }
        print("wrote a new HA secret to \(self.file) (mode 0600); copy it to the other unit and name it in ha.secret_file on both")
    }
}

import ArgumentParser
import Foundation
import PacsgateAdmin

#if canImport(Glibc)
import Glibc
#endif

/// `pacsgate hash-password`: a bcrypt hash for `admin.users`, or a new API token and its digest for `admin.tokens`.
struct HashPasswordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-password",
        abstract: "Print a password hash for admin.users, or make an API token for admin.tokens.",
        discussion: """
            Reads the password from the terminal (twice, not echoed) or, when standard input is not a terminal, from
            its first line. Prints only the hash, ready for the configuration:

              admin:
                users:
                  - { name: alice, password_hash: "$2b$12$…" }

            With --token, makes a random token instead: prints the token once (give it to the script or to
            `pacsgate ctl --token`) and the `token_hash` line for the configuration.
            """
    )

    @Flag(help: "Make a random API token and print it with its token_hash.")
    var token = false

    @Option(help: "bcrypt cost: 2^cost rounds (10-16).")
    var cost: UInt8 = PasswordHasher.defaultCost

    func validate() throws {
        guard (10...16).contains(self.cost) else { throw ValidationError("--cost must be from 10 to 16") }
    }

    func run() throws {
        if self.token {
            let token = APIToken.generate()
            print("token:      \(token)")
            print("token_hash: \(APIToken.Digest(of: token))")
            return
        }
        let password: String
        if isatty(STDIN_FILENO) != 0 {
            let first = Self.readSecret("Password: ")
            let second = Self.readSecret("Again: ")
            guard first == second else {
                printError("the two passwords differ")
                throw ExitCode(1)
            }
            password = first
        } else {
            password = readLine(strippingNewline: true) ?? ""
        }
        do {
            print(try PasswordHasher.hash(password, cost: self.cost))
        } catch {
            printError("hash-password: \(error)")
            throw ExitCode(1)
        }
    }

    /// Reads a line from the terminal with echo off.
    private static func readSecret(_ prompt: String) -> String {
        FileHandle.standardError.write(Data(prompt.utf8))
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        return readLine(strippingNewline: true) ?? ""
    }
}

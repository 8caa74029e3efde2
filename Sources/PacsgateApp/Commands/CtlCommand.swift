import ArgumentParser
import Foundation
import PacsgateAdmin
import PacsgateCore

/// `pacsgate ctl`: drive a running gateway through its admin API.
struct CtlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Show and change a running gateway through its admin API.",
        discussion: """
            Authenticates with a bearer token from admin.tokens (--token, or the PACSGATE_TOKEN environment variable,
            which keeps it out of the process list). Examples:

              pacsgate ctl status
              pacsgate ctl drain DICOM DICOM1
              pacsgate ctl weight DICOM DICOM2 50
              pacsgate ctl --admin https://10.0.0.5:9443 --cacert admin-cert.pem reload
              pacsgate ctl switchover
            """,
        subcommands: [
            CtlStatus.self, CtlState.Drain.self, CtlState.Halt.self, CtlState.Online.self, CtlWeight.self, CtlReload.self,
            CtlSwitchover.self,
        ]
    )

    /// Given before the subcommand (`pacsgate ctl --admin URL status`); the subcommands see them too.
    @OptionGroup var connection: Connection

    /// Options every subcommand shares.
    struct Connection: ParsableArguments {
        @Option(help: "Admin URL.")
        var admin: String = "http://127.0.0.1:9443"

        @Option(help: "API token (default: $PACSGATE_TOKEN).")
        var token: String?

        @Option(help: "Trust this PEM certificate (e.g. the admin's generated STATE_DIR/admin-cert.pem).")
        var cacert: String?

        @Flag(help: "Do not verify the admin server's certificate.")
        var insecure = false

        @Flag(help: "On an HA secondary: make the change here although the pair's configuration comes from the primary (the next sync replaces it).")
        var force = false

        /// `path` with `?force=true` when `--force` was given.
        func forcing(_ path: String) -> String {
            self.force ? path + "?force=true" : path
        }

        func client() throws -> AdminClient {
            guard let token = self.token ?? ProcessInfo.processInfo.environment["PACSGATE_TOKEN"], !token.isEmpty else {
                throw ValidationError("no token: pass --token or set PACSGATE_TOKEN (make one with `pacsgate hash-password --token`)")
            }
            let verification: AdminClient.Verification
            if self.insecure {
                printError("warning: not verifying the admin server's certificate")
                verification = .none
            } else if let cacert = self.cacert {
                verification = .certificateFile(cacert)
            } else {
                verification = .system
            }
            return try AdminClient(baseURL: self.admin, token: token, verification: verification)
        }
    }
}

/// Sends a request and turns an error answer into a message and exit code 1.
func ctlSend(_ client: AdminClient, _ method: HTTPMethodName, _ path: String, json: [String: Any]? = nil) async throws -> AdminClient.Response {
    let body = try json.map { Array(try JSONSerialization.data(withJSONObject: $0)) }
    let response: AdminClient.Response
    do {
        response = try await client.send(method.nio, path, body: body)
    } catch {
        printError("ctl: \(error)")
        throw ExitCode(1)
    }
    guard (200..<300).contains(response.status) else {
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
        let message = object?["error"] as? String ?? object?["message"] as? String ?? response.text
        printError("ctl: \(response.status): \(message)")
        if let problems = object?["problems"] as? [String] { for problem in problems { printError("  \(problem)") } }
        throw ExitCode(1)
    }
    return response
}

/// HTTP methods `ctl` uses.
enum HTTPMethodName {
    case get, post, put
    var nio: AdminClient.Method {
        switch self {
        case .get: return .GET
        case .post: return .POST
        case .put: return .PUT
        }
    }
}

struct CtlStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Print the System Overview as a table.")
    @OptionGroup var connection: CtlCommand.Connection

    func run() async throws {
        let response = try await ctlSend(try self.connection.client(), .get, "/api/v1/overview")
        do {
            print(StatusTable.render(try StatusTable.decode(response.body)))
        } catch {
            printError("ctl: cannot read the overview: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Prints the `message` of the admin API's JSON answer, or `fallback`.
func ctlPrintMessage(_ response: AdminClient.Response, or fallback: String) {
    let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
    print(object?["message"] as? String ?? fallback)
}

/// Changes one server of a service, named by its label, through the admin API (`POST …/state`, `PUT …/weight`) and
/// prints the API's sentence: the one path of `drain`, `halt`, `online` and `weight`.
enum CtlServer {
    static func change(_ connection: CtlCommand.Connection, service: String, server: String, to change: ServerChange) async throws {
        let (setting, method, value, fallback): (String, HTTPMethodName, Any, String) =
            switch change {
            case .state(let state): ("state", .post, state.rawValue, "\(service)/\(server): \(state.rawValue)")
            case .weight(let weight): ("weight", .put, weight, "weight set")
            }
        let path = "/api/v1/services/\(Self.escape(service))/servers/\(Self.escape(server))/\(setting)"
        let response = try await ctlSend(try connection.client(), method, connection.forcing(path), json: [setting: value])
        ctlPrintMessage(response, or: fallback)
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? text
    }
}

/// `ctl drain`, `ctl halt` and `ctl online`.
enum CtlState {
    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "drain", abstract: "Take no new connections on a server (stuck clients and open connections continue).")
        @OptionGroup var connection: CtlCommand.Connection
        @Argument(help: "Service label.") var service: String
        @Argument(help: "Server label.") var server: String
        func run() async throws {
            try await CtlServer.change(self.connection, service: self.service, server: self.server, to: .state(.drain))
        }
    }

    struct Halt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "halt", abstract: "Take no new connections at all on a server (open connections continue).")
        @OptionGroup var connection: CtlCommand.Connection
        @Argument(help: "Service label.") var service: String
        @Argument(help: "Server label.") var server: String
        func run() async throws {
            try await CtlServer.change(self.connection, service: self.service, server: self.server, to: .state(.halt))
        }
    }

    struct Online: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "online", abstract: "Put a server back in service.")
        @OptionGroup var connection: CtlCommand.Connection
        @Argument(help: "Service label.") var service: String
        @Argument(help: "Server label.") var server: String
        func run() async throws {
            try await CtlServer.change(self.connection, service: self.service, server: self.server, to: .state(.online))
        }
    }
}

struct CtlWeight: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "weight", abstract: "Set a server's balancing weight (0-1000000).")
    @OptionGroup var connection: CtlCommand.Connection
    @Argument(help: "Service label.") var service: String
    @Argument(help: "Server label.") var server: String
    @Argument(help: "New weight.") var weight: Int

    func run() async throws {
        try await CtlServer.change(self.connection, service: self.service, server: self.server, to: .weight(self.weight))
    }
}

struct CtlReload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload", abstract: "Re-read the configuration file; keep the running one if it has problems.")
    @OptionGroup var connection: CtlCommand.Connection

    func run() async throws {
        let response = try await ctlSend(try self.connection.client(), .post, self.connection.forcing("/api/v1/reload"))
        ctlPrintMessage(response, or: "reloaded")
    }
}

struct CtlSwitchover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchover",
        abstract: "HA: hand the virtual IPs to the peer; this unit keeps serving what is open and stands by.",
        discussion: """
            Run on the unit that holds the virtual IPs. Refused when the peer is not linked and in sync. This unit
            stays below the peer in the VRRP election until it next holds the VIP or restarts.
            """)
    @OptionGroup var connection: CtlCommand.Connection

    func run() async throws {
        let response = try await ctlSend(try self.connection.client(), .post, "/api/v1/ha/switchover")
        ctlPrintMessage(response, or: "handed over")
    }
}

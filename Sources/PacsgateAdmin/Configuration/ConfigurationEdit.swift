import PacsgateConfig
import PacsgateCore

/// Why a change cannot be made to the configuration file; the message is for people.
public struct ConfigurationEditError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One change to the configuration file made in the page or through `POST /api/v1/config/edits`: a server or a
/// service added, changed or removed. It is made as a targeted text edit (``YAMLTextEditor``), so the rest of the
/// file keeps its comments and layout, and the result is validated whole like any upload.
///
/// Its fields are a flat list of names and values, the same for the page's forms (hidden fields carry them from the
/// preview to the confirm step) and the API's JSON object.
public enum ConfigurationEdit: Sendable, Equatable {
    /// A real server's keys: `nil` leaves a key as the file has it (a new server takes the gateway's default).
    public struct Server: Sendable, Equatable {
        public var label: String?
        public var address: String?
        public var weight: Int?
        public var backup: Bool?

        public init(label: String? = nil, address: String? = nil, weight: Int? = nil, backup: Bool? = nil) {
            self.label = label
            self.address = address
            self.weight = weight
            self.backup = backup
        }
    }

    case addServer(service: String, Server)
    case updateServer(service: String, server: String, Server)
    case removeServer(service: String, server: String)
    /// Sets (a value: YAML text of one line, e.g. `leastconn` or `{ type: source-ip, timeout: 30m }`) or removes
    /// (`nil`) keys of a service other than its label and servers.
    case setServiceKeys(service: String, [ServiceKey])
    /// A new service with its listen address, protocol, balance and first server.
    case addService(label: String, listen: String, protocol: String, balance: String?, firstServer: Server)
    case removeService(service: String)

    /// One key of a service set or removed.
    public struct ServiceKey: Sendable, Equatable {
        public var key: String
        public var value: String?

        public init(_ key: String, _ value: String?) {
            self.key = key
            self.value = value
        }
    }

    /// The service keys the page's service form edits; others go through its "other key" fields.
    static let formServiceKeys = ["balance", "persistence", "health_check"]

    /// Keys of a service that are not edited through ``setServiceKeys(service:_:)``: the label (it names the service
    /// in every audit record and the HA pair) and the servers (edited one by one).
    static let reservedServiceKeys: Set<String> = ["label", "servers"]

    // MARK: fields

    /// The edit the fields describe: `op` is `server.add`, `server.update`, `server.remove`, `service.set`,
    /// `service.add` or `service.remove`; the others are named after the keys they set.
    public init(fields: [String: String]) throws(ConfigurationEditError) {
        func required(_ name: String) throws(ConfigurationEditError) -> String {
            guard let value = fields[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
                throw ConfigurationEditError("'\(name)' is required")
            }
            return value
        }
        switch fields["op"] ?? "" {
        case "server.add":
            var server = try Self.server(fields)
            server.label = try required("label")
            server.address = try required("address")
            self = .addServer(service: try required("service"), server)
        case "server.update":
            self = .updateServer(service: try required("service"), server: try required("server"), try Self.server(fields))
        case "server.remove":
            self = .removeServer(service: try required("service"), server: try required("server"))
        case "service.set":
            var keys: [ServiceKey] = []
            for key in Self.formServiceKeys {
                guard let value = fields[key]?.trimmingCharacters(in: .whitespaces) else { continue }
                keys.append(ServiceKey(key, value.isEmpty ? nil : value))
            }
            if let key = fields["key"]?.trimmingCharacters(in: .whitespaces), !key.isEmpty {
                let value = fields["value"]?.trimmingCharacters(in: .whitespaces) ?? ""
                keys.append(ServiceKey(key, value.isEmpty ? nil : value))
            }
            guard !keys.isEmpty else { throw ConfigurationEditError("no key to change") }
            self = .setServiceKeys(service: try required("service"), keys)
        case "service.add":
            var first = try Self.server(fields)
            first.label = try required("label_server")
            first.address = try required("address")
            let balance = fields["balance"]?.trimmingCharacters(in: .whitespaces)
            self = .addService(
                label: try required("service"), listen: try required("listen"), protocol: try required("protocol"),
                balance: balance?.isEmpty == false ? balance : nil, firstServer: first)
        case "service.remove":
            self = .removeService(service: try required("service"))
        case let other:
            throw ConfigurationEditError(
                "unknown edit '\(other)'; op must be one of server.add, server.update, server.remove, service.set, service.add, service.remove")
        }
    }

    private static func server(_ fields: [String: String]) throws(ConfigurationEditError) -> Server {
        func text(_ name: String) -> String? {
            guard let value = fields[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            return value
        }
        var server = Server(label: text("label"), address: text("address"))
        if let weight = text("weight") {
            guard let value = Int(weight), (0...1_000_000).contains(value) else {
                throw ConfigurationEditError("weight must be a whole number from 0 to 1000000, found '\(weight)'")
            }
            server.weight = value
        }
        if let backup = text("backup") {
            switch backup.lowercased() {
            case "true", "1", "on", "yes": server.backup = true
            case "false", "0", "off", "no": server.backup = false
            default: throw ConfigurationEditError("backup must be true or false, found '\(backup)'")
            }
        }
        return server
    }

    /// The fields that describe this edit (the inverse of ``init(fields:)``).
    public var fields: [(String, String)] {
        func add(_ server: Server, to fields: inout [(String, String)], labelField: String = "label") {
            if let label = server.label { fields.append((labelField, label)) }
            if let address = server.address { fields.append(("address", address)) }
            if let weight = server.weight { fields.append(("weight", String(weight))) }
            if let backup = server.backup { fields.append(("backup", backup ? "true" : "false")) }
        }
        var fields: [(String, String)]
        switch self {
        case .addServer(let service, let server):
            fields = [("op", "server.add"), ("service", service)]
            add(server, to: &fields)
        case .updateServer(let service, let label, let server):
            fields = [("op", "server.update"), ("service", service), ("server", label)]
            add(server, to: &fields)
        case .removeServer(let service, let server):
            fields = [("op", "server.remove"), ("service", service), ("server", server)]
        case .setServiceKeys(let service, let keys):
            fields = [("op", "service.set"), ("service", service)]
            for key in keys {
                if Self.formServiceKeys.contains(key.key) {
                    fields.append((key.key, key.value ?? ""))
                } else {
                    fields += [("key", key.key), ("value", key.value ?? "")]
                }
            }
        case .addService(let label, let listen, let protocolName, let balance, let first):
            fields = [("op", "service.add"), ("service", label), ("listen", listen), ("protocol", protocolName)]
            if let balance { fields.append(("balance", balance)) }
            add(first, to: &fields, labelField: "label_server")
        case .removeService(let service):
            fields = [("op", "service.remove"), ("service", service)]
        }
        return fields
    }

    /// A short description for the audit record and the notice: `server.add DICOM/DICOM3`.
    public var summary: String {
        switch self {
        case .addServer(let service, let server): return "server.add \(service)/\(server.label ?? "?")"
        case .updateServer(let service, let server, _): return "server.update \(service)/\(server)"
        case .removeServer(let service, let server): return "server.remove \(service)/\(server)"
        case .setServiceKeys(let service, let keys): return "service.set \(service) " + keys.map(\.key).joined(separator: ",")
        case .addService(let label, _, _, _, _): return "service.add \(label)"
        case .removeService(let service): return "service.remove \(service)"
        }
    }

    // MARK: applying to text

    /// The file's text with this edit made; the result is not validated here.
    func apply(to text: String) throws(ConfigurationEditError) -> String {
        var editor = YAMLTextEditor(text)
        let services: [YAMLTextEditor.Step] = [.key("services")]
        switch self {
        case .addServer(let service, let server):
            let path = services + [.item(field: "label", value: service), .key("servers")]
            try editor.append(Self.serverFields(server), to: path)
        case .updateServer(let service, let label, let server):
            let path = services + [.item(field: "label", value: service), .key("servers"), .item(field: "label", value: label)]
            // The label last: the item is found by its label.
            for (key, value) in Self.serverFields(server) where key != "label" {
                // `backup: false` is the default: not written where the file does not have the key.
                if key == "backup", value == "false", try !editor.has(key, in: path) { continue }
                try editor.set(key, to: value, in: path)
            }
            if let newLabel = server.label, newLabel != label {
                try editor.set("label", to: YAMLValue.scalar(newLabel), in: path)
            }
        case .removeServer(let service, let server):
            try editor.removeItem(
                at: services + [.item(field: "label", value: service), .key("servers"), .item(field: "label", value: server)])
        case .setServiceKeys(let service, let keys):
            let path = services + [.item(field: "label", value: service)]
            for key in keys {
                guard !Self.reservedServiceKeys.contains(key.key), Self.isKey(key.key) else {
                    throw ConfigurationEditError("'\(key.key)' cannot be set here (the label and servers are edited on their own)")
                }
                if let value = key.value {
                    try editor.set(key.key, to: try Self.oneLineValue(value, for: key.key), in: path, before: "servers")
                } else {
                    try editor.remove(key.key, in: path)
                }
            }
        case .addService(let label, let listen, let protocolName, let balance, let first):
            try editor.appendLines(
                { dash in
                    let pad = String(repeating: " ", count: dash)
                    var lines = [
                        pad + "- label: \(YAMLValue.scalar(label))",
                        pad + "  listen: \(YAMLValue.scalar(listen))",
                        pad + "  protocol: \(YAMLValue.scalar(protocolName))",
                    ]
                    if let balance { lines.append(pad + "  balance: \(YAMLValue.scalar(balance))") }
                    lines.append(pad + "  servers:")
                    lines.append(
                        pad + "    - { " + Self.serverFields(first).map { "\($0.0): \($0.1)" }.joined(separator: ", ") + " }")
                    return lines
                }, to: services)
        case .removeService(let service):
            try editor.removeItem(at: services + [.item(field: "label", value: service)])
        }
        return editor.text
    }

    /// (key, YAML text) of a server's given keys, in the order the file's items have them.
    private static func serverFields(_ server: Server) -> [(String, String)] {
        var fields: [(String, String)] = []
        if let label = server.label { fields.append(("label", YAMLValue.scalar(label))) }
        if let address = server.address { fields.append(("address", YAMLValue.scalar(address))) }
        if let weight = server.weight { fields.append(("weight", String(weight))) }
        if let backup = server.backup { fields.append(("backup", backup ? "true" : "false")) }
        return fields
    }

    private static func isKey(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }
    }

    /// A value typed into the page as YAML of one line (`leastconn`, `{ type: connect, interval: 2s }`,
    /// `[CT*, MR*]`), checked to be exactly one value: it cannot add keys beside the one it sets.
    static func oneLineValue(_ value: String, for key: String) throws(ConfigurationEditError) -> String {
        guard !value.contains("\n"), !value.contains("\r") else { throw ConfigurationEditError("the value of '\(key)' must be one line") }
        guard case .success(let node) = ConfigurationLoader.parse(yaml: "\(key): \(value)\n"),
            case .mapping(let entries) = node.kind, entries.count == 1
        else {
            throw ConfigurationEditError("the value of '\(key)' is not one YAML value: \(value)")
        }
        return value
    }
}

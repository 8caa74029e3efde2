public import PacsgateCore

#if canImport(Glibc)
import Glibc
#endif

/// The `ha:` section: this unit's place in a clustered pair.
///
/// ```yaml
/// ha:
///   node: gw-a                         # this unit's name (default: the host name)
///   role: primary                      # primary | secondary (required)
///   peer: "10.20.0.2:7778"             # the other unit's HA address (required; port 7778 if omitted)
///   listen: "10.20.0.1:7778"           # where this unit accepts the link (default: the address it reaches the peer from)
///   secret_file: /etc/pacsgate/ha.secret   # shared secret, same file on both units (required; pacsgate ha-secret FILE)
///   config_sync: true                  # the primary's configuration is the pair's
///   local_keys: [audit.path]           # kept per unit, besides the built-in ones
///   health_file: /run/pacsgate/health  # for keepalived's track_script
///   vrrp_state_file: /run/pacsgate/vrrp-state   # written by keepalived's notify script
///   vrrp_track_file: /run/pacsgate/vrrp-track   # read by keepalived's track_file: pacsgate's say in the election
///   vrrp_handover_file: /run/pacsgate/vrrp-handover   # read by the notify script: pass the peer's connections on?
///   handover_window: 15m               # how long the handover rule passes on packets after a takeover
///   handover_timeout: 5s               # how long a stopping unit waits for keepalived to move the VIP
/// ```
public struct HAConfiguration: Sendable, Equatable {
    public static let defaultPort = 7778

    /// This unit's name, in the peer's logs and the overview.
    public var node: String
    public var role: HARole
    /// Where the link is accepted; `nil`: on the address this unit reaches the peer from (the peer-facing address, found
    /// at start by asking the kernel for the route to the peer), on the peer's port.
    public var listen: Endpoint?
    /// The other unit.
    public var peer: Endpoint
    /// File holding the shared secret (`pacsgate ha-secret FILE` makes one: 32 random bytes with a checksum).
    public var secretFile: String
    /// Whether a secret written as bare base64 or hex (earlier versions' form, no checksum) is accepted.
    public var allowLegacySecret = false
    /// Whether the primary's configuration and runtime server settings are pushed to the secondary.
    public var configSync: Bool
    public var localKeys: LocalKeys
    /// Most persistence changes waiting for the link before a full snapshot replaces them.
    public var queueLimit: Int
    public var reconnectMinimum: Duration
    public var reconnectMaximum: Duration
    /// How often each unit sends its status; a peer silent for three intervals is considered gone.
    public var statusInterval: Duration
    /// Rewritten several times a second with `ok` (`fail stopping` at shutdown), for keepalived's `track_script`.
    public var healthFile: String?
    /// Read for the VRRP state keepalived's notify script writes (`MASTER`, `BACKUP`, `FAULT`, `STOP`).
    public var vrrpStateFile: String?
    /// Written with this unit's adjustment of its VRRP priority, for keepalived's `track_file` (see
    /// ``VRRPTrackFile``): how pacsgate tells keepalived it is not ready yet, is going, or must take over.
    public var vrrpTrackFile: String?
    /// Written with whether packets of connections this unit does not know go to the peer should it take the VIPs now
    /// (`copy SECONDS` or `none`), for keepalived's notify script, which keeps the handover rule on (it is on while
    /// the unit stands by) or turns it off at the takeover (Samples/keepalived/notify-pacsgate.sh).
    public var vrrpHandoverFile: String?
    /// How long after a takeover the handover rule may pass packets on (the peer's connections that are still open
    /// after it are reset).
    public var handoverWindow: Duration = .seconds(15 * 60)
    /// How long a stopping unit (or a switchover) waits for keepalived to take the VIP away before going on.
    public var handoverTimeout: Duration
    /// Line of the `ha:` section.
    public var line: Int
    /// Line of `secret_file` (for a problem with the file itself).
    public var secretFileLine: Int = 0

    public init(
        node: String, role: HARole, listen: Endpoint? = nil, peer: Endpoint, secretFile: String, configSync: Bool = true,
        localKeys: LocalKeys = LocalKeys(), queueLimit: Int = 100_000, reconnectMinimum: Duration = .milliseconds(500),
        reconnectMaximum: Duration = .seconds(10), statusInterval: Duration = .seconds(2), healthFile: String? = nil,
        vrrpStateFile: String? = nil, vrrpTrackFile: String? = nil, handoverTimeout: Duration = .seconds(5), line: Int = 0
    ) {
        self.node = node
        self.role = role
        self.listen = listen
        self.peer = peer
        self.secretFile = secretFile
        self.configSync = configSync
        self.localKeys = localKeys
        self.queueLimit = queueLimit
        self.reconnectMinimum = reconnectMinimum
        self.reconnectMaximum = reconnectMaximum
        self.statusInterval = statusInterval
        self.healthFile = healthFile
        self.vrrpStateFile = vrrpStateFile
        self.vrrpTrackFile = vrrpTrackFile
        self.handoverTimeout = handoverTimeout
        self.line = line
    }

    /// A peer silent this long is considered gone and its link is closed.
    public var peerTimeout: Duration { self.statusInterval * 3 }

    /// The `ha:` section as the executable registers it with the configuration decoder. A unit binds the VIP with
    /// IP_FREEBIND before keepalived gives it the address, so a file with an `ha:` section may name it as a `source:`.
    public static let section = ConfigSection(.ha, allowsUnheldSource: true)

    /// Decodes the `ha:` section of a loaded configuration; `nil` when there is none (or `enabled: false`).
    public static func decode(from configuration: GatewayConfiguration) -> Result<HAConfiguration?, ConfigErrors> {
        guard let node = configuration.sections[.ha] else { return .success(nil) }
        let (decoded, problems) = Self.decode(node, stateDirectory: configuration.stateDirectory)
        return problems.isEmpty ? .success(decoded) : .failure(ConfigErrors(problems))
    }

    /// Decodes an `ha:` mapping; every problem carries its line.
    public static func decode(_ node: ConfigNode, stateDirectory: String?) -> (HAConfiguration?, [ConfigProblem]) {
        var reader = MappingReader(node, context: "ha")
        let enabled = reader.bool("enabled") ?? true
        let name = reader.string("node") ?? Self.hostName()
        if !Self.isValidNodeName(name) {
            reader.problem(reader.entryLine("node") ?? node.line, "ha: 'node' must be 1-64 letters, digits, '.', '-' or '_', found '\(name)'")
        }
        let role = reader.choice("role", HARole.self)
        if role == nil, !reader.has("role") {
            reader.problem(node.line, "ha: missing required key 'role' (primary on one unit, secondary on the other)")
        }
        var listen: Endpoint?
        if let text = reader.string("listen") {
            switch Self.endpoint(text) {
            case .success(let endpoint): listen = endpoint
            case .failure(let error): reader.problem(reader.entryLine("listen") ?? node.line, "ha: bad listen address '\(text)': \(error)")
            }
        }
        var peer: Endpoint?
        if let text = reader.string("peer", required: true) {
            switch Self.endpoint(text) {
            case .success(let endpoint): peer = endpoint
            case .failure(let error): reader.problem(reader.entryLine("peer") ?? node.line, "ha: bad peer address '\(text)': \(error)")
            }
        }
        if reader.has("secret") {
            _ = reader.node("secret")
            reader.problem(
                reader.entryLine("secret") ?? node.line,
                "ha: an inline 'secret' would be served with the configuration; put it in a file readable only by pacsgate and name it in 'secret_file'")
        }
        let secretFile = reader.string("secret_file", required: !reader.has("secret"))
        let secretFileLine = reader.entryLine("secret_file") ?? node.line
        let allowLegacySecret = reader.bool("allow_legacy_secret") ?? false
        let configSync = reader.bool("config_sync") ?? true
        var extra: [String] = []
        if let keys = reader.stringList("local_keys") {
            for key in keys {
                if let problem = LocalKeys.problem(with: key) {
                    reader.problem(reader.entryLine("local_keys") ?? node.line, "ha: local_keys: \(problem)")
                } else {
                    extra.append(key)
                }
            }
        }
        let queueLimit = reader.int("queue_limit", in: 100...10_000_000) ?? 100_000
        let reconnectMinimum = reader.duration("reconnect_min") ?? .milliseconds(500)
        let reconnectMaximum = reader.duration("reconnect_max") ?? .seconds(10)
        let statusInterval = reader.duration("status_interval") ?? .seconds(2)
        let handoverTimeout = reader.duration("handover_timeout") ?? .seconds(5)
        let handoverWindow = reader.duration("handover_window") ?? .seconds(15 * 60)
        for (key, value) in [
            ("reconnect_min", reconnectMinimum), ("reconnect_max", reconnectMaximum), ("status_interval", statusInterval),
            ("handover_timeout", handoverTimeout), ("handover_window", handoverWindow),
        ]
        where value <= .zero {
            reader.problem(reader.entryLine(key) ?? node.line, "ha: '\(key)' must be longer than zero")
        }
        if reconnectMaximum < reconnectMinimum {
            reader.problem(reader.entryLine("reconnect_max") ?? node.line, "ha: 'reconnect_max' is shorter than 'reconnect_min'")
        }
        let defaultHealth = stateDirectory.map { "\($0)/ha-health" }
        let healthFile = reader.string("health_file") ?? defaultHealth
        let vrrpStateFile = reader.string("vrrp_state_file") ?? stateDirectory.map { "\($0)/vrrp-state" }
        let vrrpTrackFile = reader.string("vrrp_track_file") ?? stateDirectory.map { "\($0)/vrrp-track" }
        let vrrpHandoverFile = reader.string("vrrp_handover_file") ?? stateDirectory.map { "\($0)/vrrp-handover" }
        if let peer, let listen, peer == listen {
            reader.problem(reader.entryLine("peer") ?? node.line, "ha: 'peer' is this unit's own listen address \(listen)")
        }
        reader.finish()
        guard enabled, let role, let peer, let secretFile else { return (nil, reader.problems) }
        var configuration = HAConfiguration(
            node: name, role: role, listen: listen, peer: peer, secretFile: secretFile, configSync: configSync,
            localKeys: LocalKeys(extra: extra), queueLimit: queueLimit, reconnectMinimum: reconnectMinimum,
            reconnectMaximum: reconnectMaximum, statusInterval: statusInterval, healthFile: healthFile,
            vrrpStateFile: vrrpStateFile, vrrpTrackFile: vrrpTrackFile, handoverTimeout: handoverTimeout, line: node.line)
        configuration.secretFileLine = secretFileLine
        configuration.allowLegacySecret = allowLegacySecret
        configuration.vrrpHandoverFile = vrrpHandoverFile
        configuration.handoverWindow = handoverWindow
        return (configuration, reader.problems)
    }

    /// `host:port`, or a bare host with the default port 7778.
    static func endpoint(_ text: String) -> Result<Endpoint, EndpointError> {
        let hasPort = text.hasPrefix("[") ? text.contains("]:") : text.contains(":")
        return Endpoint.parse(hasPort ? text : "\(text):\(Self.defaultPort)")
    }

    /// 1–64 of letters, digits, `.`, `-`, `_`.
    public static func isValidNodeName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-_".unicodeScalars.contains($0)) }
    }

    /// The system's host name (the default node name).
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "pacsgate" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "pacsgate" : String(name.prefix(64))
    }
}

extension ConfigSectionKey {
    /// `ha:`, the HA pair's section (``HAConfiguration``).
    public static let ha: ConfigSectionKey = "ha"
}

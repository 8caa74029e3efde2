public import NIOCore
public import PacsgateCore

/// Which unit of the pair this is. The primary's configuration is the pair's; the primary also dials the link.
public enum HARole: String, Sendable, CaseIterable {
    case primary
    case secondary

    var wire: UInt8 { self == .primary ? 1 : 2 }

    init(wire: UInt8) throws(HAWireError) {
        switch wire {
        case 1: self = .primary
        case 2: self = .secondary
        default: throw .badField(field: "role", reason: "\(wire) is neither 1 (primary) nor 2 (secondary)")
        }
    }

    /// The other role.
    public var other: HARole { self == .primary ? .secondary : .primary }
}

/// The VRRP state keepalived last reported through its notify script.
public enum VRRPState: String, Sendable, CaseIterable {
    case master = "MASTER"
    case backup = "BACKUP"
    case fault = "FAULT"
    case stop = "STOP"
    case unknown

    var wire: UInt8 {
        switch self {
        case .unknown: return 0
        case .master: return 1
        case .backup: return 2
        case .fault: return 3
        case .stop: return 4
        }
    }

    init(wire: UInt8) {
        switch wire {
        case 1: self = .master
        case 2: self = .backup
        case 3: self = .fault
        case 4: self = .stop
        default: self = .unknown
        }
    }
}

/// Whether a unit could take the virtual IPs without losing anything, as it tells the peer in its status and keepalived
/// through its track file (see ``VRRPTrackFile``).
public enum UnitReadiness: String, Sendable, CaseIterable {
    /// Started, but has not yet received the peer's snapshot: taking the VIP now would forget clients' servers.
    case starting
    /// In sync with the peer (or the only unit serving): may hold the VIP.
    case ready
    /// Handed the VIP over on request (`ctl switchover`) and keeps its priority below the peer's until it next holds
    /// the VIP or restarts.
    case standby
    /// Stopping: gives the VIP up at once.
    case leaving

    var wire: UInt8 {
        switch self {
        case .starting: return 0
        case .ready: return 1
        case .standby: return 2
        case .leaving: return 3
        }
    }

    init(wire: UInt8) throws(HAWireError) {
        switch wire {
        case 0: self = .starting
        case 1: self = .ready
        case 2: self = .standby
        case 3: self = .leaving
        default: throw .badField(field: "readiness", reason: "\(wire) is not 0-3")
        }
    }
}

/// A unit's notice that it is handing the virtual IPs to its peer (sent before it lets keepalived move them), so the
/// peer's takeover is recorded as planned.
public struct HandoverNotice: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        /// The unit is stopping (SIGTERM).
        case stopping = 1
        /// A switchover asked for by an operator (`pacsgate ctl switchover`, the API).
        case switchover = 2
    }

    public var kind: Kind
    public var reason: String

    public init(kind: Kind, reason: String) {
        self.kind = kind
        self.reason = reason
    }
}

/// The version of a configuration as the pair compares it: SHA-256 of its shared part (everything but the local
/// keys), so the two units agree exactly when the settings they must share are equal.
public struct ConfigVersion: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// `bytes` must be 32 bytes; anything else is the unknown version.
    public init(bytes: [UInt8]) {
        self.bytes = bytes.count == 32 ? bytes : [UInt8](repeating: 0, count: 32)
    }

    /// No configuration known yet.
    public static let unknown = ConfigVersion(bytes: [UInt8](repeating: 0, count: 32))

    public var isUnknown: Bool { self.bytes.allSatisfy { $0 == 0 } }

    /// The first 12 hex digits, as the overview shows it.
    public var short: String { self.isUnknown ? "unknown" : String(self.hex.prefix(12)) }

    public var hex: String { self.bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }

    public var description: String { self.short }
}

/// The payload of the dialling unit's opening frame (Noise message 1, after its ephemeral key).
public struct HAHello: Sendable, Equatable {
    public var minVersion: UInt8 = HAFrame.version
    public var maxVersion: UInt8 = HAFrame.version
    public var role: HARole
    public var node: String
    public var software: String

    public init(role: HARole, node: String, software: String) {
        self.role = role
        self.node = node
        self.software = software
    }

    func encode() -> [UInt8] {
        var writer = PayloadWriter(capacity: 96)
        writer.u8(self.minVersion)
        writer.u8(self.maxVersion)
        writer.u8(self.role.wire)
        writer.string8(self.node)
        writer.string8(self.software)
        return Array(writer.buffer.readableBytesView)
    }

    static func decode(_ payload: [UInt8]) throws(HAWireError) -> HAHello {
        var reader = PayloadReader(ByteBuffer(bytes: payload))
        let minVersion = try reader.u8("min_version")
        let maxVersion = try reader.u8("max_version")
        var hello = HAHello(
            role: try HARole(wire: try reader.u8("role")), node: try reader.string8("node"), software: try reader.string8("software"))
        hello.minVersion = minVersion
        hello.maxVersion = maxVersion
        try reader.finish()
        return hello
    }
}

/// The dialled unit's identity, in its answer.
public struct HAWelcome: Sendable, Equatable {
    public var version: UInt8 = HAFrame.version
    public var role: HARole
    public var node: String
    public var software: String

    public init(role: HARole, node: String, software: String) {
        self.role = role
        self.node = node
        self.software = software
    }
}

/// The payload of the dialled unit's answer (Noise message 2, encrypted and authenticated with the secret): a welcome,
/// or a refusal with its reason (wrong role, no common version) that the dialling unit can trust and log.
public enum HAAnswer: Sendable, Equatable {
    case welcome(HAWelcome)
    case refuse(reason: String)

    func encode() -> [UInt8] {
        var writer = PayloadWriter(capacity: 128)
        switch self {
        case .welcome(let welcome):
            writer.u8(1)
            writer.u8(welcome.version)
            writer.u8(welcome.role.wire)
            writer.string8(welcome.node)
            writer.string8(welcome.software)
        case .refuse(let reason):
            writer.u8(2)
            writer.string16(reason)
        }
        return Array(writer.buffer.readableBytesView)
    }

    static func decode(_ payload: [UInt8]) throws(HAWireError) -> HAAnswer {
        var reader = PayloadReader(ByteBuffer(bytes: payload))
        let answer: HAAnswer
        switch try reader.u8("verdict") {
        case 1:
            let version = try reader.u8("version")
            var welcome = HAWelcome(
                role: try HARole(wire: try reader.u8("role")), node: try reader.string8("node"), software: try reader.string8("software"))
            welcome.version = version
            answer = .welcome(welcome)
        case 2:
            answer = .refuse(reason: try reader.string16("reason"))
        case let other:
            throw .badField(field: "verdict", reason: "\(other) is neither 1 (welcome) nor 2 (refuse)")
        }
        try reader.finish()
        return answer
    }
}

/// One persistence entry on the wire: its expiry travels as the time it has left, since the two units' monotonic
/// clocks are unrelated.
public struct ReplicatedEntry: Sendable, Equatable {
    public var service: String
    public var key: StickKey
    public var server: String
    /// Milliseconds until the entry expires (at most about 49 days).
    public var ttlMilliseconds: UInt32

    public init(service: String, key: StickKey, server: String, ttlMilliseconds: UInt32) {
        self.service = service
        self.key = key
        self.server = server
        self.ttlMilliseconds = ttlMilliseconds
    }

    /// The entry of `entry` as seen `now`; `nil` when it has expired.
    public init?(service: String, entry: StickTable.Entry, now: NIODeadline) {
        let left = (entry.expires - now).nanoseconds / 1_000_000
        guard left > 0 else { return nil }
        self.init(service: service, key: entry.key, server: entry.server, ttlMilliseconds: UInt32(clamping: left))
    }

    /// The stick-table entry this becomes on the receiving unit, `now` being its arrival.
    public func entry(now: NIODeadline) -> StickTable.Entry {
        StickTable.Entry(key: self.key, server: self.server, expires: now + .milliseconds(Int64(self.ttlMilliseconds)))
    }
}

/// What each unit tells the other every status interval (and what the overview shows of the peer).
public struct PeerStatusReport: Sendable, Equatable {
    public var role: HARole
    public var vrrp: VRRPState
    public var readiness: UnitReadiness
    public var configVersion: ConfigVersion
    /// Entries waiting in the sender's replication queue.
    public var queued: UInt32
    /// Persistence entries per service on the sender.
    public var entries: [ServiceCount]

    public struct ServiceCount: Sendable, Equatable {
        public var service: String
        public var entries: UInt32

        public init(service: String, entries: UInt32) {
            self.service = service
            self.entries = entries
        }
    }

    public init(
        role: HARole, vrrp: VRRPState, readiness: UnitReadiness = .ready, configVersion: ConfigVersion, queued: UInt32,
        entries: [ServiceCount]
    ) {
        self.role = role
        self.vrrp = vrrp
        self.readiness = readiness
        self.configVersion = configVersion
        self.queued = queued
        self.entries = entries
    }
}

/// The primary's configuration, sent to the secondary on every change and when the link comes up.
public struct ConfigPush: Sendable, Equatable {
    public var version: ConfigVersion
    /// `reload`, `upload` or `link` (sent because the link came up).
    public var origin: String
    /// The primary's whole YAML file; the secondary keeps its own local keys.
    public var text: String

    public init(version: ConfigVersion, origin: String, text: String) {
        self.version = version
        self.origin = origin
        self.text = text
    }
}

/// The secondary's answer to a ``ConfigPush``.
public struct ConfigResult: Sendable, Equatable {
    public var version: ConfigVersion
    public var applied: Bool
    public var message: String

    public init(version: ConfigVersion, applied: Bool, message: String) {
        self.version = version
        self.applied = applied
        self.message = message
    }
}

/// A server's runtime weight and administrative state (changes made through the API, not the file).
public struct ServerRuntime: Sendable, Equatable {
    public var service: String
    public var server: String
    public var weight: Int
    public var state: ServerAdminState

    public init(service: String, server: String, weight: Int, state: ServerAdminState) {
        self.service = service
        self.server = server
        self.weight = weight
        self.state = state
    }
}

/// Runtime server settings from the primary: every server (`full`, when the link comes up) or the ones that changed.
public struct RuntimeUpdate: Sendable, Equatable {
    public var full: Bool
    public var servers: [ServerRuntime]

    public init(full: Bool, servers: [ServerRuntime]) {
        self.full = full
        self.servers = servers
    }
}

/// A session message: the plaintext of a sealed frame.
public enum HAMessage: Sendable, Equatable {
    case status(PeerStatusReport)
    case entries([ReplicatedEntry])
    case snapshotBegin(entries: UInt32)
    case snapshotEnd(entries: UInt32)
    case config(ConfigPush)
    case configResult(ConfigResult)
    case runtime(RuntimeUpdate)
    case goodbye(reason: String)
    case handover(HandoverNotice)
    /// An authenticated message of a type this version does not know (a newer peer); ignored.
    case unknown(type: UInt8)

    /// The frame type carrying this message.
    public var type: UInt8 {
        switch self {
        case .status: return HAFrameType.status.rawValue
        case .entries: return HAFrameType.entries.rawValue
        case .snapshotBegin: return HAFrameType.snapshotBegin.rawValue
        case .snapshotEnd: return HAFrameType.snapshotEnd.rawValue
        case .config: return HAFrameType.config.rawValue
        case .configResult: return HAFrameType.configResult.rawValue
        case .runtime: return HAFrameType.runtime.rawValue
        case .goodbye: return HAFrameType.goodbye.rawValue
        case .handover: return HAFrameType.handover.rawValue
        case .unknown(let type): return type
        }
    }

    /// The plaintext payload.
    public func encode() -> ByteBuffer {
        var writer: PayloadWriter
        switch self {
        case .status(let report):
            writer = PayloadWriter(capacity: 64 + report.entries.count * 24)
            writer.u8(report.role.wire)
            writer.u8(report.vrrp.wire)
            writer.u8(report.readiness.wire)
            writer.bytes(report.configVersion.bytes)
            writer.u32(report.queued)
            writer.u16(UInt16(clamping: report.entries.count))
            for count in report.entries.prefix(Int(UInt16.max)) {
                writer.string8(count.service)
                writer.u32(count.entries)
            }
        case .entries(let entries):
            writer = PayloadWriter(capacity: 8 + entries.count * 40)
            // Grouped by service: runs of the same service share its name.
            var groups: [(String, ArraySlice<ReplicatedEntry>)] = []
            var start = entries.startIndex
            while start < entries.endIndex {
                var end = start + 1
                while end < entries.endIndex, entries[end].service == entries[start].service, end - start < Int(UInt16.max) { end += 1 }
                groups.append((entries[start].service, entries[start..<end]))
                start = end
            }
            writer.u16(UInt16(clamping: groups.count))
            for (service, group) in groups {
                writer.string8(service)
                writer.u16(UInt16(group.count))
                for entry in group {
                    let words = entry.key.words
                    writer.u8(entry.key.kind.rawValue)
                    writer.u64(words.high)
                    writer.u64(words.low)
                    writer.u8(words.length)
                    writer.string8(entry.server)
                    writer.u32(entry.ttlMilliseconds)
                }
            }
        case .snapshotBegin(let count), .snapshotEnd(let count):
            writer = PayloadWriter(capacity: 4)
            writer.u32(count)
        case .config(let push):
            writer = PayloadWriter(capacity: 48 + push.text.utf8.count)
            writer.bytes(push.version.bytes)
            writer.string8(push.origin)
            writer.string32(push.text)
        case .configResult(let result):
            writer = PayloadWriter(capacity: 40 + result.message.utf8.count)
            writer.bytes(result.version.bytes)
            writer.u8(result.applied ? 1 : 0)
            writer.string16(result.message)
        case .runtime(let update):
            writer = PayloadWriter(capacity: 8 + update.servers.count * 32)
            writer.u8(update.full ? 1 : 0)
            writer.u16(UInt16(clamping: update.servers.count))
            for server in update.servers.prefix(Int(UInt16.max)) {
                writer.string8(server.service)
                writer.string8(server.server)
                writer.u32(UInt32(clamping: server.weight))
                writer.u8(Self.wire(server.state))
            }
        case .goodbye(let reason):
            writer = PayloadWriter(capacity: 2 + reason.utf8.count)
            writer.string16(reason)
        case .handover(let notice):
            writer = PayloadWriter(capacity: 3 + notice.reason.utf8.count)
            writer.u8(notice.kind.rawValue)
            writer.string16(notice.reason)
        case .unknown:
            writer = PayloadWriter(capacity: 0)
        }
        return writer.buffer
    }

    /// Decodes the plaintext payload of a session frame of raw type `type`.
    public static func decode(type: UInt8, payload: ByteBuffer) throws(HAWireError) -> HAMessage {
        guard let known = HAFrameType(rawValue: type), !HAFrameType.isHandshake(type) else {
            if HAFrameType.isHandshake(type) { throw .unexpectedFrame(type: type, state: "inside a session") }
            return .unknown(type: type)
        }
        var reader = PayloadReader(payload)
        let message: HAMessage
        switch known {
        case .status:
            let role = try HARole(wire: try reader.u8("role"))
            let vrrp = VRRPState(wire: try reader.u8("vrrp"))
            let readiness = try UnitReadiness(wire: try reader.u8("readiness"))
            let version = ConfigVersion(bytes: try reader.bytes(32, "config_version"))
            let queued = try reader.u32("queued")
            let count = try reader.u16("service_count")
            var entries: [PeerStatusReport.ServiceCount] = []
            for _ in 0..<count {
                entries.append(.init(service: try reader.string8("service"), entries: try reader.u32("entries")))
            }
            message = .status(
                PeerStatusReport(role: role, vrrp: vrrp, readiness: readiness, configVersion: version, queued: queued, entries: entries))
        case .entries:
            var entries: [ReplicatedEntry] = []
            let groups = try reader.u16("group_count")
            for _ in 0..<groups {
                let service = try reader.string8("service")
                let count = try reader.u16("entry_count")
                entries.reserveCapacity(entries.count + Int(count))
                for _ in 0..<count {
                    let kindRaw = try reader.u8("key_kind")
                    guard let kind = StickKey.Kind(rawValue: kindRaw) else {
                        throw .badField(field: "key_kind", reason: "\(kindRaw) is not 4, 6 or 16")
                    }
                    let high = try reader.u64("key_high")
                    let low = try reader.u64("key_low")
                    let length = try reader.u8("key_length")
                    guard length <= 16 else { throw .badField(field: "key_length", reason: "\(length) is more than 16") }
                    let server = try reader.string8("server")
                    let ttl = try reader.u32("ttl_ms")
                    entries.append(
                        ReplicatedEntry(
                            service: service, key: StickKey(kind: kind, words: (high, low, length)), server: server,
                            ttlMilliseconds: ttl))
                }
            }
            message = .entries(entries)
        case .snapshotBegin:
            message = .snapshotBegin(entries: try reader.u32("entries"))
        case .snapshotEnd:
            message = .snapshotEnd(entries: try reader.u32("entries"))
        case .config:
            let version = ConfigVersion(bytes: try reader.bytes(32, "config_version"))
            message = .config(ConfigPush(version: version, origin: try reader.string8("origin"), text: try reader.string32("text")))
        case .configResult:
            let version = ConfigVersion(bytes: try reader.bytes(32, "config_version"))
            let applied = try reader.u8("applied")
            guard applied <= 1 else { throw .badField(field: "applied", reason: "\(applied) is neither 0 nor 1") }
            message = .configResult(ConfigResult(version: version, applied: applied == 1, message: try reader.string16("message")))
        case .runtime:
            let full = try reader.u8("full")
            guard full <= 1 else { throw .badField(field: "full", reason: "\(full) is neither 0 nor 1") }
            let count = try reader.u16("server_count")
            var servers: [ServerRuntime] = []
            for _ in 0..<count {
                let service = try reader.string8("service")
                let server = try reader.string8("server")
                let weight = try reader.u32("weight")
                guard weight <= 1_000_000 else { throw .badField(field: "weight", reason: "\(weight) is above 1000000") }
                let state = try Self.state(try reader.u8("state"))
                servers.append(ServerRuntime(service: service, server: server, weight: Int(weight), state: state))
            }
            message = .runtime(RuntimeUpdate(full: full == 1, servers: servers))
        case .goodbye:
            message = .goodbye(reason: try reader.string16("reason"))
        case .handover:
            let raw = try reader.u8("kind")
            guard let kind = HandoverNotice.Kind(rawValue: raw) else {
                throw .badField(field: "kind", reason: "\(raw) is neither 1 (stopping) nor 2 (switchover)")
            }
            message = .handover(HandoverNotice(kind: kind, reason: try reader.string16("reason")))
        case .hello, .welcome, .confirm:
            throw .unexpectedFrame(type: type, state: "inside a session")
        }
        try reader.finish()
        return message
    }

    private static func wire(_ state: ServerAdminState) -> UInt8 {
        switch state {
        case .online: return 1
        case .drain: return 2
        case .halt: return 3
        }
    }

    private static func state(_ wire: UInt8) throws(HAWireError) -> ServerAdminState {
        switch wire {
        case 1: return .online
        case 2: return .drain
        case 3: return .halt
        default: throw .badField(field: "state", reason: "\(wire) is not 1 (online), 2 (drain) or 3 (halt)")
        }
    }
}

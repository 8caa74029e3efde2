import NIOConcurrencyHelpers
public import NIOCore

/// The real servers of one service with their runtime state: administrative state, health, weight and connection
/// counts. Picks the server for each new connection. Thread-safe; shared by every event loop.
public final class ServerPool: Sendable {
    /// The server chosen for a connection.
    public struct Selection: Sendable, Equatable {
        public var label: String
        public var endpoint: Endpoint
        /// Chosen because of a persistence entry.
        public var stuck: Bool
    }

    private struct Member {
        var label: String
        var endpoint: Endpoint
        var weight: Int
        var adminState: ServerAdminState
        var health: HealthStateMachine
        var lastCheck: HealthCheckResult?
        var lastCheckAt: WallClock.Instant?
        var lastChangeAt: WallClock.Instant?
        var active = 0
        var total = 0
        var connectFailures = 0
        var checksPassed = 0
        var checksFailed = 0
        var smoothWeight = 0
        var backup: Bool

        /// May take a connection that is not stuck to it, tier aside (a backup also waits until no primary can).
        var acceptsNew: Bool { adminState == .online && health.status == .up && weight > 0 }
        /// May take a connection stuck to it (drain lets stuck clients in).
        var acceptsStuck: Bool { adminState != .halt && health.status == .up }
    }

    private struct State {
        var members: [Member]
        var tieBreaker = 0
        /// Whether the backups took the new connections when ``backupTierChange()`` last looked.
        var backupsInUse = false

        /// No primary takes new connections and some backup does.
        var backupsTakeNew: Bool {
            !self.members.contains { !$0.backup && $0.acceptsNew } && self.members.contains { $0.backup && $0.acceptsNew }
        }
    }

    private let state: NIOLockedValueBox<State>

    public init(servers: [ServerConfiguration], rise: Int = 2, fall: Int = 3) {
        self.state = NIOLockedValueBox(State(members: servers.map { Self.member($0, rise: rise, fall: fall) }))
    }

    private static func member(_ server: ServerConfiguration, rise: Int, fall: Int) -> Member {
        Member(
            label: server.label, endpoint: server.endpoint, weight: server.weight, adminState: server.state,
            health: HealthStateMachine(rise: rise, fall: fall), backup: server.backup)
    }

    /// Picks a server for a new connection and counts it as active on that server.
    ///
    /// Backup servers are a second tier: a new (not stuck) connection goes to a backup only while no primary server
    /// this connection may use (`allowed`, not in `excluding`) takes new connections. A client stuck to a backup is
    /// sent back to a primary once one does, when `returnToPrimary` is set; otherwise it stays on the backup while the
    /// backup is up.
    ///
    /// - Parameters:
    ///   - method: the balancing method.
    ///   - clientKey: the client's address key (for `source` hashing).
    ///   - stickKey: the persistence key, when persistence is on.
    ///   - stickTable: the table `stickKey` lives in.
    ///   - allowed: restrict to these labels (protocol routing); `nil` = all.
    ///   - excluding: labels already tried for this connection.
    ///   - returnToPrimary: `persistence.return_to_primary` of the service.
    public func select(
        method: BalanceMethod, clientKey: StickKey?, stickKey: StickKey?, stickTable: StickTable?,
        allowed: Set<String>?, excluding: [String] = [], returnToPrimary: Bool = true, now: NIODeadline = .now()
    ) -> Selection? {
        self.state.withLockedValue { state in
            func permitted(_ member: Member) -> Bool {
                (allowed?.contains(member.label) ?? true) && !excluding.contains(member.label)
            }
            let primaryTakesNew = state.members.contains { !$0.backup && $0.acceptsNew && permitted($0) }
            if let stickKey, let stickTable, let label = stickTable.lookup(stickKey, now: now),
                let index = state.members.firstIndex(where: { $0.label == label }),
                state.members[index].acceptsStuck, permitted(state.members[index]),
                !(state.members[index].backup && primaryTakesNew && returnToPrimary)
            {
                stickTable.stick(stickKey, to: label, now: now)
                state.members[index].active += 1
                state.members[index].total += 1
                return Selection(label: label, endpoint: state.members[index].endpoint, stuck: true)
            }
            // The tier that takes new connections now: the primaries while any of them can, else the backups.
            let backupTier = !primaryTakesNew
            guard
                let index = Self.pick(
                    method, in: &state, clientKey: clientKey,
                    where: { $0.backup == backupTier && $0.acceptsNew && permitted($0) })
            else { return nil }
            state.members[index].active += 1
            state.members[index].total += 1
            let label = state.members[index].label
            if let stickKey, let stickTable { stickTable.stick(stickKey, to: label, now: now) }
            return Selection(label: label, endpoint: state.members[index].endpoint, stuck: false)
        }
    }

    private static func pick(
        _ method: BalanceMethod, in state: inout State, clientKey: StickKey?, where eligible: (Member) -> Bool
    ) -> Int? {
        switch method {
        case .roundrobin:
            // Smooth weighted round-robin (as nginx): every eligible member gains its weight, the richest is picked
            // and pays back the total. Interleaves evenly: weights 100/50 give A B A, A B A …
            var best: Int?
            var total = 0
            for index in state.members.indices where eligible(state.members[index]) {
                state.members[index].smoothWeight += state.members[index].weight
                total += state.members[index].weight
                if let current = best, state.members[index].smoothWeight <= state.members[current].smoothWeight {
                    continue
                }
                best = index
            }
            if let best { state.members[best].smoothWeight -= total }
            return best
        case .leastconn:
            // Fewest active connections per unit of weight; ties rotate so equal servers share the load.
            let count = state.members.count
            guard count > 0 else { return nil }
            state.tieBreaker &+= 1
            var best: Int?
            for offset in 0..<count {
                let index = (offset + state.tieBreaker) % count
                let member = state.members[index]
                guard eligible(member) else { continue }
                if let current = best {
                    let other = state.members[current]
                    if member.active * other.weight < other.active * member.weight { best = index }
                } else {
                    best = index
                }
            }
            return best
        case .source:
            // Weighted rendezvous hashing: a client keeps its server while that server is eligible, and only the
            // clients of a server that goes away move.
            let key = clientKey?.hashValue64 ?? 0
            var best: Int?
            var bestScore = -Double.infinity
            for index in state.members.indices where eligible(state.members[index]) {
                let member = state.members[index]
                var hasher = Hasher64(seed: key)
                hasher.combine(member.label)
                let unit = (Double(hasher.value >> 11) + 0.5) / Double(1 << 53)
                let score = Double(member.weight) / -Foundation_log(unit)
                if score > bestScore {
                    bestScore = score
                    best = index
                }
            }
            return best
        }
    }

    /// A connection to `label` ended.
    public func release(_ label: String) {
        self.state.withLockedValue { state in
            if let index = state.members.firstIndex(where: { $0.label == label }), state.members[index].active > 0 {
                state.members[index].active -= 1
            }
        }
    }

    /// A connect to `label` failed (counted for the overview; health is decided by the checks).
    public func recordConnectFailure(_ label: String) {
        self.state.withLockedValue { state in
            if let index = state.members.firstIndex(where: { $0.label == label }) {
                state.members[index].connectFailures += 1
            }
        }
    }

    /// Sets a server's administrative state; returns the previous one, or `nil` if there is no such server.
    @discardableResult
    public func setAdminState(_ label: String, _ adminState: ServerAdminState) -> ServerAdminState? {
        self.state.withLockedValue { state in
            guard let index = state.members.firstIndex(where: { $0.label == label }) else { return nil }
            let previous = state.members[index].adminState
            state.members[index].adminState = adminState
            state.members[index].lastChangeAt = WallClock.now()
            return previous
        }
    }

    /// Sets a server's weight; returns the previous one, or `nil` if there is no such server.
    @discardableResult
    public func setWeight(_ label: String, _ weight: Int) -> Int? {
        self.state.withLockedValue { state in
            guard let index = state.members.firstIndex(where: { $0.label == label }) else { return nil }
            let previous = state.members[index].weight
            state.members[index].weight = max(0, weight)
            state.members[index].smoothWeight = 0
            return previous
        }
    }

    /// Records a health check result; returns the new health status when it changed.
    public func recordHealth(_ label: String, _ result: HealthCheckResult) -> HealthStateMachine.Status? {
        self.state.withLockedValue { state in
            guard let index = state.members.firstIndex(where: { $0.label == label }) else { return nil }
            state.members[index].lastCheck = result
            state.members[index].lastCheckAt = WallClock.now()
            if result.succeeded { state.members[index].checksPassed += 1 } else { state.members[index].checksFailed += 1 }
            let change = state.members[index].health.record(succeeded: result.succeeded)
            if change != nil { state.members[index].lastChangeAt = WallClock.now() }
            return change
        }
    }

    /// Applies a reloaded server list: servers are matched by label; existing ones keep their health, counts and
    /// runtime state (unless the configured state changed), new ones start up and online, removed ones disappear
    /// (their connections continue).
    public func update(servers: [ServerConfiguration], previous: [ServerConfiguration], rise: Int, fall: Int) {
        self.state.withLockedValue { state in
            var members: [Member] = []
            for server in servers {
                if var existing = state.members.first(where: { $0.label == server.label }) {
                    let old = previous.first { $0.label == server.label }
                    if existing.endpoint != server.endpoint {
                        existing.endpoint = server.endpoint
                        existing.health = HealthStateMachine(rise: rise, fall: fall)
                    } else if existing.health.rise != rise || existing.health.fall != fall {
                        existing.health = HealthStateMachine(rise: rise, fall: fall, initial: existing.health.status)
                    }
                    if old?.weight != server.weight { existing.weight = server.weight }
                    if old?.state != server.state { existing.adminState = server.state }
                    existing.backup = server.backup
                    members.append(existing)
                } else {
                    members.append(Self.member(server, rise: rise, fall: fall))
                }
            }
            state.members = members
        }
    }

    /// The servers as the overview shows them.
    public func snapshot() -> [ServerSnapshot] {
        self.state.withLockedValue { state in
            // While a primary takes new connections the backups stand by.
            let primaryTakesNew = state.members.contains { !$0.backup && $0.acceptsNew }
            return state.members.map {
                ServerSnapshot(
                    label: $0.label, endpoint: $0.endpoint, weight: $0.weight, adminState: $0.adminState,
                    health: $0.health.status, lastCheck: $0.lastCheck, lastCheckAt: $0.lastCheckAt,
                    lastChangeAt: $0.lastChangeAt, activeConnections: $0.active, totalConnections: $0.total,
                    connectFailures: $0.connectFailures, checksPassed: $0.checksPassed, checksFailed: $0.checksFailed,
                    backup: $0.backup, takesNew: $0.acceptsNew && (!$0.backup || !primaryTakesNew))
            }
        }
    }

    /// `true` when the backup servers started taking the new connections since the last call, `false` when they
    /// stopped (a primary is back), `nil` when nothing changed: each switch is reported once, whoever asks first.
    public func backupTierChange() -> Bool? {
        self.state.withLockedValue { state in
            let now = state.backupsTakeNew
            guard now != state.backupsInUse else { return nil }
            state.backupsInUse = now
            return now
        }
    }

    /// The server labels in configuration order.
    public var labels: [String] { self.state.withLockedValue { $0.members.map(\.label) } }

    /// Whether any server could take a new connection now.
    public var hasAvailableServer: Bool { self.state.withLockedValue { $0.members.contains { $0.acceptsNew } } }
}

/// One real server as the overview and the API show it.
public struct ServerSnapshot: Sendable, Equatable {
    public var label: String
    public var endpoint: Endpoint
    public var weight: Int
    public var adminState: ServerAdminState
    public var health: HealthStateMachine.Status
    public var lastCheck: HealthCheckResult?
    public var lastCheckAt: WallClock.Instant?
    public var lastChangeAt: WallClock.Instant?
    public var activeConnections: Int
    public var totalConnections: Int
    public var connectFailures: Int
    /// Health checks that succeeded / failed since start.
    public var checksPassed: Int
    public var checksFailed: Int
    /// A backup server (``ServerConfiguration/backup``).
    public var backup: Bool = false
    /// Takes new (not stuck) connections now: online, up, weighted, and for a backup, no primary does.
    public var takesNew: Bool = false
}

/// FNV-1a over a seed and a string: a stable hash (Swift's `Hasher` is seeded per process, so it cannot be used for
/// assignments that must agree across restarts and between the HA pair).
struct Hasher64 {
    private(set) var value: UInt64

    init(seed: UInt64) {
        self.value = 0xcbf2_9ce4_8422_2325 ^ seed
    }

    mutating func combine(_ text: String) {
        for byte in text.utf8 {
            self.value ^= UInt64(byte)
            self.value &*= 0x0000_0100_0000_01b3
        }
        // Final avalanche so nearby inputs spread over the whole range.
        self.value ^= self.value >> 33
        self.value &*= 0xff51_afd7_ed55_8ccd
        self.value ^= self.value >> 33
    }
}

#if canImport(Glibc)
import Glibc
private func Foundation_log(_ value: Double) -> Double { Glibc.log(value) }
#elseif canImport(Darwin)
import Darwin
private func Foundation_log(_ value: Double) -> Double { Darwin.log(value) }
#endif

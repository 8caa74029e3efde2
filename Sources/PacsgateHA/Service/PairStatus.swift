public import PacsgateCore

/// The pair as this unit sees it, for the overview, `/api/v1/overview` and `pacsgate ctl status`.
public struct PairStatus: Sendable, Equatable {
    /// The state of the link to the peer.
    public enum Link: Sendable, Equatable {
        /// Not connected; `reason` says why (never connected, the last error).
        case down(reason: String)
        /// Dialling or in the handshake.
        case connecting
        /// Authenticated and exchanging.
        case up

        public var name: String {
            switch self {
            case .down: return "down"
            case .connecting: return "connecting"
            case .up: return "up"
            }
        }
    }

    public var node: String
    public var role: HARole
    public var vrrp: VRRPState
    /// Whether this unit may hold the VIP (see ``UnitReadiness``), and the peer's as it last reported.
    public var readiness: UnitReadiness
    public var peerReadiness: UnitReadiness?
    /// The last time this unit took the VIP over, and why.
    public var lastTakeover: Election.Takeover?
    /// Takeovers since this unit started.
    public var takeovers: Int
    /// Why this unit believes the peer's pacsgate is gone (it then asks keepalived to take over), or nil.
    public var peerGone: String?
    public var listen: String
    public var peerAddress: String
    public var link: Link
    /// Whether the peer is heard from now (link up and a frame within three status intervals).
    public var peerReachable: Bool
    public var peerNode: String?
    public var peerRole: HARole?
    public var peerVRRP: VRRPState?
    public var peerSoftware: String?
    public var linkSince: WallClock.Instant?
    public var lastReceived: WallClock.Instant?

    /// Persistence changes waiting to be sent.
    public var queued: Int
    /// The peer's queue, as it last reported.
    public var peerQueued: Int?
    public var entriesSent: Int
    public var entriesReceived: Int
    /// When a batch or snapshot was last sent completely (the queue was empty at that moment).
    public var lastSync: WallClock.Instant?
    public var lastSnapshotSent: WallClock.Instant?
    public var lastSnapshotReceived: WallClock.Instant?
    /// Times the queue overflowed and was replaced by a snapshot.
    public var overflows: Int
    /// Frames or connections refused for failed authentication or malformed bytes.
    public var rejected: Int
    /// Persistence entries per service here and, as last reported, on the peer.
    public var entries: [String: Int]
    public var peerEntries: [String: Int]

    public var configSync: Bool
    public var configVersion: ConfigVersion
    public var peerConfigVersion: ConfigVersion?
    /// The last configuration sync: on the primary the secondary's answer, on the secondary what it did.
    public var lastConfigSync: ConfigSyncRecord?

    /// Whether both units run the same shared configuration (unknown while the peer has not reported).
    public var configInSync: Bool? {
        guard let peer = self.peerConfigVersion, !peer.isUnknown, !self.configVersion.isUnknown else { return nil }
        return peer == self.configVersion
    }
}

/// One configuration sync, as the overview shows it.
public struct ConfigSyncRecord: Sendable, Equatable {
    public var time: WallClock.Instant
    public var version: ConfigVersion
    public var applied: Bool
    public var message: String

    public init(time: WallClock.Instant, version: ConfigVersion, applied: Bool, message: String) {
        self.time = time
        self.version = version
        self.applied = applied
        self.message = message
    }
}

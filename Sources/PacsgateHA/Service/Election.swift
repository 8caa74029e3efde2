public import PacsgateCore

/// This unit's say in keepalived's VRRP election, and what it knows about each change of who holds the virtual IPs.
///
/// keepalived decides; pacsgate adjusts this unit's priority through keepalived's `track_file` (``VRRPTrackFile``):
/// a unit that has not received the peer's snapshot yet stays below a peer that is in sync (no flapping back before
/// the table is complete), a unit that hands over drops out at once, and a unit whose peer's pacsgate is confirmed
/// gone takes over without waiting for keepalived to notice. A pure state machine: ``PairController`` feeds it
/// events and writes what it says.
public struct Election: Sendable {
    /// A change of holder of the virtual IPs that this unit took part in, for the audit (`ha.takeover`) and the
    /// overview.
    public struct Takeover: Sendable, Equatable {
        /// `planned` (the peer handed over), `peer-stopped` (its pacsgate ended without a goodbye), `peer-unreachable`
        /// (no link: the peer's host or the network), `preempt` (this unit is in sync and has the higher priority),
        /// `alone` (no peer has been seen since this unit started).
        public var kind: String
        public var reason: String
        public var time: WallClock.Instant

        public init(kind: String, reason: String, time: WallClock.Instant) {
            self.kind = kind
            self.reason = reason
            self.time = time
        }
    }

    public private(set) var readiness: UnitReadiness = .starting
    public private(set) var vrrp: VRRPState = .unknown
    /// Why this unit believes its peer's pacsgate is gone (the link ended without a goodbye and the peer's HA port
    /// refuses connections), or nil.
    public private(set) var peerGone: String?
    public private(set) var lastTakeover: Takeover?
    public private(set) var takeovers = 0
    /// This unit is stopping: it stays out of the election until it exits (nothing makes it ready or standing by).
    public private(set) var stopping = false

    /// This unit's configured role: the primary has the higher configured priority (the samples: 100 and 90).
    public let role: HARole
    private var peer: String?
    private var linkUp = false
    private var linkDownReason: String?
    private var peerHandover: HandoverNotice?
    private var peerReadiness: UnitReadiness?

    public init(role: HARole) {
        self.role = role
    }

    /// The value for keepalived's track file (added to the configured priority with `weight 1`): -254 puts the
    /// instance in FAULT (it releases the VIP at once, with a priority-0 advertisement the peer acts on immediately).
    public var trackValue: Int {
        if self.readiness == .leaving { return VRRPTrackFile.leaving }
        if self.peerGone != nil { return VRRPTrackFile.takeOver }
        return self.readiness == .ready ? VRRPTrackFile.ready : VRRPTrackFile.notReady
    }

    // MARK: events

    /// keepalived's notify script wrote a new state. Returns the takeover to record when this unit became MASTER.
    public mutating func vrrpChanged(to state: VRRPState, now: WallClock.Instant) -> Takeover? {
        let previous = self.vrrp
        self.vrrp = state
        guard state == .master, previous != .master else { return nil }
        // Holding the VIP, this unit serves: its table is the one clients use. (A unit that is leaving stays leaving.)
        if self.readiness == .starting || self.readiness == .standby { self.readiness = .ready }
        let takeover: Takeover
        if let notice = self.peerHandover {
            let what = notice.kind == .stopping ? "stopping" : "switchover"
            takeover = Takeover(kind: "planned", reason: "\(self.peer ?? "the peer") handed over (\(what): \(notice.reason))", time: now)
        } else if let gone = self.peerGone {
            takeover = Takeover(kind: "peer-stopped", reason: gone, time: now)
        } else if !self.linkUp, let peer = self.peer {
            takeover = Takeover(
                kind: "peer-unreachable", reason: "no link to \(peer) (\(self.linkDownReason ?? "down")): its host or the network failed",
                time: now)
        } else if self.linkUp, let peer = self.peer {
            takeover = Takeover(
                kind: "preempt",
                reason: "this unit is in sync and has the higher priority (\(peer) is \(self.peerReadiness?.rawValue ?? "unknown"))",
                time: now)
        } else {
            takeover = Takeover(kind: "alone", reason: "no peer has been seen since this unit started", time: now)
        }
        self.peerHandover = nil
        self.lastTakeover = takeover
        self.takeovers += 1
        return takeover
    }

    /// The link to `peer` is authenticated.
    public mutating func linkUp(peer: String) {
        self.peer = peer
        self.linkUp = true
        self.linkDownReason = nil
        self.peerGone = nil
        self.peerHandover = nil
    }

    /// The link ended. `planned`: the peer said goodbye or announced a handover first.
    public mutating func linkDown(reason: String, planned: Bool) {
        self.linkUp = false
        self.linkDownReason = reason
        self.peerReadiness = nil
        if !planned { self.peerHandover = nil }
    }

    /// The peer's HA port refused a connection right after the link ended without a goodbye: its pacsgate is gone.
    /// Returns whether this changes the track value (then it must be written at once).
    public mutating func peerConfirmedGone(_ reason: String) -> Bool {
        guard !self.linkUp, self.peerGone == nil else { return false }
        self.peerGone = reason
        return true
    }

    /// The peer announced that it hands the VIP over.
    public mutating func peerHandingOver(_ notice: HandoverNotice) {
        self.peerHandover = notice
    }

    /// The peer's status said how ready it is.
    public mutating func peerReported(_ readiness: UnitReadiness) {
        self.peerReadiness = readiness
    }

    /// The peer's snapshot has been received whole: this unit could take over without forgetting a client's server.
    /// Returns whether that made it ready.
    public mutating func snapshotReceived() -> Bool {
        guard self.readiness == .starting else { return false }
        self.readiness = .ready
        return true
    }

    /// This unit starts a switchover: it gives the VIP up at once.
    public mutating func leave() {
        self.readiness = .leaving
    }

    /// This unit is stopping (SIGTERM): from now on nothing brings it back into the election — a switchover that was
    /// under way ends in ``standBy()``, which then leaves it as it is.
    public mutating func stopRequested() {
        self.stopping = true
    }

    /// This unit is stopping and gives the VIP up at once (`releasing`), or keeps it through the drain because the peer
    /// cannot take over (keepalived releases it when the process exits).
    public mutating func stop(releasing: Bool) {
        self.stopping = true
        if releasing { self.readiness = .leaving }
    }

    /// A switchover is over (the VIP has gone): stay below the peer until this unit next holds the VIP. A stopping unit
    /// stays leaving.
    public mutating func standBy() {
        if self.readiness == .leaving, !self.stopping { self.readiness = .standby }
    }

    /// Whether, should this unit become MASTER now, packets of connections it does not know are the peer's and must be
    /// passed to it (keepalived's notify script reads this at the takeover and keeps the handover rule on, as it was
    /// while this unit stood by, or turns it off).
    ///
    /// Only when the peer is known to be alive, with open connections that keep working there:
    /// - it announced a planned handover (stopping, switchover), which this unit acknowledged;
    /// - or the link to it is up: this unit takes the VIP from a live peer (the primary preempting the secondary once
    ///   its snapshot is in). Whether the peer's STATUS has arrived yet does not matter: its connections are alive.
    ///
    /// Not after a takeover from a peer that stopped answering: its host may be dead, and packets passed to a dead host
    /// leave the client waiting for a timeout where this unit's own reset (no such connection here) ends the
    /// connection at once and the client retries.
    public var passesPeerConnections: Bool {
        guard self.peerGone == nil, self.readiness != .leaving, !self.stopping else { return false }
        return self.peerHandover != nil || self.linkUp
    }

    /// Whether the peer could take the VIP now (for a switchover): linked, and in sync or standing by.
    public var peerCanTakeOver: Bool {
        self.linkUp && (self.peerReadiness == .ready || self.peerReadiness == .standby)
    }
}

/// The file keepalived's `track_file` reads: the adjustment of this unit's VRRP priority, written by pacsgate (see
/// Samples/keepalived). With the samples' priorities (primary 100, secondary 90, `weight 1`):
///
/// | value | meaning | primary | secondary |
/// | --- | --- | --- | --- |
/// | 0 | starting (no snapshot from the peer yet) or standing by after a switchover | 100 | 90 |
/// | 100 | ready: in sync, or holding the VIP | 200 | 190 |
/// | 200 | the peer's pacsgate is gone: take over now | 254 | 254 |
/// | -254 | leaving (stopping, switchover): FAULT, the VIP is released at once | — | — |
public enum VRRPTrackFile {
    public static let notReady = 0
    public static let ready = 100
    public static let takeOver = 200
    public static let leaving = -254
}

import NIOCore
import PacsgateCore

/// Control messages waiting for the link's writer. Config pushes and runtime changes coalesce: only the latest
/// configuration and the latest setting of each server are sent.
struct Outbox: Sendable {
    var handover: HandoverNotice?
    var config: ConfigPush?
    var configResult: ConfigResult?
    var runtime: [ServerRuntime] = []
    var goodbye: String?

    mutating func add(_ server: ServerRuntime) {
        if let index = self.runtime.firstIndex(where: { $0.service == server.service && $0.server == server.server }) {
            self.runtime[index] = server
        } else {
            self.runtime.append(server)
        }
    }

    /// The messages to send, in order (the configuration before runtime settings that may refer to it).
    mutating func take() -> [HAMessage] {
        var messages: [HAMessage] = []
        if let notice = self.handover { messages.append(.handover(notice)) }
        if let config = self.config { messages.append(.config(config)) }
        if let result = self.configResult { messages.append(.configResult(result)) }
        if !self.runtime.isEmpty { messages.append(.runtime(RuntimeUpdate(full: false, servers: self.runtime))) }
        if let reason = self.goodbye { messages.append(.goodbye(reason: reason)) }
        self = Outbox()
        return messages
    }

    var isEmpty: Bool {
        self.handover == nil && self.config == nil && self.configResult == nil && self.runtime.isEmpty && self.goodbye == nil
    }
}

/// The state of this unit's side of the pair, shared by the link's tasks, the stick-table observers and the
/// overview. Every change is a mutating method; ``PairController`` holds it in a lock and performs what they return.
struct PairState: Sendable {
    /// The session that currently carries the link.
    struct Session: Sendable {
        var id: Int
        var peer: PeerIdentity
        var remote: String
        var close: @Sendable () -> Void
        var wake: AsyncStream<Void>.Continuation
    }

    var queue: ReplicationQueue
    var outbox = Outbox()
    private(set) var session: Session?
    private(set) var link: PairStatus.Link = .down(reason: "not connected yet")
    private var nextSessionID = 1
    var peerReport: PeerStatusReport?
    var lastPeer: PeerIdentity?
    var linkSince: WallClock.Instant?
    var lastReceived: WallClock.Instant?
    var lastReceivedDeadline: NIODeadline?
    var lastSync: WallClock.Instant?
    var lastSnapshotSent: WallClock.Instant?
    var lastSnapshotReceived: WallClock.Instant?
    var entriesSent = 0
    var entriesReceived = 0
    var rejected = 0
    var configVersion: ConfigVersion = .unknown
    var lastConfigSync: ConfigSyncRecord?
    var stopping = false
    /// The writer should send a status report at its next wake-up.
    var statusDue = false
    /// This unit's part in the VRRP election.
    var election = Election()
    /// Messages of these types have been written to the current session (the handover notice, the goodbye).
    var written: Set<UInt8> = []
    /// Unauthenticated connections to the HA port.
    var admission: PreAuthAdmission
    /// Failed attempts per address, summed for the audit.
    var rejections: RejectionAggregator

    init(queueLimit: Int, limits: PreAuthLimits = PreAuthLimits()) {
        self.queue = ReplicationQueue(limit: queueLimit)
        self.admission = PreAuthAdmission(limits: limits)
        self.rejections = RejectionAggregator(interval: limits.auditInterval)
    }

    /// A new session id (before the handshake).
    mutating func makeSessionID() -> Int {
        defer { self.nextSessionID += 1 }
        return self.nextSessionID
    }

    /// Dialling or handshaking (shown only while no session is up).
    mutating func connecting() {
        if self.session == nil { self.link = .connecting }
    }

    /// A connection attempt failed before a session was up.
    mutating func attemptFailed(_ reason: String) {
        if self.session == nil { self.link = .down(reason: reason) }
    }

    /// A session is authenticated. Returns the session it replaces (to be closed).
    mutating func established(_ session: Session, now: WallClock.Instant, deadline: NIODeadline) -> Session? {
        let previous = self.session
        self.session = session
        self.link = .up
        self.lastPeer = session.peer
        self.linkSince = now
        self.lastReceived = now
        self.lastReceivedDeadline = deadline
        self.outbox = Outbox()
        self.written = []
        self.queue.linkUp()
        self.election.linkUp(peer: session.peer.node)
        return previous
    }

    /// Session `id` ended (`planned`: after the peer's goodbye or handover notice). Returns whether it was the current
    /// one (then the link is down).
    mutating func ended(_ id: Int, reason: String, planned: Bool) -> Bool {
        guard self.session?.id == id else { return false }
        self.session = nil
        self.election.linkDown(reason: reason, planned: planned)
        self.link = .down(reason: reason)
        self.queue.linkDown()
        self.outbox = Outbox()
        self.peerReport = nil
        return true
    }

    /// Whether session `id` is the current one.
    func isCurrent(_ id: Int) -> Bool { self.session?.id == id }

    /// Queues a control message for the current session; returns its wake-up (nil when no session is up).
    mutating func post(_ change: (inout Outbox) -> Void) -> AsyncStream<Void>.Continuation? {
        guard let session = self.session else { return nil }
        change(&self.outbox)
        return session.wake
    }

    /// A stick table changed; returns the writer's wake-up when it should be woken.
    mutating func enqueue(service: String, entry: StickTable.Entry) -> AsyncStream<Void>.Continuation? {
        self.queue.enqueue(service: service, entry: entry) ? self.session?.wake : nil
    }

    /// A frame arrived from the peer.
    mutating func heard(now: WallClock.Instant, deadline: NIODeadline) {
        self.lastReceived = now
        self.lastReceivedDeadline = deadline
    }
}

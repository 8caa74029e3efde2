import Foundation
import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOPosix
import PacsgateCore
public import ServiceLifecycle

/// The HA link as a service of the gateway's service group: both units accept the link on `ha.listen`; the primary
/// dials `ha.peer` and redials with backoff. Each connection is authenticated by ``HandshakeStateMachine``; the
/// authenticated session then exchanges persistence entries (a full snapshot first), status reports, the primary's
/// configuration and runtime server settings, each frame sealed (see docs/ha-protocol.md).
extension PairController: Service {
    /// A connection of the link: the handshake runs in its pipeline (``HandshakeHandler``), which yields the session
    /// and then its frames.
    typealias LinkChannel = NIOAsyncChannel<LinkInbound, HAFrame>

    /// A connection the listener accepted: admitted (with its place in the pre-authentication limits) or refused.
    enum Accepted: Sendable {
        /// `remote`: the dialler's address as the socket had it when accepted (a socket that has closed since no longer
        /// has one, and its records must still name who it was).
        case admitted(LinkChannel, ticket: Int, remote: SocketAddress?)
        /// Refused before its pipeline was built: nothing it sends is looked at; the accept loop closes it.
        case refused(any Channel)
    }

    /// Runs the link until graceful shutdown, then says goodbye to the peer.
    public func run() async throws {
        await self.attachObservers()
        let running = await self.host.runningText()
        if let version = self.policy.version(of: running) {
            self.state.withLockedValue { $0.configVersion = version }
        }
        let reserved = self.peerAddresses()
        self.state.withLockedValue { $0.admission = PreAuthAdmission(limits: self.limits, reserved: reserved) }
        // keepalived learns at once that this unit has not received the peer's snapshot yet.
        self.publishElection()
        let server = NIOLockedValueBox<NIOAsyncChannel<Accepted, Never>?>(nil)
        let loops = Task {
            await withDiscardingTaskGroup { group in
                // The health file and keepalived's files from the start, whether or not the link can listen yet.
                group.addTask { await self.tickLoop() }
                group.addTask { await self.vrrpLoop() }
                group.addTask {
                    guard let listener = await self.listen() else { return }
                    server.withLockedValue { $0 = listener }
                    await withDiscardingTaskGroup { link in
                        link.addTask { await self.acceptLoop(listener) }
                        if self.configuration.role == .primary {
                            link.addTask { await self.dialLoop() }
                        }
                    }
                }
            }
        }
        await withTaskCancellationHandler {
            try? await gracefulShutdown()
            // The gateway has drained by now (it stops before this service): the peer learns the stop was planned.
            // (Cancelled instead, this unit ends like a crash: the peer checks whether its pacsgate is gone.)
            if !Task.isCancelled { await self.sayGoodbye("\(self.configuration.node) is stopping") }
        } onCancel: {
            loops.cancel()
        }
        self.state.withLockedValue { $0.stopping = true }
        loops.cancel()
        await loops.value
        try? await server.withLockedValue({ $0 })?.channel.close()
        self.writeHealth("fail stopping")
    }

    /// Binds the link's listener, retrying with backoff while it cannot (at boot the network that leads to the peer
    /// may not be up yet: no route to the peer, or `ha.listen`'s address not configured yet). Nil when cancelled.
    private func listen() async -> NIOAsyncChannel<Accepted, Never>? {
        var backoff = ReconnectBackoff(minimum: .milliseconds(500), maximum: .seconds(10))
        var lastError: String?
        while !Task.isCancelled {
            do {
                let listen = try await self.listenEndpoint()
                let server = try await ServerBootstrap(group: self.group)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .bind(host: listen.host, port: listen.port) { channel in
                        self.accept(channel)
                    }
                self.listening.withLockedValue { $0 = server.channel.localAddress }
                self.logger.notice(
                    "HA link listening",
                    metadata: [
                        "ha.listen": "\(server.channel.localAddress.map { "\($0)" } ?? "\(listen)")",
                        "ha.role": "\(self.configuration.role.rawValue)", "ha.peer": "\(self.configuration.peer)",
                    ])
                return server
            } catch {
                let delay = backoff.next(jitter: Double.random(in: 0...1))
                // Logged once per kind of error, not at every attempt.
                if "\(error)" != lastError {
                    lastError = "\(error)"
                    self.logger.error(
                        "cannot listen for the HA link yet; retrying (is the network that leads to the peer up? see After=network-online.target in docs/operations.md)",
                        metadata: [
                            "ha.listen": "\(self.configuration.listen.map { "\($0)" } ?? "(the peer-facing address)")", "error": "\(error)",
                            "retry_in": "\(delay.formatted(.units(allowed: [.seconds, .milliseconds])))",
                        ])
                }
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    return nil
                }
            }
        }
        return nil
    }

    /// The peer's addresses as connections from it show them (from `ha.peer`, resolved once at start): they have
    /// slots of their own among the unauthenticated connections.
    private func peerAddresses() -> Set<String> {
        let peer = self.configuration.peer
        if let address = try? SocketAddress(ipAddress: peer.host, port: peer.port), let ip = address.ipAddress { return [ip] }
        guard let resolved = try? SocketAddress.makeAddressResolvingHost(peer.host, port: peer.port), let ip = resolved.ipAddress else {
            self.logger.warning(
                "HA cannot resolve the peer's address; its connections get no reserved place among unauthenticated ones",
                metadata: ["ha.peer": "\(peer)"])
            return []
        }
        return [ip]
    }

    /// Where the link listens: `ha.listen`, or the address this unit reaches the peer from on the peer's port (never
    /// every address: the HA port answers only on the network that leads to the peer).
    func listenEndpoint() async throws -> Endpoint {
        if let listen = self.configuration.listen { return listen }
        let probe = try await DatagramBootstrap(group: self.group)
            .connect(host: self.configuration.peer.host, port: self.configuration.peer.port).get()
        defer { probe.close(promise: nil) }
        guard let address = probe.localAddress?.ipAddress else {
            throw PeerFacingAddressError(peer: self.configuration.peer)
        }
        return Endpoint(host: address, port: self.configuration.peer.port)
    }

    struct PeerFacingAddressError: Error, CustomStringConvertible {
        var peer: Endpoint
        var description: String { "no local address routes to the peer \(self.peer); set ha.listen" }
    }

    /// The address the link listens on (its port when `ha.listen` names port 0).
    public var listeningAddress: SocketAddress? { self.listening.withLockedValue { $0 } }

    /// The pipeline of a link connection: frames in and out, the handshake on the event loop (it switches the
    /// decoder's limit), the async side.
    func wrap(_ channel: any Channel, side: HandshakeStateMachine.Side) -> EventLoopFuture<LinkChannel> {
        let machine = HandshakeStateMachine(
            side: side, secret: self.secret, role: self.configuration.role, node: self.configuration.node, software: self.software)
        let timeout = TimeAmount(self.limits.handshakeTimeout)
        return channel.eventLoop.makeCompletedFuture {
            let limit = HAFrameLimit()
            let handlers = channel.pipeline.syncOperations
            try handlers.addHandler(
                ByteToMessageHandler(HAFrameDecoder(limit: limit), maximumBufferSize: HAFrame.headerSize + HAFrame.sessionBodyLimit + 4096))
            try handlers.addHandler(MessageToByteHandler(HAFrameEncoder()))
            try handlers.addHandler(HandshakeHandler(machine: machine, limit: limit, timeout: timeout))
            return try LinkChannel(wrappingChannelSynchronously: channel)
        }
    }

    // MARK: accepting and dialling

    /// Admits or refuses a new connection by the pre-authentication limits, on its event loop before its pipeline
    /// exists: a refused connection gets no handler, so nothing it sends is decoded, and no key agreement is made for it.
    func accept(_ channel: any Channel) -> EventLoopFuture<Accepted> {
        let source = channel.remoteAddress?.ipAddress ?? "?"
        let (decision, victim) = self.state.withLockedValue { state -> (PreAuthAdmission.Decision, (any Channel)?) in
            let decision = state.admission.admit(source, now: .now)
            guard case .admit(let ticket, let evicting) = decision else { return (decision, nil) }
            state.pendingChannels[ticket] = channel
            return (decision, evicting.flatMap { state.pendingChannels.removeValue(forKey: $0.ticket) })
        }
        switch decision {
        case .refuse(let reason):
            self.rejected(source: source, peer: nil, reason: "connection refused: \(reason)")
            return channel.eventLoop.makeSucceededFuture(.refused(channel))
        case .admit(let ticket, let eviction):
            if let eviction {
                victim?.close(promise: nil)
                self.rejected(
                    source: eviction.source, peer: nil,
                    reason: "closed before authenticating, to make room for a newer connection (pre-authentication limits)")
            }
            return self.wrap(channel, side: .responder)
                .map { [remote = channel.remoteAddress] in Accepted.admitted($0, ticket: ticket, remote: remote) }
                .flatMapErrorThrowing { error in
                    self.state.withLockedValue { $0.releaseAdmission(ticket) }
                    throw error
                }
        }
    }

    private func acceptLoop(_ server: NIOAsyncChannel<Accepted, Never>) async {
        await withDiscardingTaskGroup { group in
            do {
                try await server.executeThenClose { inbound in
                    for try await accepted in inbound {
                        switch accepted {
                        case .refused(let channel):
                            // Closed at once: a flood costs an accept and a close.
                            channel.close(promise: nil)
                        case .admitted(let child, let ticket, let remote):
                            group.addTask {
                                _ = await self.runConnection(child, side: .responder, ticket: ticket, remote: remote)
                            }
                        }
                    }
                }
            } catch {
                if !Task.isCancelled { self.logger.error("HA link listener failed", metadata: ["error": "\(error)"]) }
            }
        }
    }

    private func dialLoop() async {
        var backoff = ReconnectBackoff(minimum: self.configuration.reconnectMinimum, maximum: self.configuration.reconnectMaximum)
        var lastFailure: String?
        while !Task.isCancelled {
            self.state.withLockedValue { $0.connecting() }
            let started = ContinuousClock.now
            var uptime: Duration?
            do {
                let channel = try await ClientBootstrap(group: self.group)
                    .connectTimeout(.seconds(5))
                    .connect(host: self.configuration.peer.host, port: self.configuration.peer.port) { channel in
                        self.wrap(channel, side: .initiator)
                    }
                let hadSession = await self.runConnection(
                    channel, side: .initiator, ticket: nil, remote: channel.channel.remoteAddress)
                if hadSession {
                    uptime = ContinuousClock.now - started
                    lastFailure = nil
                }
            } catch {
                let reason = "cannot connect to \(self.configuration.peer): \(error)"
                self.state.withLockedValue { $0.attemptFailed(reason) }
                // Logged once per kind of failure, not at every attempt.
                if reason != lastFailure {
                    self.logger.warning("HA peer unreachable; retrying with backoff", metadata: ["ha.peer": "\(self.configuration.peer)", "error": "\(error)"])
                    lastFailure = reason
                }
            }
            if Task.isCancelled { break }
            let delay = backoff.next(after: uptime, jitter: Double.random(in: 0...1))
            do {
                try await Task.sleep(for: delay)
            } catch {
                return
            }
        }
    }

    /// Every 250 ms: the health file for keepalived, the peer's silence, the status report, (on the primary) the
    /// runtime server settings that changed, and the audit summaries of failed attempts whose interval ended.
    private func tickLoop() async {
        var lastStatus = ContinuousClock.now - self.configuration.statusInterval
        var knownRuntime: [String: ServerRuntime] = [:]
        var knownSession: Int?
        while !Task.isCancelled {
            self.writeHealth(self.state.withLockedValue { $0.election.readiness == .leaving } ? "fail stopping" : "ok")
            self.flushRejections()
            let now = NIODeadline.now()
            let timeout = TimeAmount(self.configuration.peerTimeout)
            let session = self.state.withLockedValue { $0.session }
            if let session, let heard = self.state.withLockedValue({ $0.lastReceivedDeadline }), now - heard > timeout {
                self.logger.warning(
                    "HA peer silent; closing the link", metadata: ["ha.peer_node": "\(session.peer.node)", "timeout": "\(self.configuration.peerTimeout)"])
                session.close()
            }
            if let session {
                if knownSession != session.id {
                    // A new session: every server's settings are sent (the peer may have missed any change).
                    knownSession = session.id
                    knownRuntime = [:]
                }
                if self.configuration.role == .primary, self.configuration.configSync {
                    let current = await self.runtimeSettings()
                    let changed = current.filter { knownRuntime[$0.key] != $0.value }.map(\.value)
                    knownRuntime = current
                    if !changed.isEmpty {
                        self.state.withLockedValue { state in _ = state.post { for server in changed { $0.add(server) } } }
                        session.wake.yield()
                    }
                }
                if ContinuousClock.now - lastStatus >= self.configuration.statusInterval {
                    lastStatus = ContinuousClock.now
                    self.state.withLockedValue { $0.statusDue = true }
                    session.wake.yield()
                }
            } else {
                knownSession = nil
            }
            do {
                try await Task.sleep(for: .milliseconds(250))
            } catch {
                return
            }
        }
    }

    func runtimeSettings() async -> [String: ServerRuntime] {
        var settings: [String: ServerRuntime] = [:]
        for runtime in await self.gateway.services {
            for server in runtime.pool.snapshot() {
                settings["\(runtime.label)/\(server.label)"] = ServerRuntime(
                    service: runtime.label, server: server.label, weight: server.weight, state: server.adminState)
            }
        }
        return settings
    }

    /// Rewrites the health file (a failure is logged once, and its recovery: ``KeepalivedFile``).
    func writeHealth(_ text: String) {
        guard let path = self.configuration.healthFile else { return }
        self.healthFile.write(text + "\n", to: path, logger: self.logger)
    }

    // MARK: one connection

    /// A link failure, with what the log and the audit say about it.
    struct LinkEnd: Error, CustomStringConvertible {
        var description: String
        /// Bytes that did not authenticate or parse, or an unproven dialler refused (counted as rejected, audited).
        var rejected: Bool
        /// The peer said goodbye or announced a handover first: the end was planned.
        var planned = false
        /// An authenticated refusal: the pair is misconfigured (logged at `error`).
        var refused = false
    }

    /// Runs one connection, from handshake to close. Returns whether it carried an authenticated session.
    /// `ticket`: an accepted connection's place in the pre-authentication limits, given back once it authenticates.
    /// `remoteAddress`: the other end's address, read when the connection was made (not here: a dialler that has
    /// already closed has none by now).
    func runConnection(
        _ channel: LinkChannel, side: HandshakeStateMachine.Side, ticket: Int?, remote remoteAddress: SocketAddress?
    ) async -> Bool {
        let remote = remoteAddress.map { "\($0)" } ?? "?"
        let source = remoteAddress?.ipAddress ?? remote
        let id = self.state.withLockedValue { $0.makeSessionID() }
        var established = false
        var peerNode: String?
        var pending = ticket
        do {
            try await channel.executeThenClose { inbound, outbound in
                var events = inbound.makeAsyncIterator()
                // The handshake runs in the pipeline (HandshakeHandler); its end comes as the stream's error.
                let first: LinkInbound?
                do {
                    first = try await events.next()
                } catch {
                    throw Self.linkEnd(error)
                }
                guard case .established(let peer, let sealer, let opener)? = first else {
                    throw LinkEnd(description: "closed during the handshake", rejected: false)
                }
                if let ticket = pending {
                    self.state.withLockedValue { $0.releaseAdmission(ticket) }
                    pending = nil
                }
                established = true
                peerNode = peer.node
                try await self.runSession(
                    id: id, peer: peer, remote: remote, channel: channel.channel, events: &events, outbound: outbound,
                    sealer: sealer, opener: opener)
            }
        } catch {
            self.linkEnded(
                id: id, side: side, established: established, peer: peerNode, remote: remote, source: source,
                end: error as? LinkEnd ?? Self.linkEnd(error))
        }
        if let ticket = pending { self.state.withLockedValue { $0.releaseAdmission(ticket) } }
        return established
    }

    /// What the log and the audit say about an error that ended a connection.
    private static func linkEnd(_ error: any Error) -> LinkEnd {
        if let ended = error as? HandshakeEnded {
            return LinkEnd(description: ended.description, rejected: ended.kind == .rejected, refused: ended.kind == .refused)
        }
        return LinkEnd(description: Self.describe(error), rejected: Self.isWireError(error))
    }

    private static func isWireError(_ error: any Error) -> Bool {
        if error is HAWireError { return true }
        if error is ByteToMessageDecoderError.PayloadTooLargeError { return true }
        return false
    }

    private static func describe(_ error: any Error) -> String {
        if error is CancellationError { return "this unit is stopping" }
        return ErrorText.describe(error)
    }

    private func linkEnded(
        id: Int, side: HandshakeStateMachine.Side, established: Bool, peer: String?, remote: String, source: String, end: LinkEnd
    ) {
        let stopping = Task.isCancelled || self.state.withLockedValue { $0.stopping }
        if end.rejected {
            self.rejected(source: source, peer: peer, reason: end.description)
        }
        let wasCurrent = self.state.withLockedValue { $0.ended(id, reason: end.description, planned: end.planned) }
        if wasCurrent {
            self.logger.log(
                level: stopping || end.planned ? .notice : .warning, "HA link down",
                metadata: ["ha.peer_node": "\(peer ?? "-")", "reason": "\(end.description)"])
            self.auditLink("ha.link.down", peer: peer, remote: remote, reason: end.description)
            if !end.planned, !stopping { self.probePeer(after: end.description) }
        } else if !established, side == .initiator {
            // This unit's own attempt to reach the configured peer: its outcome is the link's state on the overview.
            // (What happens on accepted connections, before they prove anything, never is: anyone can cause it.)
            let repeated = self.state.withLockedValue { state -> Bool in
                state.attemptFailed(end.description)
                defer { state.lastAttemptFailure = end.description }
                return state.lastAttemptFailure == end.description
            }
            if end.refused, !repeated {
                self.logger.error(
                    "HA link refused: the peer holds the secret but the pair is misconfigured",
                    metadata: ["ha.remote": "\(remote)", "reason": "\(end.description)"])
            } else if !end.rejected {
                self.logger.info("HA link attempt ended", metadata: ["ha.remote": "\(remote)", "reason": "\(end.description)"])
            }
        }
    }

    /// A connection or frame from `source` was refused. Counted always; logged and audited at the first of each
    /// interval per address, the rest summed into one record when the interval ends (``RejectionAggregator``).
    func rejected(source: String, peer: String?, reason: String) {
        let report = self.state.withLockedValue { state -> RejectionAggregator.Report? in
            state.rejected += 1
            return state.rejections.failed(source, reason: reason, peer: peer, now: .now)
        }
        if let report { self.writeRejection(report) }
    }

    /// Writes the summaries of intervals that ended by `now` (the tick loop's clock; tests move it).
    func flushRejections(now: ContinuousClock.Instant = .now) {
        let reports = self.state.withLockedValue { state -> [RejectionAggregator.Report] in
            state.admission.prune(now: now)
            return state.rejections.due(now: now)
        }
        for report in reports { self.writeRejection(report) }
    }

    private func writeRejection(_ report: RejectionAggregator.Report) {
        let interval = self.state.withLockedValue { $0.rejections.interval }
        if report.summary {
            self.logger.error(
                "HA link rejected more connections or bytes from the same address",
                metadata: ["ha.remote": "\(report.source)", "count": "\(report.count)", "interval": "\(interval)", "reason": "\(report.reason)"])
        } else {
            self.logger.error(
                "HA link rejected bytes from the peer; connection closed",
                metadata: [
                    "ha.remote": "\(report.source)", "ha.peer_node": "\(report.peer ?? "-")", "reason": "\(report.reason)",
                    "note": "further failures from this address within \(interval) are summed into one record",
                ])
        }
        var record = AuditLog.record(event: "ha.link.rejected")
        record.field("node", self.configuration.node)
        record.field("role", self.configuration.role.rawValue)
        record.field("peer", report.peer)
        record.field("remote", report.source)
        record.field("reason", report.reason)
        record.field("count", report.count)
        if report.summary { record.field("interval_s", Int(interval.components.seconds)) }
        self.audit.write(record)
    }

    // MARK: the session

    private func runSession(
        id: Int, peer: PeerIdentity, remote: String, channel: any Channel,
        events: inout NIOAsyncChannelInboundStream<LinkInbound>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<HAFrame>,
        sealer: FrameSealer, opener: FrameOpener
    ) async throws {
        let (wakeStream, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let session = PairState.Session(
            id: id, peer: peer, remote: remote, close: { channel.close(promise: nil) }, wake: wake)
        let previous = self.state.withLockedValue {
            $0.established(session, now: WallClock.now(), deadline: .now())
        }
        previous?.close()
        self.publishElection()
        self.logger.notice(
            "HA link up",
            metadata: [
                "ha.peer_node": "\(peer.node)", "ha.peer_role": "\(peer.role.rawValue)", "ha.remote": "\(remote)",
                "ha.peer_software": "\(peer.software)",
            ])
        self.auditLink("ha.link.up", peer: peer.node, remote: remote, reason: nil)
        // The first things sent: the status, the configuration and every server's settings (primary), then the
        // snapshot the queue asks for.
        self.state.withLockedValue { $0.statusDue = true }
        // (The tick loop sends every server's runtime settings right after.)
        if self.configuration.role == .primary, self.configuration.configSync {
            let text = await self.host.runningText()
            if let version = self.policy.version(of: text) {
                self.state.withLockedValue { state in
                    _ = state.post { $0.config = ConfigPush(version: version, origin: "link", text: text) }
                }
            }
        }
        wake.yield()
        var opener = opener
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await self.writeLoop(id: id, wakes: wakeStream, outbound: outbound, sealer: sealer)
            }
            var announcedHandover = false
            while true {
                let event: LinkInbound?
                do {
                    event = try await events.next()
                } catch {
                    throw LinkEnd(description: Self.describe(error), rejected: Self.isWireError(error), planned: announcedHandover)
                }
                guard let event else { throw LinkEnd(description: "the peer closed the link", rejected: false, planned: announcedHandover) }
                guard case .frame(let frame) = event else { continue }
                let message: HAMessage
                do {
                    message = try opener.open(frame)
                } catch {
                    throw LinkEnd(description: "\(error)", rejected: true)
                }
                self.state.withLockedValue { $0.heard(now: WallClock.now(), deadline: .now()) }
                switch message {
                case .goodbye(let reason):
                    throw LinkEnd(description: "the peer said goodbye: \(reason)", rejected: false, planned: true)
                case .handover(let notice):
                    announcedHandover = true
                    self.peerHandingOver(notice, from: peer)
                case .handoverAck(let number):
                    self.state.withLockedValue { $0.acknowledgedNotice = max($0.acknowledgedNotice, number) }
                default:
                    try await self.handle(message, from: peer, session: id)
                }
            }
        }
    }

    private func writeLoop(
        id: Int, wakes: AsyncStream<Void>, outbound: NIOAsyncChannelOutboundWriter<HAFrame>, sealer: FrameSealer
    ) async throws {
        var sealer = sealer
        for await _ in wakes {
            while true {
                guard let (messages, work, statusDue) = self.state.withLockedValue({ state -> ([HAMessage], ReplicationQueue.Work, Bool)? in
                    guard state.isCurrent(id) else { return nil }
                    let due = state.statusDue
                    state.statusDue = false
                    return (state.outbox.take(), state.queue.take(), due)
                }) else { return }
                if statusDue {
                    try await outbound.write(sealer.seal(.status(await self.statusReport())))
                }
                for message in messages {
                    try await outbound.write(sealer.seal(message))
                    self.state.withLockedValue { state in
                        if state.isCurrent(id) { state.written.insert(message.type) }
                    }
                    if case .goodbye = message { return }
                }
                let sent: Int
                switch work {
                case .nothing:
                    sent = -1
                case .snapshot:
                    sent = try await self.sendSnapshot(outbound: outbound, sealer: &sealer)
                case .entries(let pending):
                    let now = NIODeadline.now()
                    let entries = pending.compactMap { ReplicatedEntry(service: $0.key.service, entry: $0.value, now: now) }
                        .sorted { $0.service < $1.service }
                    try await self.sendEntries(entries, outbound: outbound, sealer: &sealer)
                    sent = entries.count
                }
                if sent < 0, messages.isEmpty, !statusDue { break }
                if sent >= 0 {
                    self.state.withLockedValue { state in
                        state.entriesSent += sent
                        if state.queue.count == 0 { state.lastSync = WallClock.now() }
                    }
                }
            }
        }
    }

    private func sendSnapshot(outbound: NIOAsyncChannelOutboundWriter<HAFrame>, sealer: inout FrameSealer) async throws -> Int {
        let now = NIODeadline.now()
        var entries: [ReplicatedEntry] = []
        for runtime in await self.gateway.services {
            for entry in runtime.stickTable.snapshot(now: now) {
                if let replicated = ReplicatedEntry(service: runtime.label, entry: entry, now: now) { entries.append(replicated) }
            }
        }
        let count = UInt32(clamping: entries.count)
        try await outbound.write(sealer.seal(.snapshotBegin(entries: count)))
        try await self.sendEntries(entries, outbound: outbound, sealer: &sealer)
        try await outbound.write(sealer.seal(.snapshotEnd(entries: count)))
        self.state.withLockedValue { $0.lastSnapshotSent = WallClock.now() }
        self.logger.info("HA snapshot sent", metadata: ["entries": "\(entries.count)"])
        return entries.count
    }

    private func sendEntries(
        _ entries: [ReplicatedEntry], outbound: NIOAsyncChannelOutboundWriter<HAFrame>, sealer: inout FrameSealer
    ) async throws {
        var start = 0
        while start < entries.count {
            let end = min(start + Self.batchSize, entries.count)
            try await outbound.write(sealer.seal(.entries(Array(entries[start..<end]))))
            start = end
        }
    }

    // MARK: receiving

    private func handle(_ message: HAMessage, from peer: PeerIdentity, session id: Int) async throws {
        switch message {
        case .status(let report):
            self.state.withLockedValue { state in
                state.peerReport = report
                state.election.peerReported(report.readiness)
            }
        case .entries(let entries):
            var tables: [String: StickTable] = [:]
            for runtime in await self.gateway.services { tables[runtime.label] = runtime.stickTable }
            let now = NIODeadline.now()
            for entry in entries {
                // Entries of a service this unit does not run (yet) are dropped; the next snapshot brings them. An
                // entry this unit holds with a later expiry (a more recent use here) is kept.
                tables[entry.service]?.mergeIfLater(entry.entry(now: now), now: now)
            }
            self.state.withLockedValue { $0.entriesReceived += entries.count }
        case .snapshotBegin(let count):
            self.logger.info("HA snapshot arriving", metadata: ["ha.peer_node": "\(peer.node)", "entries": "\(count)"])
        case .snapshotEnd(let count):
            let ready = self.state.withLockedValue { state in
                state.lastSnapshotReceived = WallClock.now()
                return state.election.snapshotReceived()
            }
            self.logger.info("HA snapshot received", metadata: ["ha.peer_node": "\(peer.node)", "entries": "\(count)"])
            if ready { self.becameReady("the snapshot of \(peer.node) is in (\(count) entries)") }
        case .config(let push):
            await self.receivedConfig(push, from: peer)
        case .configResult(let result):
            let record = ConfigSyncRecord(time: WallClock.now(), version: result.version, applied: result.applied, message: result.message)
            self.state.withLockedValue { $0.lastConfigSync = record }
            if result.applied {
                self.logger.info("HA secondary runs this configuration", metadata: ["config.version": "\(result.version)", "message": "\(result.message)"])
            } else {
                self.logger.error("HA secondary did not apply the configuration", metadata: ["config.version": "\(result.version)", "message": "\(result.message)"])
            }
        case .runtime(let update):
            guard self.configuration.role == .secondary, self.configuration.configSync else { return }
            let current = await self.runtimeSettings()
            for server in update.servers where current["\(server.service)/\(server.server)"] != server {
                do {
                    let weight = ServerChange.weight(server.weight)
                    let state = ServerChange.state(server.state)
                    let previousWeight = try await self.gateway.change(service: server.service, server: server.server, to: weight)
                    let previousState = try await self.gateway.change(service: server.service, server: server.server, to: state)
                    if previousWeight != weight || previousState != state {
                        self.logger.notice(
                            "HA runtime setting synced from the primary",
                            metadata: [
                                "service": "\(server.service)", "server": "\(server.server)", "weight": "\(server.weight)",
                                "state": "\(server.state)",
                            ])
                    }
                } catch {
                    self.logger.warning(
                        "HA runtime setting from the primary not applied",
                        metadata: ["service": "\(server.service)", "server": "\(server.server)", "error": "\(error)"])
                }
            }
        case .goodbye, .handover, .handoverAck, .unknown:
            break
        }
    }

    private func receivedConfig(_ push: ConfigPush, from peer: PeerIdentity) async {
        let running = await self.host.runningText()
        let result: ConfigResult
        switch self.policy.decide(push, running: running, primary: peer.node) {
        case .inSync:
            result = ConfigResult(version: push.version, applied: true, message: "already in sync")
        case .refuse(let reason):
            self.logger.error("HA configuration from the peer refused", metadata: ["ha.peer_node": "\(peer.node)", "reason": "\(reason)"])
            result = ConfigResult(version: push.version, applied: false, message: reason)
        case .apply(let text):
            let outcome = await self.host.applySynced(text, from: peer.node)
            if outcome.applied, let version = self.policy.version(of: text) {
                self.state.withLockedValue { $0.configVersion = version }
            }
            self.logger.notice(
                outcome.applied ? "HA configuration synced from the primary" : "HA configuration from the primary not applied",
                metadata: ["ha.peer_node": "\(peer.node)", "config.version": "\(push.version)", "message": "\(outcome.message)"])
            var record = AuditLog.record(event: "ha.config.sync")
            record.field("node", self.configuration.node)
            record.field("peer", peer.node)
            record.field("version", push.version.hex)
            record.field("origin", push.origin)
            record.field("result", outcome.applied ? "applied" : "refused")
            record.field("message", outcome.message)
            self.audit.write(record)
            result = ConfigResult(version: push.version, applied: outcome.applied, message: outcome.message)
        }
        let record = ConfigSyncRecord(time: WallClock.now(), version: push.version, applied: result.applied, message: result.message)
        self.state.withLockedValue { state -> AsyncStream<Void>.Continuation? in
            state.lastConfigSync = record
            return state.post { $0.configResult = result }
        }?.yield()
    }
}

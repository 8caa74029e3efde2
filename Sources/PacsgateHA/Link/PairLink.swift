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
    /// A connection of the link with the switch that lets it carry large frames once authenticated.
    struct LinkChannel: Sendable {
        var channel: NIOAsyncChannel<HAFrame, HAFrame>
        var limit: HAFrameLimit
    }

    /// Runs the link until graceful shutdown, then says goodbye to the peer.
    public func run() async throws {
        await self.attachObservers()
        let running = await self.host.runningText()
        if let version = self.policy.version(of: running) {
            self.state.withLockedValue { $0.configVersion = version }
        }
        // keepalived learns at once that this unit has not received the peer's snapshot yet.
        self.writeTrackFile()
        let listen: Endpoint
        let server: NIOAsyncChannel<LinkChannel, Never>
        do {
            listen = try await self.listenEndpoint()
            server = try await ServerBootstrap(group: self.group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: listen.host, port: listen.port) { channel in
                    Self.wrap(channel)
                }
        } catch {
            self.logger.critical(
                "cannot listen for the HA link",
                metadata: ["ha.listen": "\(self.configuration.listen.map { "\($0)" } ?? "(the peer-facing address)")", "error": "\(error)"])
            throw error
        }
        self.listening.withLockedValue { $0 = server.channel.localAddress }
        self.logger.notice(
            "HA link listening",
            metadata: [
                "ha.listen": "\(server.channel.localAddress.map { "\($0)" } ?? "\(listen)")",
                "ha.role": "\(self.configuration.role.rawValue)", "ha.peer": "\(self.configuration.peer)",
            ])
        let loops = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.acceptLoop(server) }
                if self.configuration.role == .primary {
                    group.addTask { await self.dialLoop() }
                }
                group.addTask { await self.tickLoop() }
                group.addTask { await self.vrrpLoop() }
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
        try? await server.channel.close()
        self.writeHealth("fail stopping")
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

    static func wrap(_ channel: any Channel) -> EventLoopFuture<LinkChannel> {
        channel.eventLoop.makeCompletedFuture {
            let limit = HAFrameLimit()
            try channel.pipeline.syncOperations.addHandler(
                ByteToMessageHandler(HAFrameDecoder(limit: limit), maximumBufferSize: HAFrame.headerSize + HAFrame.sessionBodyLimit + 4096))
            try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(HAFrameEncoder()))
            return LinkChannel(channel: try NIOAsyncChannel<HAFrame, HAFrame>(wrappingChannelSynchronously: channel), limit: limit)
        }
    }

    // MARK: accepting and dialling

    private func acceptLoop(_ server: NIOAsyncChannel<LinkChannel, Never>) async {
        await withDiscardingTaskGroup { group in
            do {
                try await server.executeThenClose { inbound in
                    for try await child in inbound {
                        let source = child.channel.channel.remoteAddress?.ipAddress ?? "?"
                        let decision = self.state.withLockedValue { $0.admission.admit(source, now: .now) }
                        guard decision == .admit else {
                            // Closed at once, before anything it sent is looked at: a flood costs an accept and a close.
                            group.addTask { try? await child.channel.executeThenClose { _, _ in } }
                            if case .refuse(let reason) = decision {
                                self.rejected(source: source, peer: nil, reason: "connection refused: \(reason)")
                            }
                            continue
                        }
                        group.addTask {
                            _ = await self.runConnection(child, side: .responder, admittedFrom: source)
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
                        Self.wrap(channel)
                    }
                let hadSession = await self.runConnection(channel, side: .initiator, admittedFrom: nil)
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
            try? await Task.sleep(for: delay)
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
            try? await Task.sleep(for: .milliseconds(250))
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

    func writeHealth(_ text: String) {
        guard let path = self.configuration.healthFile else { return }
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data((text + "\n").utf8)) else { return }
        _ = rename(temporary, path)
    }

    // MARK: one connection

    /// A link failure, with what the log and the audit say about it.
    struct LinkEnd: Error, CustomStringConvertible {
        var description: String
        /// Bytes that did not authenticate or parse (counted as rejected, audited).
        var rejected: Bool
        /// The peer said goodbye or announced a handover first: the end was planned.
        var planned = false
    }

    /// Runs one connection, from handshake to close. Returns whether it carried an authenticated session.
    /// `admittedFrom`: the address an accepted connection counts against in the pre-authentication limits.
    func runConnection(_ link: LinkChannel, side: HandshakeStateMachine.Side, admittedFrom: String?) async -> Bool {
        let channel = link.channel
        let remote = channel.channel.remoteAddress.map { "\($0)" } ?? "?"
        let source = channel.channel.remoteAddress?.ipAddress ?? remote
        let id = self.state.withLockedValue { $0.makeSessionID() }
        var established = false
        var peerNode: String?
        var admitted = admittedFrom
        // The handshake must finish within the peer timeout.
        let handshakeTimer = channel.channel.eventLoop.scheduleTask(in: TimeAmount(self.configuration.peerTimeout)) {
            channel.channel.close(promise: nil)
        }
        do {
            try await channel.executeThenClose { inbound, outbound in
                var frames = inbound.makeAsyncIterator()
                var handshake = HandshakeStateMachine(
                    side: side, secret: self.secret, role: self.configuration.role, node: self.configuration.node,
                    software: self.software)
                if let hello = handshake.start() { try await outbound.write(hello) }
                var result: (PeerIdentity, FrameSealer, FrameOpener)?
                while result == nil {
                    let frame: HAFrame?
                    do {
                        frame = try await frames.next()
                    } catch let error as HAWireError {
                        throw LinkEnd(description: "\(error)", rejected: true)
                    } catch {
                        throw LinkEnd(description: Self.describe(error), rejected: Self.isWireError(error))
                    }
                    guard let frame else {
                        // A dialler that closes after our welcome could not open it: it does not hold this secret.
                        if handshake.awaitsConfirmation {
                            throw LinkEnd(description: "the dialler closed after the welcome without proving the secret (another secret?)", rejected: true)
                        }
                        throw LinkEnd(description: "closed during the handshake", rejected: false)
                    }
                    switch handshake.received(frame) {
                    case .send(let answer):
                        try await outbound.write(answer)
                    case .established(let peer, let sealer, let opener, let confirm):
                        if let confirm { try await outbound.write(confirm) }
                        result = (peer, sealer, opener)
                    case .close(let answer, let reason):
                        if let answer { try? await outbound.write(answer) }
                        if case .rejected = reason {
                            throw LinkEnd(description: "\(reason)", rejected: true)
                        }
                        throw LinkEnd(description: "\(reason)", rejected: false)
                    }
                }
                handshakeTimer.cancel()
                guard let (peer, sealer, opener) = result else { return }
                link.limit.sessionEstablished()
                if let source = admitted {
                    self.state.withLockedValue { $0.admission.release(source) }
                    admitted = nil
                }
                established = true
                peerNode = peer.node
                try await self.runSession(
                    id: id, peer: peer, remote: remote, channel: channel.channel, frames: &frames, outbound: outbound,
                    sealer: sealer, opener: opener)
            }
        } catch let end as LinkEnd {
            self.linkEnded(id: id, established: established, peer: peerNode, remote: remote, source: source, end: end)
        } catch {
            self.linkEnded(
                id: id, established: established, peer: peerNode, remote: remote, source: source,
                end: LinkEnd(description: Self.describe(error), rejected: Self.isWireError(error)))
        }
        handshakeTimer.cancel()
        if let source = admitted { self.state.withLockedValue { $0.admission.release(source) } }
        return established
    }

    private static func isWireError(_ error: any Error) -> Bool {
        if error is HAWireError { return true }
        if error is ByteToMessageDecoderError.PayloadTooLargeError { return true }
        return false
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? ChannelError, error == .eof || error == .ioOnClosedChannel || error == .alreadyClosed {
            return "the connection closed"
        }
        if error is CancellationError { return "this unit is stopping" }
        return "\(error)"
    }

    private func linkEnded(id: Int, established: Bool, peer: String?, remote: String, source: String, end: LinkEnd) {
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
        } else if !established, !end.rejected {
            self.state.withLockedValue { $0.attemptFailed(end.description) }
            self.logger.info("HA link attempt ended", metadata: ["ha.remote": "\(remote)", "reason": "\(end.description)"])
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

    /// Writes the summaries of intervals that ended.
    func flushRejections() {
        let reports = self.state.withLockedValue { state -> [RejectionAggregator.Report] in
            state.admission.prune(now: .now)
            return state.rejections.due(now: .now)
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
        frames: inout NIOAsyncChannelInboundStream<HAFrame>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<HAFrame>,
        sealer: FrameSealer, opener: FrameOpener
    ) async throws {
        let (wakeStream, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let session = PairState.Session(
            id: id, peer: peer, remote: remote, close: { channel.close(promise: nil) }, wake: wake)
        let previous = self.state.withLockedValue {
            $0.established(session, now: WallClock.now(), deadline: .now())
        }
        previous?.close()
        self.writeTrackFile()
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
                let frame: HAFrame?
                do {
                    frame = try await frames.next()
                } catch {
                    throw LinkEnd(description: Self.describe(error), rejected: Self.isWireError(error), planned: announcedHandover)
                }
                guard let frame else { throw LinkEnd(description: "the peer closed the link", rejected: false, planned: announcedHandover) }
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
                    self.state.withLockedValue { $0.election.peerHandingOver(notice) }
                    self.logger.notice(
                        "HA peer hands the virtual IPs over to this unit",
                        metadata: ["ha.peer_node": "\(peer.node)", "kind": "\(notice.kind)", "reason": "\(notice.reason)"])
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
                    let previousWeight = try await self.gateway.setWeight(service: server.service, server: server.server, to: server.weight)
                    let previousState = try await self.gateway.setServerState(service: server.service, server: server.server, to: server.state)
                    if previousWeight != server.weight || previousState != server.state {
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
        case .goodbye, .handover, .unknown:
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

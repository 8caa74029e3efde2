import CoreMetrics
import Foundation
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOPosix
import NIOSSL
public import PacsgateCore
public import ServiceLifecycle

/// Sends the gateway's audit trail to an audit record repository as DICOM audit messages over syslog
/// (PS3.15 §A.6/A.7; RFC 5424 with octet counting over TLS (RFC 5425) or TCP, or UDP (RFC 5426)).
///
/// A `Service`: `run()` connects, sends the queue in order, reconnects every `retry_interval` while the repository is
/// unreachable and, meanwhile, spools what arrives (``ExportQueue``, ``SpoolFile``), bounded by `spool_max_bytes` and
/// `spool_max_age`. While it spools it raises an alarm: a log line per state change, ``status`` (the overview
/// banner) and the `pacsgate_audit_export_*` metrics. The local JSON lines log stays the primary record.
///
/// A message counts as sent once its bytes are written to the repository's socket (syslog has no acknowledgement);
/// a write that fails puts it back at the head of the queue.
public final class AuditExporter: Service, Sendable {
    /// Health of the export, for the overview banner.
    public enum Status: Sendable, Equatable {
        /// Not connected yet (start) and nothing waiting.
        case starting
        /// Connected; the queue is being sent.
        case connected
        /// The repository cannot be reached (or refused the gateway): messages are spooled.
        case spooling(reason: String, queued: Int, dropped: Int)
    }

    /// Counters since start.
    public struct Counters: Sendable, Equatable {
        public var sent = 0
        /// Refused because the spool was full or the message too large.
        public var dropped = 0
        /// Discarded because they waited longer than `spool_max_age`.
        public var expired = 0
        public var connectFailures = 0
    }

    private struct State {
        var queue: ExportQueue
        var status: Status = .starting
        var counters = Counters()
        var connected = false
        var stopRequested = false
        var stopping = false
        var lastFailure: String?
        /// The error a connection reported before it closed (a TLS handshake failure, typically).
        var channelError: String?
        var waiter: CheckedContinuation<Void, Never>?
        var wakePending = false
    }

    public let configuration: SyslogExportConfiguration
    public let mapper: AuditEventMapper
    private let frame: SyslogFrame
    private let group: any EventLoopGroup
    private let logger: Logger
    private let spool: SpoolFile?
    private let state: NIOLockedValueBox<State>
    private let tlsContext: NIOSSLContext?
    private let metrics: ExportMetrics

    /// Reads the TLS material (throws when it cannot be loaded, before any traffic flows) and loads the spool file.
    ///
    /// - Parameters:
    ///   - processID: syslog `PROCID` and the gateway's `AlternativeUserID` (default: this process's ID).
    ///   - hostname: `AuditSourceID` and syslog `HOSTNAME` when the configuration has no `source_id` (default: the
    ///     machine's host name).
    public init(
        configuration: SyslogExportConfiguration, group: any EventLoopGroup, logger: Logger,
        processID: String? = nil, hostname: String? = nil
    ) throws {
        let processID = processID ?? String(ProcessInfo.processInfo.processIdentifier)
        let hostname = hostname ?? ProcessInfo.processInfo.hostName
        self.configuration = configuration
        let sourceID = configuration.sourceID ?? hostname
        self.mapper = AuditEventMapper(sourceID: sourceID, siteID: configuration.siteID, processID: processID)
        self.frame = SyslogFrame(hostname: sourceID, processID: processID)
        self.group = group
        self.logger = logger
        self.spool = configuration.spoolPath.map(SpoolFile.init(path:))
        self.metrics = ExportMetrics()
        if configuration.transport == .tls {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv12
            if let ca = configuration.caFile { tls.trustRoots = .file(ca) }
            if let certificate = configuration.certificate {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            }
            if let key = configuration.key { tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)) }
            self.tlsContext = try NIOSSLContext(configuration: tls)
        } else {
            self.tlsContext = nil
        }
        var queue = ExportQueue(
            maxBytes: configuration.spoolMaxBytes,
            maxAgeMilliseconds: Int64(configuration.spoolMaxAge.components.seconds) * 1000,
            maxMessageBytes: SyslogExportConfiguration.maxMessageBytes)
        var restored = 0
        if let spool = self.spool {
            do {
                for entry in try spool.load() where queue.append(entry.message, at: entry.queuedAt, onDisk: true) == .queued {
                    restored += 1
                }
            } catch {
                logger.error("audit export: cannot read the spool file", metadata: ["audit.spool": "\(spool.path)", "error": "\(error)"])
            }
        }
        self.state = NIOLockedValueBox(State(queue: queue))
        if restored > 0 {
            logger.notice("audit export: spooled messages found, sent once the repository is reachable", metadata: ["audit.queued": "\(restored)"])
        }
        self.metrics.queued(restored)
    }

    /// The ``AuditLog`` observer: maps the record's typed payload and queues its message (records with no message
    /// are ignored).
    public func observe(_ record: AuditRecord) {
        guard let message = self.mapper.message(for: record) else { return }
        self.submit(message)
    }

    /// Queues one audit message.
    public func submit(_ message: AuditMessage) {
        let syslog = self.frame.message(AuditMessageEncoder.encode(message), time: message.event.time)
        let now = WallClock.now().millisecondsSinceEpoch
        let (result, queued, firstDrop) = self.state.withLockedValue { state -> (ExportQueue.AppendResult, Int, Bool) in
            let result = state.queue.append(syslog, at: now)
            var firstDrop = false
            if result != .queued {
                state.counters.dropped += 1
                firstDrop = state.counters.dropped == 1
                if case .spooling(let reason, _, _) = state.status {
                    state.status = .spooling(reason: reason, queued: state.queue.count, dropped: state.counters.dropped)
                }
            } else if case .spooling(let reason, _, let dropped) = state.status {
                state.status = .spooling(reason: reason, queued: state.queue.count, dropped: dropped)
            }
            return (result, state.queue.count, firstDrop)
        }
        self.metrics.queued(queued)
        if result != .queued {
            self.metrics.dropped()
            if firstDrop || result == .droppedTooLarge {
                self.logger.error(
                    "audit export: message dropped",
                    metadata: [
                        "audit.reason": "\(result == .droppedFull ? "spool full (spool_max_bytes)" : "message too large")",
                        "audit.queued": "\(queued)",
                    ])
            }
        }
        self.wake()
    }

    /// The export's health.
    public var status: Status { self.state.withLockedValue { $0.status } }

    /// The overview banner while spooling (`nil` otherwise).
    public var alarm: String? {
        guard case .spooling(let reason, let queued, let dropped) = self.status else { return nil }
        return "Audit repository \(self.configuration.address) unreachable (\(reason)): \(queued) audit messages spooled, \(dropped) dropped."
    }

    /// Counters since start.
    public var counters: Counters { self.state.withLockedValue { $0.counters } }

    /// Messages waiting (memory and spool).
    public var queuedCount: Int { self.state.withLockedValue { $0.queue.count } }

    // MARK: service

    /// Sends until graceful shutdown; then sends Application Stop, gives the queue a moment to drain and writes what is
    /// left to the spool file.
    public func run() async throws {
        self.submit(self.mapper.applicationActivity(started: true, time: WallClock.now()))
        await withGracefulShutdownHandler {
            await self.loop()
        } onGracefulShutdown: {
            self.shutdown()
        }
    }

    /// Starts the stop sequence (what graceful shutdown does): Application Stop is queued, the queue gets up to
    /// 3 seconds to drain, the rest goes to the spool file and ``run()`` returns.
    public func shutdown() {
        let first = self.state.withLockedValue { state -> Bool in
            defer { state.stopRequested = true }
            return !state.stopRequested
        }
        guard first else { return }
        // Queued before the loop may see `stopping`, so it is part of what the loop drains.
        self.submit(self.mapper.applicationActivity(started: false, time: WallClock.now()))
        self.state.withLockedValue { $0.stopping = true }
        self.wake()
    }

    private var isStopping: Bool { self.state.withLockedValue { $0.stopping } }

    private func loop() async {
        var stopDeadline: NIODeadline?
        attempts: while true {
            if self.isStopping, stopDeadline == nil { stopDeadline = .now() + .seconds(3) }
            if let stopDeadline, NIODeadline.now() > stopDeadline { break }
            if self.isStopping, self.state.withLockedValue({ $0.queue.isEmpty }) { break }
            self.persistUnsent()
            switch await self.connect() {
            case .success(let connection):
                self.connected()
                let outcome = await self.drain(connection, stopDeadline: { stopDeadline })
                connection.close()
                if case .failed(let reason) = outcome { self.disconnected(reason: reason) }
                if case .stopped = outcome { break attempts }
            case .failure(let error):
                self.disconnected(reason: self.describe(error))
                if self.isStopping { break attempts }
                await self.wait(upTo: self.configuration.retryInterval, untilStopping: true)
            }
        }
        self.finish()
    }

    private enum DrainOutcome {
        case failed(String)
        case stopped
    }

    private func drain(_ connection: Connection, stopDeadline: () -> NIODeadline?) async -> DrainOutcome {
        while true {
            let now = WallClock.now().millisecondsSinceEpoch
            let (batch, expired, stopping) = self.state.withLockedValue { state -> ([[UInt8]], Int, Bool) in
                let expired = state.queue.expire(now: now)
                state.counters.expired += expired
                return (state.queue.peek(limit: 256, byteLimit: 1 << 20), expired, state.stopping)
            }
            if expired > 0 {
                self.logger.error("audit export: spooled messages older than spool_max_age discarded", metadata: ["audit.expired": "\(expired)"])
            }
            if batch.isEmpty {
                if stopping { return .stopped }
                self.clearSpoolFile()
                if !connection.isActive { return .failed(self.takeChannelError() ?? "the repository closed the connection") }
                await self.wait(upTo: .seconds(60), untilStopping: false)
                continue
            }
            if let deadline = stopDeadline(), NIODeadline.now() > deadline { return .stopped }
            do {
                try await connection.send(batch, timeout: self.timeAmount(self.configuration.connectTimeout)) {
                    self.recordChannelError(StalledWrite(seconds: self.configuration.connectTimeout.components.seconds))
                }
            } catch {
                return .failed(self.takeChannelError() ?? self.describe(error))
            }
            let (queued, wasSpooling) = self.state.withLockedValue { state -> (Int, Bool) in
                state.queue.acknowledge(batch.count)
                state.counters.sent += batch.count
                return (state.queue.count, state.lastFailure != nil)
            }
            self.metrics.sent(batch.count, queued: queued)
            if queued == 0, wasSpooling {
                self.state.withLockedValue { $0.lastFailure = nil }
                self.logger.notice("audit export: spool drained; the repository has every message")
            }
        }
    }

    // MARK: state changes

    private func connected() {
        let previous = self.state.withLockedValue { state -> String? in
            state.connected = true
            state.status = .connected
            state.channelError = nil
            return state.lastFailure
        }
        self.metrics.spooling(false)
        if previous != nil {
            self.logger.notice(
                "audit export: repository reachable again; sending spooled messages",
                metadata: ["audit.repository": "\(self.configuration.address)", "audit.queued": "\(self.queuedCount)"])
        } else {
            self.logger.info("audit export: connected", metadata: ["audit.repository": "\(self.configuration.address)"])
        }
    }

    private func disconnected(reason: String) {
        let (changed, queued) = self.state.withLockedValue { state -> (Bool, Int) in
            state.connected = false
            state.counters.connectFailures += 1
            let changed = state.lastFailure != reason
            state.lastFailure = reason
            state.status = .spooling(reason: reason, queued: state.queue.count, dropped: state.counters.dropped)
            return (changed, state.queue.count)
        }
        self.metrics.connectFailure()
        self.metrics.spooling(true)
        if changed {
            self.logger.error(
                "audit export: repository unreachable; spooling audit messages",
                metadata: [
                    "audit.repository": "\(self.configuration.address)", "audit.transport": "\(self.configuration.transport.rawValue)",
                    "audit.reason": "\(reason)", "audit.queued": "\(queued)",
                ])
        }
        self.persistUnsent()
    }

    /// Writes the messages that arrived while disconnected to the spool file.
    private func persistUnsent() {
        guard let spool = self.spool else { return }
        let unsent = self.state.withLockedValue { state -> [ExportQueue.Entry] in
            guard !state.connected else { return [] }
            let unsent = state.queue.unpersisted
            state.queue.markPersisted()
            return unsent
        }
        do {
            try spool.append(unsent)
        } catch {
            self.logger.error("audit export: cannot write the spool file", metadata: ["audit.spool": "\(spool.path)", "error": "\(error)"])
        }
    }

    private func clearSpoolFile() {
        guard let spool = self.spool, FileManager.default.fileExists(atPath: spool.path) else { return }
        do {
            try spool.rewrite([])
        } catch {
            self.logger.error("audit export: cannot empty the spool file", metadata: ["audit.spool": "\(spool.path)", "error": "\(error)"])
        }
    }

    /// On shutdown: what is still queued goes to the spool file.
    private func finish() {
        let remaining = self.state.withLockedValue { Array($0.queue.all) }
        guard let spool = self.spool else {
            if !remaining.isEmpty {
                self.logger.error("audit export stopped with messages not sent (no spool file)", metadata: ["audit.lost": "\(remaining.count)"])
            }
            return
        }
        do {
            try spool.rewrite(remaining)
            if !remaining.isEmpty {
                self.logger.warning("audit export stopped; messages kept in the spool", metadata: ["audit.queued": "\(remaining.count)"])
            }
        } catch {
            self.logger.error("audit export: cannot write the spool file", metadata: ["audit.spool": "\(spool.path)", "error": "\(error)"])
        }
    }

    // MARK: waiting

    fileprivate func wake() {
        let waiter = self.state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.wakePending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Waits until woken (a message, a closed connection, shutdown) or `timeout`; with `untilStopping`, messages do
    /// not wake it (a retry pause).
    private func wait(upTo timeout: Duration, untilStopping: Bool) async {
        let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        while NIODeadline.now() < deadline {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = self.state.withLockedValue { state -> Bool in
                    if state.wakePending || state.stopping {
                        state.wakePending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now {
                    continuation.resume()
                } else {
                    self.group.next().scheduleTask(deadline: deadline) { self.wake() }
                }
            }
            if !untilStopping || self.isStopping { return }
        }
    }

    fileprivate func recordChannelError(_ error: any Error) {
        let text = self.describe(error)
        self.state.withLockedValue { state in
            if state.channelError == nil { state.channelError = text }
        }
    }

    private func takeChannelError() -> String? {
        self.state.withLockedValue { state in
            defer { state.channelError = nil }
            return state.channelError
        }
    }

    private func describe(_ error: any Error) -> String {
        if let ssl = error as? NIOSSLError { return "TLS: \(ssl)" }
        return ErrorText.describe(error)
    }

    // MARK: connections

    private func connect() async -> Result<Connection, any Error> {
        let address = self.configuration.address
        let timeout = self.timeAmount(self.configuration.connectTimeout)
        do {
            switch self.configuration.transport {
            case .udp:
                let remote = try SocketAddress.makeAddressResolvingHost(address.host, port: address.port)
                let local = remote.protocol == .inet6 ? "::" : "0.0.0.0"
                let channel = try await DatagramBootstrap(group: self.group).bind(host: local, port: 0).get()
                return .success(.udp(channel, remote))
            case .tcp, .tls:
                let context = self.tlsContext
                let serverName = self.configuration.serverName ?? (Self.isIPAddress(address.host) ? nil : address.host)
                let channel = try await ClientBootstrap(group: self.group)
                    .connectTimeout(timeout)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            if let context {
                                let handler = try NIOSSLClientHandler(context: context, serverHostname: serverName)
                                try channel.pipeline.syncOperations.addHandler(handler)
                            }
                            try channel.pipeline.syncOperations.addHandler(ConnectionWatcher(exporter: self))
                        }
                    }
                    .connect(host: address.host, port: address.port).get()
                return .success(.stream(channel))
            }
        } catch {
            return .failure(error)
        }
    }

    private func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// A write that made no progress within `connect_timeout`.
    private struct StalledWrite: Error, CustomStringConvertible {
        var seconds: Int64
        var description: String { "no progress for \(seconds) s (TLS handshake or write stalled)" }
    }

    private static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    private enum Connection {
        case stream(any Channel)
        case udp(any Channel, SocketAddress)

        var isActive: Bool {
            switch self {
            case .stream(let channel), .udp(let channel, _): channel.isActive
            }
        }

        /// Writes `batch`; a write that makes no progress for `timeout` (a repository that accepts the connection but
        /// never finishes the TLS handshake or stops reading) closes the connection, so the batch stays queued.
        func send(_ batch: [[UInt8]], timeout: TimeAmount, onStall: @escaping @Sendable () -> Void) async throws {
            switch self {
            case .stream(let channel):
                var buffer = channel.allocator.buffer(capacity: batch.reduce(0) { $0 + $1.count + 8 })
                for message in batch { buffer.writeBytes(SyslogFrame.octetCounted(message)) }
                let stall = channel.eventLoop.scheduleTask(in: timeout) {
                    onStall()
                    channel.close(promise: nil)
                }
                defer { stall.cancel() }
                try await channel.writeAndFlush(buffer).get()
            case .udp(let channel, let remote):
                var last: EventLoopFuture<Void>?
                for message in batch {
                    let envelope = AddressedEnvelope(remoteAddress: remote, data: channel.allocator.buffer(bytes: message))
                    last = channel.write(envelope)
                }
                channel.flush()
                try await last?.get()
            }
        }

        func close() {
            switch self {
            case .stream(let channel), .udp(let channel, _): channel.close(promise: nil)
            }
        }
    }
}

/// Wakes the exporter when its connection closes and keeps the error that closed it (a refused certificate).
private final class ConnectionWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let exporter: AuditExporter

    init(exporter: AuditExporter) {
        self.exporter = exporter
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A syslog receiver sends nothing; whatever arrives is ignored.
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.exporter.recordChannelError(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.exporter.wake()
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension ConnectionWatcher: Sendable {}

/// The export's metrics through swift-metrics.
private struct ExportMetrics: Sendable {
    let queuedGauge = Gauge(label: "pacsgate_audit_export_queued_messages")
    let spoolingGauge = Gauge(label: "pacsgate_audit_export_spooling")
    let sentCounter = Counter(label: "pacsgate_audit_export_sent_total")
    let droppedCounter = Counter(label: "pacsgate_audit_export_dropped_total")
    let failureCounter = Counter(label: "pacsgate_audit_export_connect_failures_total")

    func queued(_ count: Int) { self.queuedGauge.record(count) }
    func spooling(_ on: Bool) { self.spoolingGauge.record(on ? 1 : 0) }
    func sent(_ count: Int, queued: Int) {
        self.sentCounter.increment(by: count)
        self.queuedGauge.record(queued)
    }
    func dropped() { self.droppedCounter.increment() }
    func connectFailure() { self.failureCounter.increment() }
}

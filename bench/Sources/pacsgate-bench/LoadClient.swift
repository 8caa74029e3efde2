import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// How a reply is recognised as complete.
enum ReplyFraming: Sendable {
    /// One DICOM PDU (6-byte header with the length at offset 2) of this type.
    case dicomPDU(type: UInt8)
    /// One MLLP frame (ends with FS CR).
    case mllpFrame
    /// Exactly this many bytes.
    case bytes(Int)
}

/// One request and the reply it waits for.
struct Exchange: Sendable {
    var send: ByteBuffer
    var reply: ReplyFraming
}

/// What each client connection does.
enum ClientScript: Sendable {
    /// Connect, run the exchanges in order, close: one operation per connection.
    case connectPerOperation([Exchange])
    /// Connect once, then repeat the single exchange until the end: one operation per exchange.
    case persistent(Exchange)
    /// Connect, complete a TLS handshake with SNI, close: one operation per connection.
    case tlsHandshake(context: NIOSSLContext, serverName: String)
    /// Connect, complete a TLS handshake, run the exchanges inside the session, close: one operation per connection.
    case tlsConnectPerOperation(context: NIOSSLContext, serverName: String, [Exchange])
}

/// What a run of clients measured.
struct LoadResult: Sendable {
    /// Operations completed inside the measurement window.
    var operations = 0
    /// Failed operations (refused, reset, unexpected reply, unfinished at the end).
    var errors = 0
    /// Latencies (seconds) of the operations in the window.
    var latencies: [Double] = []
    /// Length of the measurement window (seconds).
    var window = 0.0
    /// Operations in the whole run, warm-up included (for CPU per operation).
    var allOperations = 0

    mutating func merge(_ other: LoadResult) {
        self.operations += other.operations
        self.errors += other.errors
        self.latencies += other.latencies
        self.window = max(self.window, other.window)
        self.allOperations += other.allOperations
    }
}

/// Closed-loop load: `concurrency` clients spread over the event loops, each starting its next operation as soon as
/// the previous one ended, from now until `warmup + duration`; operations ending in the last `duration` count.
enum LoadClient {
    static func run(
        _ script: ClientScript, to address: SocketAddress, concurrency: Int, warmup: TimeAmount, duration: TimeAmount,
        group: any EventLoopGroup
    ) async throws -> LoadResult {
        let start = NIODeadline.now()
        let window = (start: start + warmup, end: start + warmup + duration)
        var futures: [EventLoopFuture<LoadResult>] = []
        let loops = Array(group.makeIterator())
        for (index, loop) in loops.enumerated() {
            let slots = concurrency / loops.count + (index < concurrency % loops.count ? 1 : 0)
            guard slots > 0 else { continue }
            let future = loop.flatSubmit {
                let worker = LoadWorker(
                    loop: loop, address: address, script: script, slots: slots, window: window)
                return worker.start()
            }
            futures.append(future)
        }
        var total = LoadResult()
        for future in futures { total.merge(try await future.get()) }
        total.window = Double((window.end - window.start).nanoseconds) / 1e9
        return total
    }
}

/// The clients of one event loop.
final class LoadWorker {
    private let loop: any EventLoop
    private let address: SocketAddress
    private let script: ClientScript
    private let slots: Int
    private let window: (start: NIODeadline, end: NIODeadline)
    private var result = LoadResult()
    private var inFlight = 0
    private var open: [ObjectIdentifier: any Channel] = [:]
    private var promise: EventLoopPromise<LoadResult>?

    init(
        loop: any EventLoop, address: SocketAddress, script: ClientScript, slots: Int,
        window: (start: NIODeadline, end: NIODeadline)
    ) {
        self.loop = loop
        self.address = address
        self.script = script
        self.slots = slots
        self.window = window
    }

    func start() -> EventLoopFuture<LoadResult> {
        let promise = self.loop.makePromise(of: LoadResult.self)
        self.promise = promise
        for _ in 0..<self.slots { self.launch() }
        // Connections still busy 5 s after the end are cut and counted as errors.
        let bound = NIOLoopBound(self, eventLoop: self.loop)
        self.loop.scheduleTask(deadline: self.window.end + .seconds(5)) {
            bound.value.giveUp()
        }
        return promise.futureResult
    }

    private func launch() {
        guard NIODeadline.now() < self.window.end else {
            self.finishIfIdle()
            return
        }
        self.inFlight += 1
        let started = NIODeadline.now()
        let bound = NIOLoopBound(self, eventLoop: self.loop)
        let script = self.script
        let bootstrap = ClientBootstrap(group: self.loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    switch script {
                    case .tlsHandshake(let context, let serverName), .tlsConnectPerOperation(let context, let serverName, _):
                        try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
                    case .connectPerOperation, .persistent:
                        break
                    }
                    try pipeline.addHandler(ClientHandler(worker: bound.value, script: script, started: started))
                }
            }
        bootstrap.connect(to: self.address).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                self.open[ObjectIdentifier(channel)] = channel
            case .failure:
                self.result.errors += 1
                self.inFlight -= 1
                // Back off a little so a refusing target does not turn the client into a busy loop.
                self.loop.assumeIsolated().scheduleTask(in: .milliseconds(10)) { self.launch() }
            }
        }
    }

    /// An operation completed at `now` after `latency`.
    func completed(started: NIODeadline) {
        let now = NIODeadline.now()
        self.result.allOperations += 1
        if now >= self.window.start, now <= self.window.end {
            self.result.operations += 1
            self.result.latencies.append(Double((now - started).nanoseconds) / 1e9)
        }
    }

    /// Whether persistent clients should stop.
    var pastEnd: Bool { NIODeadline.now() >= self.window.end }

    /// A client connection closed; `failed` when its script did not finish.
    func connectionClosed(_ channel: any Channel, failed: Bool) {
        self.open[ObjectIdentifier(channel)] = nil
        if failed { self.result.errors += 1 }
        self.inFlight -= 1
        self.launch()
    }

    private func finishIfIdle() {
        guard self.inFlight == 0, let promise = self.promise else { return }
        self.promise = nil
        promise.succeed(self.result)
    }

    private func giveUp() {
        guard let promise = self.promise else { return }
        self.promise = nil
        self.result.errors += self.inFlight
        for channel in self.open.values { channel.close(promise: nil) }
        promise.succeed(self.result)
    }
}

@available(*, unavailable)
extension LoadWorker: Sendable {}

/// Runs one client connection's script.
final class ClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let worker: LoadWorker
    private let script: ClientScript
    private var started: NIODeadline
    private var step = 0
    private var received = ByteBuffer()
    private var done = false

    init(worker: LoadWorker, script: ClientScript, started: NIODeadline) {
        self.worker = worker
        self.script = script
        self.started = started
    }

    private var exchanges: [Exchange] {
        switch self.script {
        case .connectPerOperation(let exchanges), .tlsConnectPerOperation(_, _, let exchanges): return exchanges
        case .persistent(let exchange): return [exchange]
        case .tlsHandshake: return []
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        if let first = self.exchanges.first {
            context.writeAndFlush(self.wrapOutboundOut(first.send), promise: nil)
        }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The handshake alone is the operation of `tlsHandshake`; `tlsConnectPerOperation` goes on inside the session
        // (its first request, written at connect, left the TLS handler with the handshake).
        if case .tlsHandshake = self.script, case .handshakeCompleted = event as? TLSUserEvent {
            self.worker.completed(started: self.started)
            self.done = true
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        if self.received.readableBytes == 0 {
            self.received = bytes
        } else {
            self.received.writeBuffer(&bytes)
        }
        let exchanges = self.exchanges
        while self.step < exchanges.count, let length = Self.completeReply(exchanges[self.step].reply, in: self.received) {
            if case .dicomPDU(let type) = exchanges[self.step].reply,
                self.received.getInteger(at: self.received.readerIndex, as: UInt8.self) != type
            {
                context.close(promise: nil)  // An unexpected PDU (reject, abort): the operation failed.
                return
            }
            self.received.moveReaderIndex(forwardBy: length)
            self.step += 1
            if case .persistent = self.script {
                self.worker.completed(started: self.started)
                if self.worker.pastEnd {
                    self.done = true
                    context.close(promise: nil)
                    return
                }
                self.step = 0
                self.started = .now()
                context.writeAndFlush(self.wrapOutboundOut(exchanges[0].send), promise: nil)
            } else if self.step < exchanges.count {
                context.writeAndFlush(self.wrapOutboundOut(exchanges[self.step].send), promise: nil)
            } else {
                self.worker.completed(started: self.started)
                self.done = true
                context.close(promise: nil)
                return
            }
        }
        if self.received.readableBytes == 0 { self.received.clear() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.worker.connectionClosed(context.channel, failed: !self.done)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Length of the complete reply at the start of `buffer`, or `nil` while incomplete.
    static func completeReply(_ framing: ReplyFraming, in buffer: ByteBuffer) -> Int? {
        switch framing {
        case .dicomPDU:
            guard let length = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt32.self) else { return nil }
            let total = 6 + Int(length)
            return buffer.readableBytes >= total ? total : nil
        case .mllpFrame:
            let view = buffer.readableBytesView
            guard let end = view.firstIndex(of: 0x1C), end + 1 < view.endIndex, view[end + 1] == 0x0D else {
                return nil
            }
            return end + 2 - view.startIndex
        case .bytes(let count):
            return buffer.readableBytes >= count ? count : nil
        }
    }
}

@available(*, unavailable)
extension ClientHandler: Sendable {}

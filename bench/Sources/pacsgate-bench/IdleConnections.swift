import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Opens many connections through a target and holds them: first silent, then after one small exchange each.
final class IdleConnections: Sendable {
    private let group: any EventLoopGroup
    private let address: SocketAddress
    private let channels = NIOLockedValueBox<[any Channel]>([])

    init(group: any EventLoopGroup, address: SocketAddress) {
        self.group = group
        self.address = address
    }

    /// Opens `count` connections, at most `parallel` connects at a time; returns how many failed.
    func open(_ count: Int, parallel: Int = 200) async -> Int {
        var failures = 0
        var opened = 0
        while opened < count {
            let batch = min(parallel, count - opened)
            var futures: [EventLoopFuture<any Channel>] = []
            for _ in 0..<batch {
                let bootstrap = ClientBootstrap(group: self.group)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 256))
                    .connectTimeout(.seconds(10))
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(ReplyCounter())
                        }
                    }
                futures.append(bootstrap.connect(to: self.address))
            }
            for future in futures {
                if let channel = try? await future.get() {
                    self.channels.withLockedValue { $0.append(channel) }
                } else {
                    failures += 1
                }
            }
            opened += batch
        }
        return failures
    }

    /// Sends `size` bytes on every connection and waits for each echo; returns how many did not come back.
    func exchange(size: Int, timeout: TimeAmount) async -> Int {
        let channels = self.channels.withLockedValue { $0 }
        let payload = ByteBuffer(repeating: 0x61, count: size)
        var futures: [EventLoopFuture<Void>] = []
        for channel in channels {
            let future = channel.eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
                guard let counter = try? channel.pipeline.syncOperations.handler(type: ReplyCounter.self) else {
                    return channel.eventLoop.makeFailedFuture(BenchError("no reply counter"))
                }
                let promise = channel.eventLoop.makePromise(of: Void.self)
                counter.expect(size, promise: promise)
                channel.writeAndFlush(payload, promise: nil)
                return promise.futureResult
            }
            futures.append(future)
        }
        var missing = 0
        let deadline = NIODeadline.now() + timeout
        for future in futures {
            let remaining = deadline - .now()
            guard remaining > .zero else {
                missing += 1
                continue
            }
            do {
                try await future.get()
            } catch {
                missing += 1
            }
        }
        return missing
    }

    /// Number of connections held.
    var count: Int { self.channels.withLockedValue { $0.count } }

    /// Closes every connection.
    func closeAll() async {
        let channels = self.channels.withLockedValue { all in
            defer { all.removeAll() }
            return all
        }
        for channel in channels { channel.close(promise: nil) }
        for channel in channels { try? await channel.closeFuture.get() }
    }
}

/// Completes a promise once the expected number of bytes has arrived.
final class ReplyCounter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var expected = 0
    private var promise: EventLoopPromise<Void>?

    func expect(_ count: Int, promise: EventLoopPromise<Void>) {
        self.expected = count
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.expected -= self.unwrapInboundIn(data).readableBytes
        if self.expected <= 0, let promise = self.promise {
            self.promise = nil
            promise.succeed()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.promise?.fail(BenchError("connection closed"))
        self.promise = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension ReplyCounter: Sendable {}

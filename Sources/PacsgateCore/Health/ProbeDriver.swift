package import NIOCore

/// Feeds a health probe the bytes of its connection and carries out the steps it returns: what the plain probe
/// handler and the TLS check's handler share.
///
/// Bytes the probe leaves unread are kept and handed back in front of the next read.
package struct ProbeDriver<Probe: HealthProbe> {
    private var probe: Probe
    private var pending: ByteBuffer?

    package init(_ probe: Probe) {
        self.probe = probe
    }

    /// The probe's first step, once the connection (and its transport) is ready.
    package mutating func start() -> ProbeStep {
        self.probe.start()
    }

    /// The probe's step for `bytes`, read after whatever it left unread before.
    package mutating func receive(_ bytes: ByteBuffer) -> ProbeStep {
        var bytes = bytes
        if var pending = self.pending {
            pending.writeBuffer(&bytes)
            bytes = pending
        }
        let step = self.probe.receive(&bytes)
        self.pending = bytes.readableBytes > 0 ? bytes : nil
        return step
    }

    /// The probe's result when the server closed the connection.
    package mutating func serverClosed() -> HealthCheckResult {
        self.probe.serverClosed()
    }

    /// Carries out `step` on `context`'s channel: writes what it sends, and succeeds `promise` with its result —
    /// passed through `finish` — once the last bytes are written.
    package static func perform(
        _ step: ProbeStep,
        context: ChannelHandlerContext,
        promise: EventLoopPromise<HealthCheckResult>,
        finish: (HealthCheckResult) -> HealthCheckResult
    ) {
        switch step {
        case .needMore:
            break
        case .send(let bytes):
            context.writeAndFlush(NIOAny(bytes), promise: nil)
        case .sendAndFinish(let bytes, let result):
            let finished = finish(result)
            context.writeAndFlush(NIOAny(bytes)).whenComplete { _ in promise.succeed(finished) }
        case .done(let result):
            promise.succeed(finish(result))
        }
    }
}

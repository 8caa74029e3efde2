import NIOCore

/// Sits between the socket and the TLS server handler of a terminating `dicom` or `hl7` service: tells the
/// termination when the client first speaks, and reads the negotiated cipher suite from the gateway's ServerHello
/// (``ServerHelloParser``; swift-nio-ssl does not expose it). Removes itself with the flush after the ServerHello, so
/// the session's data never passes through it.
final class TLSWireObserver: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Most outbound bytes held to find the cipher suite (a ServerHello is about 100–200 bytes).
    static let maximumHeld = 1024

    private weak var termination: TLSTerminatingInspector?
    private var clientSpoke = false
    private var held: ByteBuffer?
    private var done = false
    private var leaving = false

    init(termination: TLSTerminatingInspector) {
        self.termination = termination
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !self.clientSpoke {
            self.clientSpoke = true
            self.termination?.clientSpoke()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !self.done else {
            context.write(data, promise: promise)
            return
        }
        var bytes = self.unwrapOutboundIn(data)
        var all = self.held ?? ByteBuffer()
        all.writeBuffer(&bytes)
        let outcome: Result<UInt16?, ServerHelloParseError> = Result { () throws(ServerHelloParseError) in
            try ServerHelloParser.cipherSuite(all)
        }
        context.write(data, promise: promise)
        switch outcome {
        case .success(nil) where all.readableBytes < Self.maximumHeld:
            self.held = all
        case .success(let suite?):
            self.finish(context: context, cipher: TLSCipherSuiteName.name(suite))
        case .success(nil), .failure:
            self.finish(context: context, cipher: nil)
        }
    }

    func flush(context: ChannelHandlerContext) {
        context.flush()
        if self.done, !self.leaving {
            self.leaving = true
            // Leave only after the flush has passed: removed inside the write, the TLS handler's flush that follows
            // it would be lost and the ServerHello would never leave.
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    private func finish(context: ChannelHandlerContext, cipher: String?) {
        self.done = true
        self.held = nil
        if let cipher { self.termination?.cipherChosen(cipher) }
    }
}

@available(*, unavailable)
extension TLSWireObserver: Sendable {}


import NIOCore
import NIOSSL
import NIOTLS

/// Terminate mode: holds the client's first bytes in front of the TLS server handler until its ClientHello is
/// complete.
///
/// On a ClientHello the gateway accepts, the gate puts the TLS server handler in its own place and replays the held
/// bytes into it, so the handshake sees the stream unchanged. On bytes the gateway refuses (HTTP, garbage, a
/// malformed hello, a refused name) no TLS handler is ever added: the gate fires an empty read so the core's peek
/// phase asks the inspector, which hands over the refusal, and the core writes the answer (an alert, or `400` to
/// plaintext HTTP) in plaintext and closes — counted and logged like every other refusal. Later bytes are dropped.
final class ClientHelloGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// What the inspector decided about the bytes held so far.
    enum Decision {
        case needMore
        /// Start TLS with this handler.
        case terminate(NIOSSLServerHandler)
        /// Refused; the core is to ask for the verdict.
        case refuse
    }

    private enum State {
        case holding(ByteBuffer?)
        case refused
    }

    private var state: State = .holding(nil)
    private let inspector: TLSConnectionInspector

    init(inspector: TLSConnectionInspector) {
        self.inspector = inspector
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .holding(let held) = self.state else { return }
        var bytes = self.unwrapInboundIn(data)
        self.state = .refused  // drop the enum's reference so appending does not copy
        if var all = held {
            all.writeBuffer(&bytes)
            bytes = all
        }
        switch self.inspector.gateReceived(bytes) {
        case .needMore:
            self.state = .holding(bytes)
        case .terminate(let tlsHandler):
            do {
                try context.pipeline.syncOperations.addHandler(tlsHandler, position: .after(self))
            } catch {
                context.fireErrorCaught(error)
                context.close(promise: nil)
                return
            }
            context.fireChannelRead(self.wrapInboundOut(bytes))
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        case .refuse:
            self.state = .refused
            context.fireChannelRead(self.wrapInboundOut(context.channel.allocator.buffer(capacity: 0)))
        }
    }
}

@available(*, unavailable)
extension ClientHelloGate: Sendable {}

/// Who hears how a terminated client's TLS handshake went: the `protocol: tls` inspector, or the termination in
/// front of a `dicom` or `hl7` inspector.
protocol TLSClientSessionDelegate: AnyObject {
    func clientHandshakeCompleted(negotiatedProtocol: String?, version: String?)
    func clientHandshakeFailed(_ error: any Error)
}

/// Terminate mode: sits between the TLS server handler and the core, telling its delegate how the client's
/// handshake went, and turning a TCP FIN without TLS `close_notify` into a plain end of input (many clients close
/// that way; the FIN itself still reaches the core).
final class TLSSessionObserver: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let delegate: any TLSClientSessionDelegate
    private var handshakeDone = false

    init(delegate: any TLSClientSessionDelegate) {
        self.delegate = delegate
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted(let negotiatedProtocol) = event {
            self.handshakeDone = true
            let version = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).tlsVersion
            self.delegate.clientHandshakeCompleted(
                negotiatedProtocol: negotiatedProtocol,
                version: version.flatMap { $0 }.map(Self.describe)
            )
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let tlsError = error as? NIOSSLError, case .uncleanShutdown = tlsError {
            return  // the inputClosed event or channelInactive that follows ends the connection normally
        }
        if !self.handshakeDone, error is NIOSSLError || error is BoringSSLError {
            self.delegate.clientHandshakeFailed(error)
        }
        context.fireErrorCaught(error)
    }

    static func describe(_ version: NIOSSL.TLSVersion) -> String {
        switch version {
        case .tlsv1: return TLSVersion.tls1_0.description
        case .tlsv11: return TLSVersion.tls1_1.description
        case .tlsv12: return TLSVersion.tls1_2.description
        case .tlsv13: return TLSVersion.tls1_3.description
        }
    }
}

@available(*, unavailable)
extension TLSSessionObserver: Sendable {}

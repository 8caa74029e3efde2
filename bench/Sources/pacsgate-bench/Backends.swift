import NIOCore
import NIOPosix
import NIOSSL
import PacsgateDICOM
import PacsgateDemo
import PacsgateHL7

/// The built-in backends, run by `pacsgate-bench serve` in a process of their own (so their descriptors, CPU and
/// memory are not the client's): an echo server, a DICOM SCP (the product's `SimulatedSCP` responder), an MLLP
/// receiver that ACKs every message (the product's frame scanner, MSH parser and ACK builder), and a TLS server
/// that completes handshakes and discards what follows.
enum Backends {
    enum Kind: String, CaseIterable {
        case echo
        case scp
        case mllp
        case tls
        /// The DICOM SCP behind its own TLS: the direct reference of the TLS-terminated association scenario.
        case scpTLS
    }

    /// Binds one backend of `kind` on 127.0.0.1:`port`.
    static func bind(
        _ kind: Kind, port: Int, group: any EventLoopGroup, tls: NIOSSLContext?
    ) async throws -> any Channel {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    switch kind {
                    case .echo:
                        try pipeline.addHandler(EchoHandler())
                    case .scp:
                        try pipeline.addHandler(SCPHandler())
                    case .mllp:
                        try pipeline.addHandler(MLLPAckHandler())
                    case .tls:
                        guard let tls else { throw BenchError("TLS backend without a certificate") }
                        try pipeline.addHandler(NIOSSLServerHandler(context: tls))
                        try pipeline.addHandler(DiscardHandler())
                    case .scpTLS:
                        guard let tls else { throw BenchError("TLS backend without a certificate") }
                        try pipeline.addHandler(NIOSSLServerHandler(context: tls))
                        try pipeline.addHandler(SCPHandler())
                    }
                }
            }
        return try await bootstrap.bind(host: "127.0.0.1", port: port).get()
    }
}

/// Writes back whatever it reads.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension EchoHandler: Sendable {}

/// Reads and drops everything (behind the TLS server handler).
final class DiscardHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension DiscardHandler: Sendable {}

/// A DICOM SCP: the product's pure `SimulatedSCP` responder on a socket.
final class SCPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var scp = SimulatedSCP()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let output = self.scp.receive(self.unwrapInboundIn(data))
        if output.bytes.readableBytes > 0 {
            context.write(self.wrapOutboundOut(output.bytes), promise: nil)
        }
        if output.closeConnection {
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer())).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension SCPHandler: Sendable {}

/// An HL7 receiver: answers every MLLP frame with an AA acknowledgment carrying its MSH-10 in MSA-2.
final class MLLPAckHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var scanner = MLLPFrameScanner()
    private var acknowledged = 0
    private let timestamp = HL7Timestamp(unixSeconds: 1_735_732_800, utcOffsetMinutes: 0)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = self.unwrapInboundIn(data)
        while let event = self.scanner.next(from: &chunk) {
            guard case .frame(let frame) = event, let header = try? MSHParser.parse(frame.payload) else { continue }
            self.acknowledged += 1
            var ack = context.channel.allocator.buffer(capacity: 256)
            HL7AckBuilder.writeAcknowledgment(
                replyingTo: header, code: .applicationAccept, controlID: "ACK\(self.acknowledged)",
                timestamp: self.timestamp, into: &ack)
            context.write(self.wrapOutboundOut(ack), promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension MLLPAckHandler: Sendable {}

/// An error with a message for the operator.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

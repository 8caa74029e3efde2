import PacsgateHL7
public import NIOCore
package import PacsgateCore

/// A simulated Mach7 HL7 listener for `pacsgate demo`: answers every message with an `AA` ACK and keeps the
/// connection open, like a real long-lived HL7 feed, until the sender closes its side.
///
/// It stores nothing: it is a demo stand-in, and its AA is only honest in the sense that the demo has
/// nowhere to lose a message. A payload whose MSH cannot be read gets an `AE`; bytes outside frames are skipped.
public struct SimulatedHL7Node: SimulatedNode {
    /// The node's label (e.g. `HL71`), used in the control IDs of its ACKs (`HL71-1`, `HL71-2`, …).
    public let name: String
    private let clock: @Sendable () -> WallClock.Instant

    /// Creates a node labelled `name`.
    public init(name: String) {
        self.init(name: name, clock: WallClock.now)
    }

    package init(name: String, clock: @escaping @Sendable () -> WallClock.Instant) {
        self.name = name
        self.clock = clock
    }

    /// Adds the node's handler to an accepted connection.
    public func configure(_ channel: any Channel) throws {
        try channel.pipeline.syncOperations.addHandler(
            SimulatedHL7Handler(responder: SimulatedHL7Responder(name: self.name), clock: self.clock)
        )
    }
}

/// The pure half of ``SimulatedHL7Node``: client bytes in, acknowledgments out.
struct SimulatedHL7Responder {
    private let name: String
    private var scanner = MLLPFrameScanner()
    private var answered = 0

    init(name: String) {
        self.name = name
    }

    /// Consumes `chunk` and appends an ACK for every complete message in it to `replies`.
    mutating func receive(_ chunk: inout ByteBuffer, time: WallClock.Instant, replies: inout ByteBuffer) {
        while let event = self.scanner.next(from: &chunk) {
            guard case .frame(let frame) = event else { continue }
            self.answered += 1
            let controlID = "\(self.name)-\(self.answered)"
            let timestamp = HL7NegativeAcknowledger.timestamp(time)
            do {
                let header = try MSHParser.parse(frame.payload)
                HL7AckBuilder.writeAcknowledgment(
                    replyingTo: header,
                    code: HL7AckBuilder.code(for: .accepted, replyingTo: header),
                    controlID: controlID,
                    timestamp: timestamp,
                    into: &replies
                )
            } catch {
                HL7AckBuilder.writeAcknowledgmentOfUnreadableMessage(
                    code: .applicationError,
                    error: .init(code: error.errorCode, diagnostic: error.description),
                    controlID: controlID,
                    timestamp: timestamp,
                    into: &replies
                )
            }
        }
    }
}

/// Channel handler of one connection to a ``SimulatedHL7Node``.
final class SimulatedHL7Handler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var responder: SimulatedHL7Responder
    private let clock: @Sendable () -> WallClock.Instant

    init(responder: SimulatedHL7Responder, clock: @escaping @Sendable () -> WallClock.Instant) {
        self.responder = responder
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = self.unwrapInboundIn(data)
        var replies = context.channel.allocator.buffer(capacity: 0)
        self.responder.receive(&chunk, time: self.clock(), replies: &replies)
        if replies.readableBytes > 0 {
            context.write(self.wrapOutboundOut(replies), promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    /// The sender closed its side (end of a feed, or a health probe done): close ours once the last ACK is out, as a
    /// real receiver does. Without this every finished connection would stay in CLOSE-WAIT, holding a socket and the
    /// gateway's half-closed proxied connection, until the idle timeout.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, case .inputClosed = event else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        let channel = context.channel
        // A zero-length write is a barrier: it completes after every ACK queued before it.
        context.writeAndFlush(self.wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension SimulatedHL7Handler: Sendable {}

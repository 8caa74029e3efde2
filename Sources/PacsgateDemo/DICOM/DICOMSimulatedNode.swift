import PacsgateDICOM
public import NIOCore
import PacsgateCore

/// A simulated Mach7 node for `pacsgate demo`: a ``SimulatedSCP`` on every accepted connection.
///
/// Answers C-ECHO and C-STORE (instances discarded); nodes of a worklist service (label containing `DMWL` or
/// `WORKLIST`, or `servesWorklist`) also accept Modality Worklist FIND and answer it with one canned demo item. The
/// node's label is its Implementation Version Name, so `echoscu -v` shows which node answered.
public struct DICOMSimulatedNode: SimulatedNode {
    /// The responder settings of every connection.
    public let configuration: SimulatedSCP.Configuration
    /// How long to wait for the requestor to close after the association ended (ARTIM in Sta13).
    public let closeTimeout: TimeAmount

    /// Creates a node.
    public init(configuration: SimulatedSCP.Configuration, closeTimeout: TimeAmount = .seconds(10)) {
        self.configuration = configuration
        self.closeTimeout = closeTimeout
    }

    /// The node the demo runs for server `name` of `service`.
    public init(name: String, service: String) {
        var configuration = SimulatedSCP.Configuration()
        configuration.implementationVersionName = String(name.prefix(16))
        let upper = service.uppercased()
        configuration.servesWorklist = upper.contains("DMWL") || upper.contains("WORKLIST")
        self.init(configuration: configuration)
    }

    public func configure(_ channel: any Channel) throws {
        try channel.pipeline.syncOperations.addHandler(
            SimulatedSCPHandler(scp: SimulatedSCP(configuration: self.configuration), closeTimeout: self.closeTimeout)
        )
    }
}

/// Runs a ``SimulatedSCP`` on one connection: writes its answers and, when the association is over, waits for the
/// requestor to close (PS3.8 Sta13), closing itself when the timer expires.
final class SimulatedSCPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case associating
        /// The association is over (RP or A-ABORT sent or received); waiting for the peer's close.
        case awaitingClose(Scheduled<Void>?)
        case closed
    }

    private var scp: SimulatedSCP
    private let closeTimeout: TimeAmount
    private var state = State.associating

    init(scp: SimulatedSCP, closeTimeout: TimeAmount) {
        self.scp = scp
        self.closeTimeout = closeTimeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .associating = self.state else { return }
        let output = self.scp.receive(self.unwrapInboundIn(data))
        if output.bytes.readableBytes > 0 {
            context.writeAndFlush(self.wrapOutboundOut(output.bytes), promise: nil)
        }
        if output.closeConnection {
            let channel = context.channel
            let timer = context.eventLoop.scheduleTask(in: self.closeTimeout) { channel.close(promise: nil) }
            self.state = .awaitingClose(timer)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, case .inputClosed = event else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // The peer closed: close after what is queued (a zero-length write is the barrier; once the peer's FIN is
        // in, NIO would drop queued writes on a plain output close).
        self.closeAfterFlush(context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.closeAfterFlush(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .awaitingClose(let timer) = self.state { timer?.cancel() }
        self.state = .closed
        context.fireChannelInactive()
    }

    private func closeAfterFlush(context: ChannelHandlerContext) {
        switch self.state {
        case .closed: return
        case .awaitingClose(let timer): timer?.cancel()
        case .associating: break
        }
        self.state = .awaitingClose(nil)
        let channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer())).whenComplete { _ in channel.close(promise: nil) }
    }
}

@available(*, unavailable)
extension SimulatedSCPHandler: Sendable {}

public import NIOCore
public import PacsgateCore
import PacsgateDICOM
import PacsgateHL7
import PacsgateTLS

/// A simulated backend server for `pacsgate demo`: sets up the pipeline of each accepted connection.
///
/// The demo's nodes live in this module of their own so that none of them ships inside the protocol libraries the
/// gateway runs (``DICOMSimulatedNode``, ``SimulatedHL7Node``, ``SimulatedHTTPSNode``, ``EchoNode``).
public protocol SimulatedNode: Sendable {
    /// Adds the node's handlers to a freshly accepted channel (called on the channel's event loop).
    func configure(_ channel: any Channel) throws
}

/// The simulated node for a service of the given protocol: a DICOM SCP (a worklist SCP behind `DMWL`), an HL7
/// receiver answering `AA`, an HTTPS page with a self-signed certificate, an echo server for anything else.
public enum SimulatedNodes {
    /// - Parameters:
    ///   - protocolName: the service's `protocol:` (`dicom`, `hl7`, `tls`, `tcp`).
    ///   - name: the node's label (e.g. `DICOM1`), shown in its answers.
    ///   - service: the demo service it stands behind (`DMWL` nodes answer worklist queries).
    ///   - stateDirectory: where it may keep generated files (certificates).
    public static func make(
        protocolName: ProtocolName, name: String, service: String, stateDirectory: String
    ) throws -> any SimulatedNode {
        switch protocolName {
        case .dicom: DICOMSimulatedNode(name: name, service: service)
        case .hl7: SimulatedHL7Node(name: name)
        case .tls: try SimulatedHTTPSNode(name: name, stateDirectory: stateDirectory)
        default: EchoNode()
        }
    }
}

/// A node that echoes what it receives (for protocols without a simulator).
public struct EchoNode: SimulatedNode {
    public init() {}

    public func configure(_ channel: any Channel) throws {
        try channel.pipeline.syncOperations.addHandler(EchoHandler())
    }
}

final class EchoHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            context.close(promise: nil)
        }
    }
}

public import NIOCore

/// Protocol logic for one client connection, plugged into the forwarding core.
///
/// A service with `protocol: dicom`, `hl7` or `tls` gets one inspector per accepted connection from its
/// ``ServiceProtocol``. The core drives it on the connection's event loop:
///
/// 1. **Peek.** Every client byte received so far is offered to ``inspect(_:)`` (nothing is consumed). The
///    inspector answers ``InspectionVerdict/needMore``, ``InspectionVerdict/forward(_:)`` (optionally with a server
///    subset and a persistence key) or ``InspectionVerdict/reject(_:)`` with protocol-correct bytes. The core bounds
///    the phase with the service's peek timeout and a size cap and reports either through ``peekFailed(_:)``.
/// 2. **Forward.** The buffered bytes go to the chosen server unchanged. Afterwards the inspector sees the streams
///    as its ``upstreamHandling`` / ``downstreamHandling`` ask: not at all (plain forwarding), read-only
///    (observe), or — client to server only — as a filter that decides per frame what to forward and may answer the
///    client itself (HL7 validate-then-forward).
/// 3. **End.** ``closing(_:)`` may supply last words (a DICOM A-ABORT) when the gateway ends the connection, and
///    ``finished(_:)`` writes the audit record; the core waits for its future before releasing the connection.
///
/// Inspectors are bound to one event loop and are never shared between connections. Plain `tcp` services have no
/// inspector and pay nothing for this seam.
public protocol ConnectionInspector: AnyObject {
    /// Peek phase: decide on everything the client has sent so far.
    func inspect(_ buffered: ByteBuffer) -> InspectionVerdict

    /// Called once, when the connection becomes active and before any byte is read: add protocol handlers to the
    /// client channel at `position` (in front of the core's handler), e.g. to terminate TLS. The peek phase then sees
    /// what those handlers pass on. Throwing closes the connection.
    func configureClientPipeline(
        _ pipeline: ChannelPipeline.SynchronousOperations, position: ChannelPipeline.SynchronousOperations.Position
    ) throws

    /// The peek phase ended without a verdict: timeout, size cap or the client went away.
    func peekFailed(_ failure: PeekFailure) -> Rejection

    /// No server could take a connection the inspector wanted forwarded (or the service is at `maxconn`).
    func unavailable(_ reason: UnavailableReason) -> Rejection

    /// The TCP connection to `server` is up: add protocol handlers to it at `position` (in front of the core's
    /// handler), e.g. TLS towards the server, and return a future that succeeds once the leg is ready for the peeked
    /// bytes (`nil`: ready now). A failed future counts as a failed connect: the core closes the channel, releases
    /// the server and tries the next one. Until the future completes, the added handlers must keep errors and
    /// inactivity of the channel from reaching the core's handler.
    func prepareServerChannel(
        _ channel: any Channel, server: ServerIdentity, position: ChannelPipeline.SynchronousOperations.Position
    ) -> EventLoopFuture<Void>?

    /// The backend connection is up and the peeked bytes have been written to it.
    func forwarding(to server: ServerIdentity)

    /// Whether ``configureClientPipeline(_:position:)`` or ``prepareServerChannel(_:server:position:)`` add handlers
    /// that can hold outbound bytes (TLS does until it is flushed): the core then ends a leg's output only behind a
    /// write barrier that has passed through them. Without such handlers a leg with nothing queued on its socket is
    /// closed directly.
    var addsChannelHandlers: Bool { get }

    /// How client-to-server bytes are handled after the verdict.
    var upstreamHandling: StreamHandling { get }
    /// How server-to-client bytes are handled after the verdict (`.filter` is treated as `.observe`).
    var downstreamHandling: StreamHandling { get }

    /// A client-to-server chunk, read-only (`upstreamHandling == .observe`); the core forwards it afterwards.
    func upstream(_ data: ByteBuffer)

    /// A client-to-server chunk (`upstreamHandling == .filter`): the inspector forwards what it wants through
    /// `sink` and may answer the client itself.
    func filterUpstream(_ data: ByteBuffer, sink: UpstreamSink)

    /// A server-to-client chunk, read-only.
    func downstream(_ data: ByteBuffer)

    /// One side sent FIN while forwarding: pass the half-close on (plain TCP), or end the connection now with
    /// ``closing(_:)``'s last words (`.clientFailed` / `.serverFailed`) — for protocols without half-close, such as
    /// DICOM in the middle of an association.
    func halfClosed(by side: ConnectionSide) -> HalfCloseHandling

    /// The gateway is about to end a forwarded connection for `reason`; bytes to send first to either side.
    func closing(_ reason: CloseReason) -> ClosingWords

    /// The connection is over. The returned future (if any) must complete before the connection is released; use it
    /// to make the audit record durable.
    func finished(_ summary: ConnectionSummary) -> EventLoopFuture<Void>?

    /// The client leg's TLS session when the gateway terminated it (version, cipher, client certificate); `nil`
    /// without termination or before the handshake completed. The one place the session's facts are kept for what
    /// reports them beyond the inspector's own records (PROXY protocol v2's PP2_TYPE_SSL).
    var secureTransport: SecureTransportFacts? { get }

    /// Called by a ``SecureTransportTermination`` wrapping this inspector (never by the core), once, when the
    /// client's TLS handshake has completed and before any decrypted byte is offered to ``inspect(_:)``.
    func clientTransportSecured(_ facts: SecureTransportFacts)

    /// What this inspector adds to a PROXY protocol v2 header towards a server with `send_proxy: v2`, besides the
    /// addresses and `PP2_TYPE_SSL` (which the core writes from ``secureTransport``): the host name the client asked
    /// for (`PP2_TYPE_AUTHORITY`) and the negotiated application protocol (`PP2_TYPE_ALPN`), where it knows them.
    /// Read once, when the server leg has connected.
    var proxyHeaderTLVs: [ProxyTLV] { get }
}

extension ConnectionInspector {
    public func configureClientPipeline(
        _ pipeline: ChannelPipeline.SynchronousOperations, position: ChannelPipeline.SynchronousOperations.Position
    ) throws {}
    public func prepareServerChannel(
        _ channel: any Channel, server: ServerIdentity, position: ChannelPipeline.SynchronousOperations.Position
    ) -> EventLoopFuture<Void>? { nil }
    public func forwarding(to server: ServerIdentity) {}
    public var addsChannelHandlers: Bool { false }
    public var upstreamHandling: StreamHandling { .passthrough }
    public var downstreamHandling: StreamHandling { .passthrough }
    public func upstream(_ data: ByteBuffer) {}
    public func filterUpstream(_ data: ByteBuffer, sink: UpstreamSink) { sink.forward(data) }
    public func downstream(_ data: ByteBuffer) {}
    public func halfClosed(by side: ConnectionSide) -> HalfCloseHandling { .propagate }
    public func closing(_ reason: CloseReason) -> ClosingWords { ClosingWords() }
    public func finished(_ summary: ConnectionSummary) -> EventLoopFuture<Void>? { nil }
    public var secureTransport: SecureTransportFacts? { nil }
    public func clientTransportSecured(_ facts: SecureTransportFacts) {}
    public var proxyHeaderTLVs: [ProxyTLV] { [] }
}

/// What an inspector decided about the bytes seen so far.
public enum InspectionVerdict {
    /// Not enough bytes yet.
    case needMore
    /// Forward the connection.
    case forward(Routing)
    /// Answer and close without contacting a server.
    case reject(Rejection)
}

/// Where a forwarded connection may go.
public struct Routing: Sendable {
    /// Restrict the choice to these server labels (`nil`: every server of the service).
    public var servers: Set<String>?
    /// Persistence key chosen by the protocol (e.g. the calling AE title); `nil` uses the service's own
    /// persistence (source IP or none).
    public var stickKey: StickKey?
    /// Words for the connection log line (e.g. "route MACH7-A").
    public var note: String?

    public init(servers: Set<String>? = nil, stickKey: StickKey? = nil, note: String? = nil) {
        self.servers = servers
        self.stickKey = stickKey
        self.note = note
    }

    /// Any server, service persistence.
    public static var any: Routing { Routing() }
}

/// An answer-and-close decision.
public struct Rejection {
    /// Bytes to send to the client before closing (a DICOM A-ASSOCIATE-RJ, an HL7 NAK, a TLS alert).
    public var answer: ByteBuffer?
    /// Why, for the connection log.
    public var reason: String
    /// After answering, wait (up to the service's close linger) for the client to close first, as DICOM prescribes
    /// after A-ASSOCIATE-RJ and A-ABORT; otherwise close at once after the answer is written.
    public var waitForClientClose: Bool

    public init(answer: ByteBuffer? = nil, reason: String, waitForClientClose: Bool = false) {
        self.answer = answer
        self.reason = reason
        self.waitForClientClose = waitForClientClose
    }
}

/// Why the peek phase ended without a verdict.
public enum PeekFailure: Sendable, Equatable {
    case timeout
    case tooLarge(Int)
    case clientClosed
}

/// Why no server took the connection.
public enum UnavailableReason: Sendable, Equatable, CustomStringConvertible {
    /// The service is at its `maxconn`.
    case maxConnections
    /// No server is up and accepting new connections (all down, drained, halted or weight 0).
    case noServer
    /// Every candidate server refused or timed out the connect.
    case connectFailed(String)
    /// The client IP is over its concurrent-connection limit.
    case perClientLimit
    /// The audit log cannot be written and `audit.on_failure` is `refuse`.
    case auditLogFailing

    public var description: String {
        switch self {
        case .maxConnections: return "service at maxconn"
        case .noServer: return "no server available"
        case .connectFailed(let why): return "connect failed: \(why)"
        case .perClientLimit: return "client over its connection limit"
        case .auditLogFailing: return "the audit log cannot be written (audit.on_failure: refuse)"
        }
    }
}

/// How one direction's bytes reach the inspector after the verdict.
public enum StreamHandling: Sendable {
    /// Not at all.
    case passthrough
    /// Read-only, then forwarded by the core.
    case observe
    /// Client to server only: the inspector forwards what it wants through the ``UpstreamSink``.
    case filter
}

/// One leg of a proxied connection.
public enum ConnectionSide: Sendable, Equatable {
    case client
    case server
}

/// What to do when one side of a forwarded connection sends FIN (``ConnectionInspector/halfClosed(by:)``).
public enum HalfCloseHandling: Sendable, Equatable {
    /// Pass the half-close on to the other side.
    case propagate
    /// End the connection as if that side had failed, with the inspector's last words to the other side.
    case terminate
}

/// Why the gateway ends a forwarded connection.
public enum CloseReason: Sendable, Equatable, CustomStringConvertible {
    case idleTimeout
    case serverFailed(String)
    case clientFailed(String)
    case shutdown
    case inspectorRequested(String)

    public var description: String {
        switch self {
        case .idleTimeout: return "idle timeout"
        case .serverFailed(let why): return "server failed: \(why)"
        case .clientFailed(let why): return "client failed: \(why)"
        case .shutdown: return "gateway shutdown"
        case .inspectorRequested(let why): return why
        }
    }
}

/// Bytes to send before the gateway closes a connection.
public struct ClosingWords {
    public var toClient: ByteBuffer?
    public var toServer: ByteBuffer?

    public init(toClient: ByteBuffer? = nil, toServer: ByteBuffer? = nil) {
        self.toClient = toClient
        self.toServer = toServer
    }
}

/// The server a connection was forwarded to.
public struct ServerIdentity: Sendable, Equatable, CustomStringConvertible {
    public var label: String
    public var endpoint: Endpoint

    public init(label: String, endpoint: Endpoint) {
        self.label = label
        self.endpoint = endpoint
    }

    /// `LABEL@address:port`, the form used in log metadata (audit records write an object: `JSONLine.field(_:_:)`).
    public var description: String { "\(label)@\(endpoint)" }
}

/// How a connection went, handed to ``ConnectionInspector/finished(_:)`` and written to the connection log.
public struct ConnectionSummary: Sendable {
    public var service: String
    public var client: String
    public var server: ServerIdentity?
    public var bytesUp: Int
    public var bytesDown: Int
    public var duration: Duration
    /// Why it ended, in words ("client closed", "idle timeout", "rejected: …").
    public var endReason: String
    /// Whether the gateway itself refused the connection (rejection, unavailable).
    public var refused: Bool

    public init(
        service: String, client: String, server: ServerIdentity?, bytesUp: Int, bytesDown: Int, duration: Duration,
        endReason: String, refused: Bool
    ) {
        self.service = service
        self.client = client
        self.server = server
        self.bytesUp = bytesUp
        self.bytesDown = bytesDown
        self.duration = duration
        self.endReason = endReason
        self.refused = refused
    }
}

/// Where a filtering inspector sends what it decided (client-to-server direction).
///
/// Valid only during the ``ConnectionInspector/filterUpstream(_:sink:)`` call it was passed to.
public struct UpstreamSink {
    let connection: any UpstreamSinkTarget

    package init(_ connection: any UpstreamSinkTarget) {
        self.connection = connection
    }

    /// Forward bytes to the server (flushed at the end of the read).
    public func forward(_ data: ByteBuffer) { self.connection.sinkForward(data) }

    /// Answer the client directly (e.g. an HL7 NAK); nothing of it reaches the server.
    public func reply(_ data: ByteBuffer) { self.connection.sinkReply(data) }

    /// End the connection after anything replied so far has been written.
    public func close(reason: String) { self.connection.sinkClose(reason: reason) }
}

/// What an ``UpstreamSink`` writes to: the connection of either engine.
package protocol UpstreamSinkTarget: AnyObject {
    func sinkForward(_ data: ByteBuffer)
    func sinkReply(_ data: ByteBuffer)
    func sinkClose(reason: String)
}

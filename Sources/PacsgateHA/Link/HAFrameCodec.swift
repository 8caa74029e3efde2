import NIOConcurrencyHelpers
public import NIOCore

/// Whether a connection's session is authenticated, which decides how large a frame it may announce (see
/// ``HAFrame/parse(_:authenticated:)``). The link sets it once the handshake is through; the decoder reads it.
public final class HAFrameLimit: Sendable {
    private let authenticated: NIOLockedValueBox<Bool>

    /// - Parameter authenticated: `true` for a decoder that trusts its peer from the start (tests, tools).
    public init(authenticated: Bool = false) {
        self.authenticated = NIOLockedValueBox(authenticated)
    }

    public var isAuthenticated: Bool { self.authenticated.withLockedValue { $0 } }

    /// The session is up: session frames may be large from now on.
    public func sessionEstablished() {
        self.authenticated.withLockedValue { $0 = true }
    }
}

/// Cuts the HA link's byte stream into frames (see ``HAFrame/parse(_:authenticated:)``); a malformed stream fails
/// the channel with the ``HAWireError``.
public struct HAFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = HAFrame
    private let limit: HAFrameLimit

    /// - Parameter limit: until it says the session is up, only small frames are accepted.
    public init(limit: HAFrameLimit = HAFrameLimit()) {
        self.limit = limit
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> HAFrame? {
        try HAFrame.parse(&buffer, authenticated: self.limit.isAuthenticated)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> HAFrame? {
        try HAFrame.parse(&buffer, authenticated: self.limit.isAuthenticated)
    }
}

/// Writes frames.
public struct HAFrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = HAFrame

    public init() {}

    public func encode(data: HAFrame, out: inout ByteBuffer) throws {
        data.write(to: &out)
    }
}

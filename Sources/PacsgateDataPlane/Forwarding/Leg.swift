#if os(Linux)
import CPacsgateDataPlane

/// One socket of a proxied connection and what the reactor knows about it.
///
/// Readiness is remembered rather than polled: an edge-triggered descriptor reports readable or writable once, and
/// the flag stays set until a read or write finds the socket empty or full.
struct Leg {
    var descriptor: Int32 = -1
    /// The kernel may have bytes (or end of file) for us.
    var readable = false
    /// The kernel may take more bytes.
    var writable = false
    /// The peer sent FIN (`EPOLLRDHUP`): once a read comes back short, nothing follows but end of file.
    var peerShut = false
    /// `EPOLLHUP` or `EPOLLERR`: the socket is reset or closed both ways; the next read or write says why.
    var hungUp = false
    /// End of file read, or the leg failed: no more reads.
    var inputDone = false
    /// Our FIN is sent.
    var outputShut = false
    /// What to do once every queued byte is written.
    var afterFlush = AfterFlush.nothing
    /// Bytes waiting for this socket to take them.
    var output = OutputQueue()
    /// Bytes spliced towards this socket and still in the pipe.
    var pipe: Pipe?

    enum AfterFlush {
        case nothing
        /// Send FIN, keep reading.
        case shutDownOutput
        /// Close the socket.
        case close
    }

    var isOpen: Bool { self.descriptor >= 0 }

    /// Bytes held for this socket in the gateway (backpressure checks).
    var heldBytes: Int { self.output.bytes + (self.pipe?.count ?? 0) }

    /// Nothing is waiting to be written to this socket.
    var isDrained: Bool { self.output.isEmpty && (self.pipe?.count ?? 0) == 0 }

    /// Records an epoll event.
    mutating func note(_ events: UInt32) {
        let hangUp = EPOLLHUP.rawValue | EPOLLERR.rawValue
        if events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | hangUp) != 0 { self.readable = true }
        if events & (EPOLLOUT.rawValue | hangUp) != 0 { self.writable = true }
        if events & EPOLLRDHUP.rawValue != 0 { self.peerShut = true }
        if events & hangUp != 0 { self.hungUp = true }
    }

    /// Back to a closed leg (the slot is reused).
    mutating func reset() {
        self = Leg()
    }
}
#endif

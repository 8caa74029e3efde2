import NIOCore

/// Ends a channel's output only after every byte queued on it has been written.
///
/// NIO's `close(mode: .output)` waits for queued writes — unless the peer's FIN was already seen, in which case it
/// escalates to a full close and drops them. A zero-length write completes only after the writes queued before it,
/// so it serves as the barrier in every case.
enum OutputCloser {
    enum Then {
        /// Send FIN and keep reading (the peer may still talk, or we wait for it to close).
        case halfClose
        /// Close the channel.
        case fullClose
    }

    /// Ends `channel`'s output once everything written to it is out. `direct`: no handler but the core's sits on the
    /// channel (nothing can hold bytes above the socket), so a channel with nothing queued on its socket is closed
    /// at once, without the barrier's promise and callback (the common case: the last bytes went out with their read).
    static func finish(_ channel: any Channel, then: Then, direct: Bool) {
        if direct, channel.eventLoop.inEventLoop, (try? channel.syncOptions?.getOption(.bufferedWritableBytes)) == 0 {
            switch then {
            case .halfClose: channel.close(mode: .output, promise: nil)
            case .fullClose: channel.close(promise: nil)
            }
            return
        }
        channel.writeAndFlush(ByteBuffer()).whenComplete { _ in
            switch then {
            case .halfClose: channel.close(mode: .output, promise: nil)
            case .fullClose: channel.close(promise: nil)
            }
        }
    }
}

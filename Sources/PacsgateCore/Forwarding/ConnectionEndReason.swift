/// Why a proxied connection ended, as ``ConnectionStateMachine`` records it.
///
/// Its ``description`` is the `end_reason` of the connection log line and the summary handed to the inspector (the
/// audit records' end reason); each case keeps the words those lines have always carried.
package enum ConnectionEndReason: Equatable, CustomStringConvertible {
    /// Both legs closed without a more specific cause ("closed").
    case closed
    /// Each side sent its FIN: a clean end in both directions ("closed by both sides").
    case closedByBothSides
    /// One side sent FIN and the inspector ends the connection on that ("client closed its side").
    case halfClosed(by: ConnectionSide)
    /// A leg closed without a FIN while forwarding ("server went away").
    case wentAway(ConnectionSide)
    /// A read or write on a leg failed ("client error: Connection reset by peer").
    case failed(ConnectionSide, String)
    /// The gateway ended it: idle timeout, shutdown, a removed service, the inspector's request (in the words of
    /// ``CloseReason``).
    case terminated(CloseReason)
    /// The gateway answered the client instead of forwarding: the inspector's rejection or peek failure, in its words.
    case rejected(String)
    /// No server took the connection, or a connection limit was reached ("refused: no server available").
    case unavailable(UnavailableReason)
    /// The protocol's handlers could not be added to the client channel.
    case setupFailed(String)
    /// The native engine could not register the client's socket with its reactor.
    case notWatched(String)
    /// The client's PROXY header was refused (`accept_proxy`), in the parser's words.
    case proxyHeaderRefused(String)
    /// Ending, a peer did not read the last bytes within the idle timeout: the connection was cut.
    indirect case lastBytesUnread(after: ConnectionEndReason)

    package var description: String {
        switch self {
        case .closed: return "closed"
        case .closedByBothSides: return "closed by both sides"
        case .halfClosed(let side): return "\(Self.name(side)) closed its side"
        case .wentAway(let side): return "\(Self.name(side)) went away"
        case .failed(let side, let error): return "\(Self.name(side)) error: \(error)"
        case .terminated(let reason): return reason.description
        case .rejected(let reason): return reason
        case .unavailable(let reason): return "refused: \(reason)"
        case .setupFailed(let error): return "cannot set up the protocol handlers: \(error)"
        case .notWatched(let error): return "cannot watch the client socket: \(error)"
        case .proxyHeaderRefused(let reason): return "refused: \(reason)"
        case .lastBytesUnread(let reason): return "\(reason); last bytes not read within the idle timeout"
        }
    }

    private static func name(_ side: ConnectionSide) -> String {
        switch side {
        case .client: return "client"
        case .server: return "server"
        }
    }
}

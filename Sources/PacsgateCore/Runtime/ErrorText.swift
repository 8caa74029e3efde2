import NIOCore
import NIOPosix

/// A short operator-readable form of a connect or I/O error, for log lines, audit records and health check results:
/// "connection refused", "the connection closed", not `IOError(errnoCode: 111, …)` or `ChannelError.eof`.
///
/// The one place these words are chosen; a module with errors of its own (TLS) says those and hands the rest here.
public enum ErrorText {
    /// The words for `error`; the error's own description when it is none of the known kinds.
    public static func describe(_ error: any Error) -> String {
        if let transport = error as? ProbeTransportError { return transport.description }
        if let io = error as? IOError {
            switch io.errnoCode {
            case 111: return "connection refused"
            case 104: return "connection reset"
            case 113: return "no route to host"
            case 110: return "connect timed out"
            case 99: return "no local address or port left to connect from"
            default: return "\(io)"
            }
        }
        if let channel = error as? ChannelError {
            switch channel {
            case .connectTimeout: return "connect timed out"
            case .eof, .ioOnClosedChannel, .alreadyClosed: return "the connection closed"
            default: return "\(channel)"
            }
        }
        if let connectError = error as? NIOConnectionError {
            if let first = connectError.connectionErrors.first { return Self.describe(first.error) }
            return "cannot connect: \(connectError)"
        }
        return "\(error)"
    }
}

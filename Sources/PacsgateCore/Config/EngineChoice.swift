/// Which data plane carries a service's connections, as configured (`engine:` at the top level or per service).
public enum EngineChoice: String, Sendable, CaseIterable {
    /// The native engine where it can run the service (Linux, no TLS termination), NIO otherwise.
    case auto
    /// pacsgate's own reactors (epoll); Linux only, and not for services that terminate TLS.
    case native
    /// SwiftNIO's channels.
    case nio

    /// The engine a service runs on.
    ///
    /// - Parameters:
    ///   - nativeAvailable: whether this gateway has the native engine (Linux builds).
    ///   - addsChannelHandlers: whether the service's inspectors add NIO channel handlers (TLS termination), which
    ///     only the NIO engine can run.
    /// - Returns: the engine, or `nil` when the choice cannot be honoured (`native` where it cannot run).
    public func resolve(nativeAvailable: Bool, addsChannelHandlers: Bool) -> Engine? {
        switch self {
        case .nio: return .nio
        case .native: return nativeAvailable && !addsChannelHandlers ? .native : nil
        case .auto: return nativeAvailable && !addsChannelHandlers ? .native : .nio
        }
    }
}

/// A data plane a service runs on: the overview and `/api/v1/overview` say which.
public enum Engine: String, Sendable, Equatable {
    case native
    case nio
}

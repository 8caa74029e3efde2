#if os(Linux)
import CPacsgateDataPlane
import Glibc
import NIOCore
import NIOPosix
import PacsgateCore

/// Socket options set by the data plane, as (level, name, value).
enum SocketOption {
    /// TCP_NODELAY and keepalive with the gateway's timing (``KeepaliveTuning``): both legs of every connection.
    static let noDelayAndKeepalive: [(level: Int32, name: Int32, value: Int32)] = [
        (Int32(IPPROTO_TCP), TCP_NODELAY, 1),
        (SOL_SOCKET, SO_KEEPALIVE, 1),
        (Int32(IPPROTO_TCP), TCP_KEEPIDLE, Int32(KeepaliveTuning.idleSeconds)),
        (Int32(IPPROTO_TCP), TCP_KEEPINTVL, Int32(KeepaliveTuning.intervalSeconds)),
        (Int32(IPPROTO_TCP), TCP_KEEPCNT, Int32(KeepaliveTuning.probes)),
    ]
}

/// The server leg's socket: the options the NIO engine sets on it, then a non-blocking connect.
///
/// The PROXY protocol header (`send_proxy`) is queued before the client's first bytes, which ``NativeConnection``
/// writes only once connected.
enum BackendSocket {
    /// TCP_NODELAY (latency of small PDUs and ACKs), and keepalive so a vanished server is noticed within about two
    /// minutes: five `setsockopt`, as on NIO's server leg (Linux copies none of them from anything).
    static let options = SocketOption.noDelayAndKeepalive

    /// With a `source:` address: IP_FREEBIND (an HA unit binds the VIP before it holds it) and
    /// IP_BIND_ADDRESS_NO_PORT (the port is chosen at connect time for the whole 4-tuple, as HAProxy does), as on
    /// the NIO engine's server leg.
    static let sourceOptions: [(level: Int32, name: Int32, value: Int32)] = [
        (Int32(IPPROTO_IP), IP_FREEBIND, 1),
        (Int32(IPPROTO_IP), SourceBinding.bindAddressNoPortOption, 1),
    ]

    /// A socket connecting to `address` from `source` (or the kernel's choice), or connected already, or why none
    /// could be opened. A `transparent` source (the client's own address and port) is bound with IP_TRANSPARENT
    /// (IPV6_TRANSPARENT) instead of the `source:` options.
    static func open(
        to address: PeerAddress, from source: PeerAddress? = nil, transparent: Bool = false
    ) -> Result<(Int32, ConnectOutcome), Errno> {
        let descriptor: Int32
        switch SystemCall.tcpSocket(family: address.family) {
        case .success(let opened): descriptor = opened
        case .failure(let error): return .failure(error)
        }
        var sourceOptions: [(level: Int32, name: Int32, value: Int32)] = []
        if let source {
            if transparent {
                let option = SourceBinding.transparentOption(for: source.socketAddress)
                sourceOptions = [(option.level, option.name, 1)]
            } else {
                sourceOptions = Self.sourceOptions
            }
        }
        for option in Self.options + sourceOptions {
            if let error = SystemCall.setOption(descriptor, level: option.level, name: option.name, value: option.value) {
                SystemCall.close(descriptor)
                return .failure(error)
            }
        }
        if let source, let error = SystemCall.bind(descriptor, to: source) {
            SystemCall.close(descriptor)
            return .failure(error)
        }
        return .success((descriptor, SystemCall.connect(descriptor, to: address)))
    }
}

/// A service's listening sockets: one per reactor, all on the same address with SO_REUSEPORT, so the kernel spreads
/// new connections over the reactors and no accept is handed from one thread to another.
enum ListenSocket {
    /// The accepted sockets inherit these from the listener on Linux (TCP_NODELAY and keepalive), so the client leg
    /// needs no `setsockopt` of its own.
    static let inherited = SocketOption.noDelayAndKeepalive

    /// SO_REUSEADDR as NIO's listener; IP_FREEBIND so a unit of an HA pair can bind a virtual IP it does not hold
    /// yet (keepalived moves it later).
    static let binding: [(level: Int32, name: Int32, value: Int32)] = [
        (SOL_SOCKET, SO_REUSEADDR, 1),
        (Int32(IPPROTO_IP), IP_FREEBIND, 1),
    ]

    static let backlog: Int32 = 1024

    /// Fails with EADDRINUSE when anything — another process's SO_REUSEPORT group included — listens on `address`.
    ///
    /// SO_REUSEPORT would otherwise let a second gateway (or anything of the same user) join this one's port
    /// silently instead of failing as a plain bind does. The probe binds without SO_REUSEPORT and does not listen.
    static func probe(_ address: PeerAddress) throws {
        let descriptor = try Self.socket(address, reusePort: false)
        defer { SystemCall.close(descriptor) }
        if let error = SystemCall.bind(descriptor, to: address) {
            throw IOError(errnoCode: error.code, reason: "bind \(address.logDescription)")
        }
    }

    /// A listening socket on `address`, in the SO_REUSEPORT group of the others on it.
    static func open(_ address: PeerAddress) throws -> Int32 {
        let descriptor = try Self.socket(address, reusePort: true)
        for option in Self.inherited {
            if let error = SystemCall.setOption(descriptor, level: option.level, name: option.name, value: option.value) {
                SystemCall.close(descriptor)
                throw IOError(errnoCode: error.code, reason: "setsockopt on the listener")
            }
        }
        if let error = SystemCall.bind(descriptor, to: address) {
            SystemCall.close(descriptor)
            throw IOError(errnoCode: error.code, reason: "bind \(address.logDescription)")
        }
        if let error = SystemCall.listen(descriptor, backlog: Self.backlog) {
            SystemCall.close(descriptor)
            throw IOError(errnoCode: error.code, reason: "listen \(address.logDescription)")
        }
        return descriptor
    }

    private static func socket(_ address: PeerAddress, reusePort: Bool) throws -> Int32 {
        let descriptor: Int32
        switch SystemCall.tcpSocket(family: address.family) {
        case .success(let opened): descriptor = opened
        case .failure(let error): throw IOError(errnoCode: error.code, reason: "socket")
        }
        var options = Self.binding
        if reusePort { options.append((SOL_SOCKET, SO_REUSEPORT, 1)) }
        for option in options {
            if let error = SystemCall.setOption(descriptor, level: option.level, name: option.name, value: option.value) {
                SystemCall.close(descriptor)
                throw IOError(errnoCode: error.code, reason: "setsockopt on the listener")
            }
        }
        return descriptor
    }
}

/// Resolves server host names with the system resolver, which blocks, on a thread of its own.
final class HostResolver: Sendable {
    static let shared = HostResolver()

    private let pool: NIOThreadPool

    private init() {
        self.pool = NIOThreadPool(numberOfThreads: 1)
        self.pool.start()
    }

    /// Calls `completion` (on the resolver's thread) with the first address of `host`, or `nil`.
    func resolve(host: String, port: Int, _ completion: @escaping @Sendable (PeerAddress?) -> Void) {
        self.pool.submit { state in
            guard state == .active, let address = try? SocketAddress.makeAddressResolvingHost(host, port: port) else {
                completion(nil)
                return
            }
            completion(PeerAddress(address))
        }
    }
}
#endif

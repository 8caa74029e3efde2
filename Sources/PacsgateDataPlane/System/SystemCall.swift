#if os(Linux)
import CPacsgateDataPlane
import Glibc
import NIOCore
import PacsgateCore

/// An `errno` value, kept as the number and described with `strerror` only when someone reads it.
struct Errno: Error, Equatable, CustomStringConvertible {
    let code: Int32

    static var current: Errno { Errno(code: errno) }

    var description: String { String(cString: strerror(self.code)) }

    /// The operator's words for it, as the NIO engine logs the same failure (`connection reset`, `connection
    /// refused`, …).
    var operatorText: String {
        switch self.code {
        case ECONNREFUSED: return "connection refused"
        case ECONNRESET: return "connection reset"
        case EHOSTUNREACH: return "no route to host"
        case ETIMEDOUT: return "connect timed out"
        default: return self.description
        }
    }
}

/// What a non-blocking read, write or splice did. The data path switches over it; it never throws.
enum IOOutcome: Equatable {
    /// This many bytes moved (more than zero).
    case done(Int)
    /// Nothing now (`EAGAIN`): wait for the descriptor's next readiness edge.
    case wouldBlock
    /// The peer ended its side: a read returned 0.
    case closed
    /// The call failed.
    case failed(Errno)
}

/// What a non-blocking `connect` did.
enum ConnectOutcome: Equatable {
    case connected
    case inProgress
    case failed(Errno)
}

/// The system calls of the native data plane, each returning a typed result. Every function here is a thin wrapper
/// that retries `EINTR` and maps the return value; none keeps state.
enum SystemCall {
    // MARK: data

    /// `read(2)` into `buffer`.
    static func read(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer) -> IOOutcome {
        Self.transfer(whenZero: buffer.count == 0 ? .done(0) : .closed) {
            // SAFETY: `buffer` is valid writable memory of `buffer.count` bytes for the duration of the call (the
            // caller's closure scope); the kernel writes at most that many.
            Glibc.read(descriptor, buffer.baseAddress, buffer.count)
        }
    }

    /// `writev(2)` of up to `count` buffers starting at `vectors`.
    static func writev(_ descriptor: Int32, _ vectors: UnsafePointer<iovec>, count: Int) -> IOOutcome {
        Self.transfer(whenZero: .wouldBlock) {
            // SAFETY: `vectors` points at `count` initialised iovecs whose memory the caller keeps alive and
            // unchanged for the duration of the call; the kernel only reads it.
            Glibc.writev(descriptor, vectors, Int32(count))
        }
    }

    /// `write(2)` of `buffer`.
    static func write(_ descriptor: Int32, from buffer: UnsafeRawBufferPointer) -> IOOutcome {
        Self.transfer(whenZero: buffer.count == 0 ? .done(0) : .wouldBlock) {
            // SAFETY: `buffer` is valid readable memory of `buffer.count` bytes for the duration of the call.
            Glibc.write(descriptor, buffer.baseAddress, buffer.count)
        }
    }

    /// `splice(2)` of up to `count` bytes, non-blocking, moving pages rather than copying where the kernel can.
    /// One end must be a pipe. `.closed` means the socket end reached end of file.
    static func splice(from source: Int32, to destination: Int32, count: Int) -> IOOutcome {
        Self.transfer(whenZero: .closed) { pacsgate_splice(source, destination, count) }
    }

    /// Runs a transfer call until it is not interrupted (`EINTR`) and maps what it returned: a positive count is
    /// `.done`, zero is `whenZero` (end of file or nothing moved, depending on the call), `EAGAIN` is `.wouldBlock`.
    @inline(__always)
    private static func transfer(whenZero: IOOutcome, _ call: () -> Int) -> IOOutcome {
        while true {
            let result = call()
            if result > 0 { return .done(result) }
            if result == 0 { return whenZero }
            let error = errno
            if error == EINTR { continue }
            return error == EAGAIN || error == EWOULDBLOCK ? .wouldBlock : .failed(Errno(code: error))
        }
    }

    // MARK: sockets

    /// `accept4(2)`: a non-blocking, close-on-exec descriptor and the client's address, or why not.
    static func accept(_ listener: Int32) -> Result<(Int32, PeerAddress), Errno> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        while true {
            // SAFETY: `storage` is a sockaddr_storage, large enough for any address the kernel returns, and
            // `length` tells the kernel its size; both live on this stack frame for the call.
            let descriptor = withUnsafeMutablePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    pacsgate_accept4(listener, $0, &length, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue))
                }
            }
            if descriptor >= 0 { return .success((descriptor, PeerAddress(storage))) }
            let error = errno
            if error == EINTR { continue }
            return .failure(Errno(code: error))
        }
    }

    /// A non-blocking, close-on-exec TCP socket of `family` (`AF_INET`, `AF_INET6`).
    static func tcpSocket(family: Int32) -> Result<Int32, Errno> {
        let descriptor = Glibc.socket(family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        return descriptor >= 0 ? .success(descriptor) : .failure(.current)
    }

    /// `setsockopt(2)` with an integer value.
    static func setOption(_ descriptor: Int32, level: Int32, name: Int32, value: Int32) -> Errno? {
        var value = value
        // SAFETY: `value` is an Int32 on this stack frame and the length passed is its size.
        let result = Glibc.setsockopt(descriptor, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        return result == 0 ? nil : .current
    }

    /// The pending error of a socket (`SO_ERROR`), which also clears it; `nil` when there is none.
    static func pendingError(_ descriptor: Int32) -> Errno? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        // SAFETY: `value` is an Int32 on this stack frame and `length` its size, as getsockopt requires.
        guard Glibc.getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &value, &length) == 0 else { return .current }
        return value == 0 ? nil : Errno(code: value)
    }

    /// A non-blocking `connect(2)`.
    static func connect(_ descriptor: Int32, to address: PeerAddress) -> ConnectOutcome {
        let result = address.withSockAddr { Glibc.connect(descriptor, $0, $1) }
        if result == 0 { return .connected }
        let error = errno
        return error == EINPROGRESS || error == EINTR ? .inProgress : .failed(Errno(code: error))
    }

    /// `bind(2)`.
    static func bind(_ descriptor: Int32, to address: PeerAddress) -> Errno? {
        address.withSockAddr { Glibc.bind(descriptor, $0, $1) } == 0 ? nil : .current
    }

    /// `listen(2)`.
    static func listen(_ descriptor: Int32, backlog: Int32) -> Errno? {
        Glibc.listen(descriptor, backlog) == 0 ? nil : .current
    }

    /// The address a socket is bound to.
    static func localAddress(_ descriptor: Int32) -> PeerAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        // SAFETY: as in `accept`: the storage is large enough and its size is passed.
        let result = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.getsockname(descriptor, $0, &length) }
        }
        return result == 0 ? PeerAddress(storage) : nil
    }

    /// Sends FIN: no more bytes from us on this socket.
    static func shutdownOutput(_ descriptor: Int32) -> Errno? {
        Glibc.shutdown(descriptor, Int32(SHUT_WR)) == 0 ? nil : .current
    }

    /// `close(2)`. Linux releases the descriptor even when close reports an error, so there is nothing to retry.
    static func close(_ descriptor: Int32) {
        _ = Glibc.close(descriptor)
    }

    /// A descriptor on `/dev/null`, held in reserve so that one can be freed when the process runs out.
    static func openSpare() -> Int32 {
        Glibc.open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    // MARK: epoll, eventfd, pipes

    /// `epoll_create1(EPOLL_CLOEXEC)`.
    static func epollCreate() -> Result<Int32, Errno> {
        let descriptor = epoll_create1(Int32(EPOLL_CLOEXEC))
        return descriptor >= 0 ? .success(descriptor) : .failure(.current)
    }

    /// Adds `descriptor` to an epoll set with `events` and `data` (returned with each of its events).
    static func epollAdd(_ epoll: Int32, _ descriptor: Int32, events: UInt32, data: UInt64) -> Errno? {
        var event = epoll_event()
        event.events = events
        event.data.u64 = data
        return epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event) == 0 ? nil : .current
    }

    /// Waits up to `timeout` milliseconds (-1: no limit) for events; returns how many were written to `events`.
    static func epollWait(_ epoll: Int32, _ events: UnsafeMutableBufferPointer<epoll_event>, timeout: Int32) -> Int {
        // SAFETY: `events` is a buffer of `events.count` epoll_event the caller owns; the kernel writes at most that
        // many entries.
        let count = epoll_wait(epoll, events.baseAddress, Int32(events.count), timeout)
        return count > 0 ? Int(count) : 0
    }

    /// A non-blocking, close-on-exec eventfd (a counter other threads bump to wake the reactor).
    static func eventCounter() -> Result<Int32, Errno> {
        let descriptor = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        return descriptor >= 0 ? .success(descriptor) : .failure(.current)
    }

    /// Adds one to an eventfd counter.
    static func signal(_ counter: Int32) {
        var one: UInt64 = 1
        // SAFETY: eventfd writes take exactly one UInt64 from this stack variable.
        _ = Glibc.write(counter, &one, MemoryLayout<UInt64>.size)
    }

    /// A non-blocking, close-on-exec pipe: (read end, write end).
    static func pipe() -> Result<(Int32, Int32), Errno> {
        var descriptors: (Int32, Int32) = (-1, -1)
        // SAFETY: a tuple of two Int32 is laid out as the `int[2]` pipe2 fills.
        let result = withUnsafeMutableBytes(of: &descriptors) { bytes in
            pacsgate_pipe2_nonblocking(bytes.baseAddress!.assumingMemoryBound(to: Int32.self))
        }
        return result == 0 ? .success(descriptors) : .failure(.current)
    }

    /// Sets a pipe's capacity (`F_SETPIPE_SZ`); returns the capacity it has afterwards.
    static func setPipeCapacity(_ descriptor: Int32, _ bytes: Int32) -> Int {
        Int(pacsgate_set_pipe_size(descriptor, bytes))
    }
}

/// A socket address as the kernel returns it (IPv4 or IPv6), kept inline: no allocation per connection. Turned
/// into NIO's `SocketAddress` only where something needs one (an inspector's context).
struct PeerAddress: Sendable, Equatable {
    private var storage: sockaddr_in6

    init(_ storage: sockaddr_storage) {
        var copy = storage
        var address = sockaddr_in6()
        // SAFETY: sockaddr_in6 (28 bytes) is no larger than sockaddr_storage (128); copying its first bytes keeps
        // an IPv4 sockaddr_in (16 bytes) whole too, and `family` says which it is.
        withUnsafeBytes(of: &copy) { source in
            withUnsafeMutableBytes(of: &address) { target in
                target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<target.count]))
            }
        }
        self.storage = address
    }

    /// From NIO's address (the configuration's endpoints); `nil` for Unix-domain addresses.
    init?(_ address: SocketAddress) {
        switch address {
        case .v4(let v4):
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: v4.address) { target.copyMemory(from: $0) }
            }
            self.init(storage)
        case .v6(let v6):
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: v6.address) { target.copyMemory(from: $0) }
            }
            self.init(storage)
        case .unixDomainSocket:
            return nil
        }
    }

    static func == (lhs: PeerAddress, rhs: PeerAddress) -> Bool {
        withUnsafeBytes(of: lhs.storage) { left in withUnsafeBytes(of: rhs.storage) { left.elementsEqual($0) } }
    }

    var family: Int32 { Int32(self.storage.sin6_family) }

    var port: Int { Int(UInt16(bigEndian: self.storage.sin6_port)) }

    /// The same address with another port.
    func with(port: Int) -> PeerAddress {
        var copy = self
        copy.storage.sin6_port = UInt16(port).bigEndian  // sin_port sits at the same offset in sockaddr_in
        return copy
    }

    /// Calls `body` with the address as a `sockaddr` pointer and its length.
    func withSockAddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var copy = self.storage
        let length = self.family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size
        // SAFETY: the storage holds a sockaddr_in or sockaddr_in6 as `family` says, and `length` is that type's size.
        return withUnsafePointer(to: &copy) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(length)) }
        }
    }

    /// NIO's form of the address.
    var socketAddress: SocketAddress {
        if self.family == AF_INET {
            var v4 = sockaddr_in()
            // SAFETY: for AF_INET the first 16 bytes of the storage are a sockaddr_in.
            withUnsafeBytes(of: self.storage) { source in
                withUnsafeMutableBytes(of: &v4) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<$0.count])) }
            }
            return SocketAddress(v4, host: "")
        }
        return SocketAddress(self.storage, host: "")
    }

    /// `ip:port`, IPv6 in brackets (as ``SocketAddress/logDescription``).
    var logDescription: String { self.socketAddress.logDescription }

    /// The persistence and per-client-limit key of this address (the port is ignored), built without allocating.
    var stickKey: StickKey {
        if self.family == AF_INET {
            // SAFETY: for AF_INET the storage's first bytes are a sockaddr_in.
            let address = withUnsafeBytes(of: self.storage) { $0.load(fromByteOffset: 4, as: UInt32.self) }
            return StickKey(kind: .ipv4, words: (0, UInt64(UInt32(bigEndian: address)), 4))
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        withUnsafeBytes(of: self.storage.sin6_addr) { bytes in
            for index in 0..<8 { high = high << 8 | UInt64(bytes[index]) }
            for index in 8..<16 { low = low << 8 | UInt64(bytes[index]) }
        }
        return StickKey(kind: .ipv6, words: (high, low, 16))
    }
}
#endif

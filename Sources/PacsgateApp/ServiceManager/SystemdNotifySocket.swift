#if canImport(Glibc)
import Glibc
#endif

/// The service manager's notification socket (`sd_notify(3)`): one `AF_UNIX` datagram of `KEY=VALUE` lines per
/// message, sent to the address in `NOTIFY_SOCKET`.
///
/// Written by hand: none of the Swift packages available to this project speaks the protocol (swift-service-lifecycle
/// handles signals, not readiness), and linking libsystemd for one `sendto` would add a C library and its -dev package
/// to every build. The protocol is a datagram to a path (`/run/systemd/notify`) or, with a leading `@`, to an abstract
/// socket name; a new socket per message, as `sd_notify` does, so a manager that re-created its socket (daemon
/// re-exec) is still reached.
struct SystemdNotifySocket: Sendable, Equatable {
    /// Where the datagrams go.
    enum Address: Sendable, Equatable {
        /// A socket file.
        case path(String)
        /// A name in the abstract namespace (`@name` in `NOTIFY_SOCKET`), without the leading NUL.
        case abstract(String)
    }

    /// A notification could not be sent.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let address: Address

    init(address: Address) {
        self.address = address
    }

    /// The socket named by `NOTIFY_SOCKET`: `nil` when it is unset or empty (not started by a service manager).
    /// Throws for an address this implementation cannot reach (too long, or not a unix socket: `vsock:`).
    init?(environment: [String: String]) throws(Failure) {
        guard let value = environment["NOTIFY_SOCKET"], !value.isEmpty else { return nil }
        let address: Address
        switch value.first {
        case "/": address = .path(value)
        case "@": address = .abstract(String(value.dropFirst()))
        default: throw Failure(description: "NOTIFY_SOCKET '\(value)' is not a unix socket path or @name")
        }
        // sun_path holds 108 bytes: a path needs its terminating NUL, an abstract name its leading one.
        guard value.utf8.count < Self.pathCapacity else {
            throw Failure(description: "NOTIFY_SOCKET '\(value)' is longer than a unix socket address")
        }
        self.address = address
    }

    /// Sends `message` (for example `READY=1\nSTATUS=…`) as one datagram.
    func send(_ message: String) throws(Failure) {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(Self.errorText())") }
        defer { close(fd) }
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        let name: [UInt8]
        switch self.address {
        case .path(let path): name = Array(path.utf8)
        case .abstract(let abstract): name = [0] + Array(abstract.utf8)
        }
        guard name.count < Self.pathCapacity else { throw Failure(description: "notify socket address too long") }
        // Sound: `name` is shorter than sun_path (checked above), so the copy stays inside the struct; the rest of
        // sun_path is zero from the initializer, which terminates a path.
        withUnsafeMutableBytes(of: &storage.sun_path) { path in
            path.copyBytes(from: name)
        }
        // A path's length covers its NUL; an abstract name's length is exactly its bytes (the kernel compares them
        // all, so no padding may be counted).
        let length = socklen_t(Self.pathOffset + name.count + (name.first == 0 ? 0 : 1))
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &storage) { pointer in
            // Sound: sockaddr_un begins with the generic sockaddr header, and `length` does not exceed its size.
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bytes.withUnsafeBytes { buffer in
                    sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), address, length)
                }
            }
        }
        guard sent == bytes.count else {
            throw Failure(description: "sendto \(self.addressDescription): \(sent < 0 ? Self.errorText() : "short write")")
        }
    }

    /// The address as `NOTIFY_SOCKET` spells it.
    var addressDescription: String {
        switch self.address {
        case .path(let path): path
        case .abstract(let name): "@\(name)"
        }
    }

    private static let pathCapacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
    private static let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2

    private static func errorText() -> String {
        String(cString: strerror(errno))
    }
}

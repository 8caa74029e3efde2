import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// The test's side of the systemd notify protocol: a unix datagram socket the test owns, bound to a path or an
/// abstract name, from which the gateway's notifications are read in the order they arrived.
final class NotifyReceiver: Sendable {
    /// What `NOTIFY_SOCKET` is set to: the path, or `@name` for an abstract socket.
    let address: String
    private let descriptor: Int32

    /// Binds a socket file at `path`.
    convenience init(path: String) throws {
        try self.init(address: path, name: Array(path.utf8))
    }

    /// Binds an abstract socket (`@name`), which has no file.
    convenience init(abstractName: String) throws {
        try self.init(address: "@\(abstractName)", name: [0] + Array(abstractName.utf8))
    }

    private init(address: String, name: [UInt8]) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket: \(String(cString: strerror(errno)))") }
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        guard name.count < MemoryLayout.size(ofValue: storage.sun_path) else {
            close(fd)
            throw Failure("address too long: \(address)")
        }
        withUnsafeMutableBytes(of: &storage.sun_path) { $0.copyBytes(from: name) }
        let offset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2
        let length = socklen_t(offset + name.count + (name.first == 0 ? 0 : 1))
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            let error = String(cString: strerror(errno))
            close(fd)
            throw Failure("bind \(address): \(error)")
        }
        self.address = address
        self.descriptor = fd
    }

    deinit {
        close(self.descriptor)
    }

    /// The next datagram, or `nil` if none arrives within `timeout`.
    func next(timeout: Duration = .seconds(30)) async -> String? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(self.descriptor, $0.baseAddress, $0.count, 0) }
            if count >= 0 { return String(decoding: buffer.prefix(count), as: UTF8.self) }
            guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR, clock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Reads datagrams until one satisfies `matches` (returned) or `timeout` passes (`nil`); the others are handed
    /// to `skipped`.
    func next(
        timeout: Duration = .seconds(30), where matches: (Notification) -> Bool, skipped: (Notification) -> Void = { _ in }
    ) async -> Notification? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            guard let text = await self.next(timeout: deadline - clock.now) else { return nil }
            let notification = Notification(text: text)
            if matches(notification) { return notification }
            skipped(notification)
        }
        return nil
    }

    /// Everything queued now, without waiting.
    func drain() -> [Notification] {
        var drained: [Notification] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(self.descriptor, $0.baseAddress, $0.count, 0) }
            guard count >= 0 else { return drained }
            drained.append(Notification(text: String(decoding: buffer.prefix(count), as: UTF8.self)))
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}

/// One datagram: `KEY=VALUE` lines.
struct Notification: CustomStringConvertible, Sendable {
    let text: String

    /// The value of `key` (`READY` → `1`), `nil` when absent.
    subscript(key: String) -> String? {
        for line in self.text.split(separator: "\n") where line.hasPrefix("\(key)=") {
            return String(line.dropFirst(key.count + 1))
        }
        return nil
    }

    var description: String { self.text.replacingOccurrences(of: "\n", with: "\\n") }
}

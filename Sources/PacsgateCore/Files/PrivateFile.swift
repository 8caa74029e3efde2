import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Files that hold secrets (the admin's generated password hash and TLS key, configuration backups, the ATNA spool):
/// created with their final mode in the `open` call itself, so no other user can open them in between — Foundation's
/// `createFile(atPath:contents:attributes:)` creates with the umask and changes the mode afterwards, ignoring a
/// failure. Every failure is thrown.
public enum PrivateFile {
    /// Owner read and write only. Modes are the permission bits of `mode_t`, as `UInt32` so that the API does not
    /// export the C library's types.
    public static let ownerOnly: UInt32 = 0o600

    /// Replaces `path` with `bytes`: written to a new file beside it (created with `mode`), synced, and renamed over
    /// it, so readers see the old file or the new one, never half of one.
    public static func write(_ bytes: [UInt8], to path: String, mode: UInt32 = PrivateFile.ownerOnly) throws {
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = try Self.create(temporary, flags: O_WRONLY | O_EXCL, mode: mode)
        do {
            try Self.writeAll(bytes, to: descriptor, path: temporary)
            try Self.check(fsync(descriptor), "fsync \(temporary)")
            try Self.check(Glibc.close(descriptor), "close \(temporary)")
        } catch {
            Glibc.close(descriptor)
            unlink(temporary)
            throw error
        }
        do {
            try Self.check(rename(temporary, path), "rename \(temporary) to \(path)")
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Appends `bytes` to `path` (created with `mode` if it does not exist) and syncs.
    public static func append(_ bytes: [UInt8], to path: String, mode: UInt32 = PrivateFile.ownerOnly) throws {
        let descriptor = try Self.create(path, flags: O_WRONLY | O_APPEND, mode: mode)
        defer { Glibc.close(descriptor) }
        try Self.writeAll(bytes, to: descriptor, path: path)
        try Self.check(fsync(descriptor), "fsync \(path)")
    }

    /// Opens (creating with exactly `mode` — the umask may only take bits away, and `fchmod` puts them back) without
    /// following a symbolic link at `path`.
    private static func create(_ path: String, flags: Int32, mode: UInt32) throws -> Int32 {
        let mode = mode_t(mode)
        let descriptor = open(path, flags | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode)
        guard descriptor >= 0 else { throw IOError(errnoCode: errno, reason: "open \(path)") }
        // A new file has `mode & ~umask`, never more than `mode`; make it exactly `mode` (an existing file too).
        guard fchmod(descriptor, mode) == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw IOError(errnoCode: code, reason: "fchmod \(path)")
        }
        return descriptor
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return Glibc.write(descriptor, base + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw IOError(errnoCode: errno, reason: "write \(path)")
            }
            offset += written
        }
    }

    private static func check(_ result: Int32, _ what: String) throws {
        if result != 0 { throw IOError(errnoCode: errno, reason: what) }
    }
}

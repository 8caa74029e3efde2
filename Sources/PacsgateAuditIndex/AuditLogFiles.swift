#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The files of one audit log as the writer leaves them: `PATH` (being written), and `PATH.1` … `PATH.N` rotated
/// away (`.1` the newest). Rotation renames every file one step up, so a file is known by its device, inode and the
/// first bytes of its first line — never by its name.
enum AuditLogFiles {
    /// The files of the log at `path`, oldest first (`PATH.N` … `PATH.1`, `PATH`); only those that exist.
    static func discover(_ path: String) -> [String] {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let base = url.lastPathComponent
        var rotated: [(Int, String)] = []
        if let names = try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory) {
            for name in names where name.hasPrefix(base + ".") {
                let suffix = name.dropFirst(base.count + 1)
                guard !suffix.isEmpty, suffix.allSatisfy(\.isASCII), suffix.allSatisfy(\.isNumber), let number = Int(suffix) else {
                    continue
                }
                rotated.append((number, (directory as NSString).appendingPathComponent(name)))
            }
        }
        var files = rotated.sorted { $0.0 > $1.0 }.map(\.1)
        if FileManager.default.fileExists(atPath: path) { files.append(path) }
        return files
    }

    /// One open log file (closed when released): its identity is what the index keeps of it.
    final class Opened: Sendable {
        let descriptor: Int32
        let path: String
        let device: Int64
        let inode: Int64
        let size: Int64
        /// Up to 256 bytes of the first line: with device and inode, what tells this file from a later one that got
        /// the same inode. Empty while the file has no complete line.
        let head: [UInt8]

        init(descriptor: Int32, path: String, device: Int64, inode: Int64, size: Int64, head: [UInt8]) {
            self.descriptor = descriptor
            self.path = path
            self.device = device
            self.inode = inode
            self.size = size
            self.head = head
        }

        deinit { close(self.descriptor) }

        /// Reads `count` bytes at `offset` (fewer at the end of the file).
        func read(at offset: Int64, count: Int) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let got = bytes.withUnsafeMutableBytes { buffer in
                    pread(self.descriptor, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                }
                if got < 0, errno == EINTR { continue }
                guard got > 0 else { break }
                done += got
            }
            bytes.removeLast(count - done)
            return bytes
        }
    }

    /// Longest first line looked for when identifying a file.
    static let headSearchLimit = 1 << 20

    /// Opens `path` for reading, or `nil` when it is gone (rotated away in between) or unreadable.
    static func open(_ path: String) -> Opened? {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { return nil }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            return nil
        }
        let size = Int64(info.st_size)
        var head: [UInt8] = []
        var offset: Int64 = 0
        var chunk = 4096
        // The first line's first bytes, once the line is complete.
        search: while offset < min(size, Int64(Self.headSearchLimit)) {
            var bytes = [UInt8](repeating: 0, count: chunk)
            let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, chunk, off_t(offset)) }
            guard got > 0 else { break }
            if let newline = bytes[0..<got].firstIndex(of: UInt8(ascii: "\n")) {
                let lineLength = Int(offset) + newline
                head = Self.prefix(descriptor, count: min(lineLength, 256))
                break search
            }
            offset += Int64(got)
            chunk = min(chunk * 4, 256 << 10)
        }
        return Opened(
            descriptor: descriptor, path: path, device: Int64(info.st_dev), inode: Int64(info.st_ino), size: size, head: head)
    }

    private static func prefix(_ descriptor: Int32, count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, count, 0) }
        return got == count ? bytes : []
    }
}

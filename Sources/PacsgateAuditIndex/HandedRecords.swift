import PacsgateCore

/// Records the audit writer handed the index (``AuditLog/addPlacementObserver(_:)``): each one's place in its file
/// and its fields, so a catch-up indexes them without reading and parsing their lines again.
///
/// A hint, never the truth: a catch-up uses a handed record only when it starts exactly where the index has got to
/// in that file (device and inode) and lies within the file's size as the catch-up found it; whatever it was not
/// handed (records of earlier runs, a write that failed part-way, records beyond ``capacity``) it reads from the file
/// as before. A pure value: the index keeps it under a lock, the writer's thread only appends.
struct HandedRecords: Sendable {
    /// Records kept at most; beyond, new ones are not kept (the catch-up reads them from the file).
    static let capacity = 200_000

    private struct FileKey: Hashable {
        var device: Int64
        var inode: Int64
    }

    private var files: [FileKey: [AuditPlacement.Record]] = [:]
    private(set) var count = 0

    /// Adds what the writer placed (in file order).
    mutating func add(_ placement: AuditPlacement) {
        guard self.count + placement.records.count <= Self.capacity else { return }
        self.files[FileKey(device: placement.device, inode: placement.inode), default: []].append(contentsOf: placement.records)
        self.count += placement.records.count
    }

    /// The handed records of one file that start at `offset` and follow each other without a gap, up to `end` (the
    /// file's size) and at most `limit` bytes; records before `offset` are dropped (indexed already). `next` is the
    /// offset of the first handed record left after a gap, if any: the lines before it are read from the file.
    mutating func take(
        device: Int64, inode: Int64, from offset: Int64, end: Int64, limit: Int64
    ) -> (records: ArraySlice<AuditPlacement.Record>, next: Int64?) {
        let key = FileKey(device: device, inode: inode)
        guard let records = self.files[key] else { return ([], nil) }
        var first = 0
        while first < records.count, records[first].offset < offset { first += 1 }
        var last = first
        var position = offset
        while last < records.count, records[last].offset == position {
            let next = position + Int64(records[last].length) + 1
            guard next <= end, next - offset <= limit else { break }
            position = next
            last += 1
        }
        let taken = records[first..<last]
        let rest = records[last...]
        self.count -= last
        self.files[key] = rest.isEmpty ? nil : Array(rest)
        return (taken, rest.first?.offset)
    }

    /// Forgets the records of files that are no longer among the log's (rotated away and deleted).
    mutating func keep(files: [(device: Int64, inode: Int64)]) {
        let kept = Set(files.map { FileKey(device: $0.device, inode: $0.inode) })
        for (key, records) in self.files where !kept.contains(key) {
            self.files[key] = nil
            self.count -= records.count
        }
    }
}

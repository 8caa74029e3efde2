/// The audit messages not yet handed to the repository, oldest first, bounded by size and age.
///
/// A pure state machine: ``AuditExporter`` owns one, feeds it messages and acknowledgements, and performs what it
/// returns. The queue is the spool's content: entries that arrived while the repository was unreachable are also
/// written to the spool file (``SpoolFile``), and the whole queue is written there on shutdown.
///
/// When full, a new message is refused (counted as dropped) rather than an old one evicted: the spool keeps the
/// oldest unbroken run of the trail, and the gap is at its end, where the local JSON audit log still has it.
struct ExportQueue {
    struct Entry: Equatable {
        /// The syslog message (without framing).
        var message: [UInt8]
        /// When the message was queued, for the age limit.
        var queuedAt: Int64
        /// Whether it is in the spool file already.
        var onDisk: Bool
    }

    enum AppendResult: Equatable {
        case queued
        /// Refused: the queue holds ``maxBytes`` already.
        case droppedFull
        /// Refused: one message larger than ``maxMessageBytes``.
        case droppedTooLarge
    }

    let maxBytes: Int
    /// Milliseconds a message may wait before it is discarded (counted).
    let maxAgeMilliseconds: Int64
    let maxMessageBytes: Int

    private var entries: [Entry] = []
    private var head = 0
    private(set) var bytes = 0

    init(maxBytes: Int, maxAgeMilliseconds: Int64, maxMessageBytes: Int) {
        self.maxBytes = maxBytes
        self.maxAgeMilliseconds = maxAgeMilliseconds
        self.maxMessageBytes = maxMessageBytes
    }

    var count: Int { self.entries.count - self.head }
    var isEmpty: Bool { self.count == 0 }

    /// Entries not yet in the spool file.
    var unpersisted: [Entry] { self.entries[self.head...].filter { !$0.onDisk } }

    /// Every queued entry, oldest first.
    var all: ArraySlice<Entry> { self.entries[self.head...] }

    mutating func append(_ message: [UInt8], at now: Int64, onDisk: Bool = false) -> AppendResult {
        guard message.count <= self.maxMessageBytes else { return .droppedTooLarge }
        guard self.bytes + message.count <= self.maxBytes else { return .droppedFull }
        self.entries.append(Entry(message: message, queuedAt: now, onDisk: onDisk))
        self.bytes += message.count
        return .queued
    }

    /// Marks every entry as written to the spool file.
    mutating func markPersisted() {
        for index in self.head..<self.entries.count { self.entries[index].onDisk = true }
    }

    /// Discards entries older than the age limit from the head; returns how many.
    mutating func expire(now: Int64) -> Int {
        var expired = 0
        while self.head < self.entries.count, now - self.entries[self.head].queuedAt > self.maxAgeMilliseconds {
            self.removeHead()
            expired += 1
        }
        self.compact()
        return expired
    }

    /// Up to `limit` messages and `byteLimit` bytes from the head (at least one when not empty), without removing them.
    func peek(limit: Int, byteLimit: Int) -> [[UInt8]] {
        var batch: [[UInt8]] = []
        var size = 0
        for entry in self.entries[self.head...] {
            if !batch.isEmpty, batch.count >= limit || size + entry.message.count > byteLimit { break }
            batch.append(entry.message)
            size += entry.message.count
        }
        return batch
    }

    /// Removes `count` entries from the head (they reached the repository's socket).
    mutating func acknowledge(_ count: Int) {
        for _ in 0..<min(count, self.count) { self.removeHead() }
        self.compact()
    }

    private mutating func removeHead() {
        self.bytes -= self.entries[self.head].message.count
        self.entries[self.head].message = []
        self.head += 1
    }

    private mutating func compact() {
        if self.head == self.entries.count {
            self.entries.removeAll(keepingCapacity: true)
            self.head = 0
        } else if self.head > 1024, self.head * 2 > self.entries.count {
            self.entries.removeFirst(self.head)
            self.head = 0
        }
    }
}

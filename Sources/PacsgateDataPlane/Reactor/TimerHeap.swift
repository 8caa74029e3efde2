#if os(Linux)
/// A reactor's timers: a binary min-heap of deadlines, each naming what to wake. Entries are plain values, so a
/// connection's timeout costs no allocation; a connection keeps at most one entry it relies on and ignores stale
/// ones when they fire (cancellation is lazy, as in HAProxy's and nginx's timer trees).
struct TimerHeap {
    /// What a deadline wakes.
    enum Target: Equatable {
        /// A connection slot, valid only while the slot's generation is unchanged.
        case connection(index: UInt32, generation: UInt32)
        /// A task scheduled through the `EventLoop` interface, by id.
        case task(UInt64)
        /// The reactor's listeners, paused after running out of descriptors.
        case resumeAccepting
    }

    struct Entry {
        /// Monotonic nanoseconds (`NIODeadline.uptimeNanoseconds`).
        var deadline: UInt64
        /// Insertion order: equal deadlines fire first in, first out.
        var sequence: UInt64
        var target: Target

        func fires(before other: Entry) -> Bool {
            self.deadline < other.deadline || (self.deadline == other.deadline && self.sequence < other.sequence)
        }
    }

    private var entries: [Entry] = []
    private var sequence: UInt64 = 0

    var isEmpty: Bool { self.entries.isEmpty }
    var count: Int { self.entries.count }

    /// The earliest deadline, if any.
    var nextDeadline: UInt64? { self.entries.first?.deadline }

    mutating func push(_ deadline: UInt64, _ target: Target) {
        self.sequence &+= 1
        self.entries.append(Entry(deadline: deadline, sequence: self.sequence, target: target))
        var child = self.entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard self.entries[child].fires(before: self.entries[parent]) else { break }
            self.entries.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest entry if its deadline is at or before `now`.
    mutating func popExpired(now: UInt64) -> Entry? {
        guard let first = self.entries.first, first.deadline <= now else { return nil }
        let last = self.entries.removeLast()
        if !self.entries.isEmpty {
            self.entries[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                guard left < self.entries.count else { break }
                let right = left + 1
                var smallest = left
                if right < self.entries.count, self.entries[right].fires(before: self.entries[left]) { smallest = right }
                guard self.entries[smallest].fires(before: self.entries[parent]) else { break }
                self.entries.swapAt(smallest, parent)
                parent = smallest
            }
        }
        return first
    }
}
#endif

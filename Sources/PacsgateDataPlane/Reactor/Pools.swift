#if os(Linux)
import Glibc
import NIOCore

/// A reactor's read buffers. A connection takes one when bytes arrive and gives it back once they are written, so an
/// idle connection holds none (HAProxy's `pool.c` does the same with its 16 KiB buffers).
///
/// Buffers an inspector keeps a slice of (a partial PDU or frame) are not reused in place: NIO's copy-on-write gives
/// the next reader fresh storage while the inspector keeps the old.
struct BufferPool {
    /// Most reads: a DICOM PDU header and request, an HL7 message, a TLS ClientHello, a request/response exchange.
    static let smallSize = 16 * 1024
    /// Reads of a direction whose last read filled a small buffer (a bulk transfer through an inspector).
    static let largeSize = 256 * 1024

    private var small: [ByteBuffer] = []
    private var large: [ByteBuffer] = []
    private let allocator = ByteBufferAllocator()
    /// Free buffers kept per size; more are freed.
    private let keepSmall: Int
    private let keepLarge: Int

    init(keepSmall: Int = 64, keepLarge: Int = 4) {
        self.keepSmall = keepSmall
        self.keepLarge = keepLarge
    }

    /// Buffers taken and not given back: held by connections (unwritten bytes), by an inspector or a peek, or
    /// dropped with their connection.
    private(set) var lent = 0

    /// An empty buffer of the small or the large size.
    mutating func take(large: Bool) -> ByteBuffer {
        self.lent += 1
        if large {
            return self.large.popLast() ?? self.allocator.buffer(capacity: Self.largeSize)
        }
        return self.small.popLast() ?? self.allocator.buffer(capacity: Self.smallSize)
    }

    /// Returns a buffer whose bytes are no longer needed (one of the pool's sizes; others, such as an inspector's
    /// answer, are simply dropped).
    mutating func give(_ buffer: consuming ByteBuffer) {
        let capacity = buffer.capacity
        guard capacity == Self.smallSize || capacity == Self.largeSize else { return }
        self.lent -= 1
        if capacity == Self.smallSize, self.small.count < self.keepSmall {
            buffer.clear()
            self.small.append(buffer)
        } else if capacity == Self.largeSize, self.large.count < self.keepLarge {
            buffer.clear()
            self.large.append(buffer)
        }
    }

    /// Free buffers held (tests).
    var freeCount: Int { self.small.count + self.large.count }
}

/// A pipe that spliced bytes pass through: `count` bytes are in it, read from one socket and not yet written to the
/// other.
struct Pipe {
    let readEnd: Int32
    let writeEnd: Int32
    var count = 0
}

/// A reactor's pipes for `splice(2)`. A direction takes one when it starts splicing a burst and gives it back once
/// the pipe is empty (HAProxy's `pipe.c`), so idle connections hold no pipe and a reactor at most `limit` (two
/// descriptors each).
struct PipePool {
    private var free: [Pipe] = []
    /// Pipes open now, free or in use.
    private(set) var open = 0
    let limit: Int
    /// Free pipes kept; more are closed.
    private let keep: Int

    init(limit: Int = 256, keep: Int = 16) {
        self.limit = limit
        self.keep = keep
    }

    /// An empty pipe, or `nil` when the limit is reached or the process is out of descriptors (the caller copies
    /// through a buffer instead).
    mutating func take() -> Pipe? {
        if let pipe = self.free.popLast() { return pipe }
        guard self.open < self.limit, case .success(let (readEnd, writeEnd)) = SystemCall.pipe() else { return nil }
        self.open += 1
        return Pipe(readEnd: readEnd, writeEnd: writeEnd)
    }

    /// Returns a pipe. One that still holds bytes (its connection ended before they were written) is closed, as
    /// are pipes beyond the number kept.
    mutating func give(_ pipe: Pipe) {
        if pipe.count == 0, self.free.count < self.keep {
            self.free.append(pipe)
            return
        }
        SystemCall.close(pipe.readEnd)
        SystemCall.close(pipe.writeEnd)
        self.open -= 1
    }

    /// Closes every free pipe (the reactor is stopping).
    mutating func closeFree() {
        for pipe in self.free {
            SystemCall.close(pipe.readEnd)
            SystemCall.close(pipe.writeEnd)
        }
        self.open -= self.free.count
        self.free.removeAll()
    }
}

/// Bytes waiting to be written to one leg, oldest first. Usually one buffer, so the common case allocates nothing.
struct OutputQueue {
    private var head: ByteBuffer?
    private var rest: [ByteBuffer] = []
    private(set) var bytes = 0

    var isEmpty: Bool { self.head == nil }

    mutating func append(_ buffer: ByteBuffer) {
        guard buffer.readableBytes > 0 else { return }
        self.bytes += buffer.readableBytes
        if self.head == nil {
            self.head = buffer
        } else {
            self.rest.append(buffer)
        }
    }

    /// Writes as much as `descriptor` takes. Buffers written whole go back to `pool`. Returns `.done(n)` with the
    /// bytes written (the queue may still hold more when the socket filled up: check ``isEmpty``), `.wouldBlock`
    /// when nothing could be written, or the failure.
    mutating func write(to descriptor: Int32, pool: inout BufferPool) -> IOOutcome {
        var total = 0
        while let head = self.head {
            let outcome: IOOutcome
            if self.rest.isEmpty {
                outcome = head.withUnsafeReadableBytes { SystemCall.write(descriptor, from: $0) }
            } else {
                outcome = self.writeGathered(to: descriptor)
            }
            switch outcome {
            case .done(let written):
                total += written
                _ = consume head  // no second reference while consumed buffers go back to the pool
                self.consume(written, pool: &pool)
                if self.head != nil {
                    // The socket took less than offered: it is full.
                    return .done(total)
                }
            case .wouldBlock:
                return total > 0 ? .done(total) : .wouldBlock
            case .closed, .failed:
                return outcome
            }
        }
        return .done(total)
    }

    /// One `writev` of up to eight queued buffers.
    private func writeGathered(to descriptor: Int32) -> IOOutcome {
        var buffers: [ByteBuffer] = []
        if let head = self.head { buffers.append(head) }
        buffers.append(contentsOf: self.rest.prefix(7))
        var vectors: [iovec] = []
        vectors.reserveCapacity(buffers.count)
        return Self.gather(buffers[...], into: &vectors) { vectors in
            vectors.withUnsafeBufferPointer { SystemCall.writev(descriptor, $0.baseAddress!, count: $0.count) }
        }
    }

    /// Nests one `withUnsafeReadableBytes` per buffer so that every pointer in `vectors` is valid while `body`
    /// runs.
    private static func gather(
        _ buffers: ArraySlice<ByteBuffer>, into vectors: inout [iovec], _ body: ([iovec]) -> IOOutcome
    ) -> IOOutcome {
        guard let first = buffers.first else { return body(vectors) }
        return first.withUnsafeReadableBytes { bytes in
            // SAFETY: the pointer is used only by `body`, which runs inside this closure, while `first` (a copy held
            // by the caller's array) keeps the storage alive and unchanged.
            vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count))
            return Self.gather(buffers.dropFirst(), into: &vectors, body)
        }
    }

    private mutating func consume(_ count: Int, pool: inout BufferPool) {
        var left = count
        self.bytes -= count
        while left > 0, var buffer = self.head {
            let here = min(left, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: here)
            left -= here
            if buffer.readableBytes == 0 {
                self.head = nil
                pool.give(buffer)
                if !self.rest.isEmpty { self.head = self.rest.removeFirst() }
            } else {
                self.head = buffer
            }
        }
    }

    /// Gives every queued buffer back (the leg closed with bytes unwritten).
    mutating func discard(pool: inout BufferPool) {
        if let head = self.head { pool.give(head) }
        for buffer in self.rest { pool.give(buffer) }
        self.head = nil
        self.rest.removeAll()
        self.bytes = 0
    }
}
#endif

import Glibc

/// One resync worker's device path: the source and the target opened again with O_DIRECT, an
/// io_uring ring, and `depth` aligned chunk buffers. A copy keeps up to `depth` chunks moving at
/// once — a chunk's write is queued as soon as its read completes, while other chunks are still
/// being read — so reads and writes overlap and the device sees a deep queue, not one request
/// per thread, and the page cache is bypassed (no write-back later, no inode-lock wait on it).
///
/// Only whole 4 KiB blocks go this way (O_DIRECT needs aligned offsets and lengths); the caller
/// copies an unaligned tail with pread/pwrite. `make` returns nil where the kernel refuses
/// io_uring (ENOSYS, EPERM: `io_uring_disabled`) or the filesystem refuses O_DIRECT (tmpfs:
/// EINVAL); the caller then uses its thread path. Not thread-safe: one per worker thread.
final class DirectCopier {
    static let alignment: Int64 = 4096
    private let ring: IOURing
    private let source: FileDescriptor
    private let target: FileDescriptor
    private let buffers: AlignedBuffer
    private let chunk: Int
    private let depth: Int

    private init(ring: IOURing, source: FileDescriptor, target: FileDescriptor, chunk: Int, depth: Int) {
        self.ring = ring
        self.source = source
        self.target = target
        self.chunk = chunk
        self.depth = depth
        buffers = AlignedBuffer(count: chunk * depth)
    }

    deinit {
        ring.drain()  // the kernel may still use the buffers until every completion is reaped
        source.close()
        target.close()
    }

    /// The path for copying `sourcePath` to `targetPath` in `chunk`-byte transfers, `depth` in
    /// flight; nil when io_uring or O_DIRECT is refused here (the reason is not an error).
    static func make(
        sourcePath: String, targetPath: String, chunk: Int, depth: Int,
        sys: any SystemCalls
    ) -> DirectCopier? {
        guard let ring = try? IOURing(entries: depth) else { return nil }
        guard let s = try? FileDescriptor.openDirect(sourcePath, .readOnly, sys: sys) else { return nil }
        guard let t = try? FileDescriptor.openDirect(targetPath, .readWrite, sys: sys) else {
            s.close()
            return nil
        }
        return DirectCopier(ring: ring, source: s, target: t, chunk: chunk, depth: min(depth, ring.capacity))
    }

    /// The whole blocks of `range` the direct path takes: empty when `range` does not start on
    /// a block.
    static func alignedPart(of range: Range<Int64>) -> Range<Int64> {
        guard range.lowerBound % alignment == 0 else { return range.lowerBound..<range.lowerBound }
        return range.lowerBound..<(range.lowerBound + Int64(range.count) / alignment * alignment)
    }

    /// Copies `ranges` (block-aligned, from `alignedPart`) from source to target, up to `depth`
    /// chunks of them in flight at once. Throws the first failed transfer, after every
    /// operation in flight has completed.
    func copy(_ ranges: [Range<Int64>]) throws(Errno) {
        var pipeline = Pipeline(ranges: ranges, chunk: Int64(chunk), depth: depth)
        do {
            while !pipeline.finished {
                try queueReads(&pipeline)
                try ring.submit(waitingFor: 1)
                for c in ring.reap() { try complete(c, &pipeline) }
            }
        } catch {
            ring.drain()
            throw error
        }
    }

    /// Starts reading the next chunks into the free buffers.
    private func queueReads(_ p: inout Pipeline) throws(Errno) {
        while let (slot, bytes) = p.startRead() {
            guard
                ring.read(
                    source, into: buffer(slot), count: bytes.count, at: bytes.lowerBound, tag: tag(slot, write: false))
            else {
                throw Errno(code: EAGAIN, operation: "io_uring read (queue full)", path: source.path)
            }
        }
    }

    /// A read done: write that chunk. A write done: its buffer is free again.
    private func complete(_ c: IOURing.Completion, _ p: inout Pipeline) throws(Errno) {
        let slot = Int(c.tag >> 1)
        let isWrite = c.tag & 1 == 1
        let bytes = p.chunk(in: slot)
        let moved = try c.result.get()
        guard moved == bytes.count else {
            throw Errno(
                code: EIO,
                operation: "io_uring \(isWrite ? "write" : "read") (short: \(moved) of \(bytes.count) "
                    + "bytes at \(bytes.lowerBound))", path: isWrite ? target.path : source.path)
        }
        if isWrite {
            p.finish(slot)
        } else if !ring.write(
            target, from: buffer(slot), count: bytes.count, at: bytes.lowerBound, tag: tag(slot, write: true))
        {
            throw Errno(code: EAGAIN, operation: "io_uring write (queue full)", path: target.path)
        }
    }

    private func buffer(_ slot: Int) -> UnsafeMutableRawPointer { buffers.pointer + slot * chunk }
    private func tag(_ slot: Int, write: Bool) -> UInt64 { UInt64(slot) << 1 | (write ? 1 : 0) }

    /// The chunks to move (every range cut at `chunk` bytes), which one each buffer holds, and
    /// how many are read and written.
    private struct Pipeline {
        private let chunks: [Range<Int64>]
        private var nextRead = 0
        private var free: [Int]
        private var held: [Range<Int64>]
        private var busy = 0

        init(ranges: [Range<Int64>], chunk: Int64, depth: Int) {
            chunks = ranges.flatMap { r in
                stride(from: r.lowerBound, to: r.upperBound, by: Int(chunk)).map { $0..<min($0 + chunk, r.upperBound) }
            }
            free = Array((0..<depth).reversed())
            held = Array(repeating: 0..<0, count: depth)
        }

        var finished: Bool { nextRead >= chunks.count && busy == 0 }

        mutating func startRead() -> (Int, Range<Int64>)? {
            guard nextRead < chunks.count, let slot = free.popLast() else { return nil }
            held[slot] = chunks[nextRead]
            nextRead += 1
            busy += 1
            return (slot, held[slot])
        }

        func chunk(in slot: Int) -> Range<Int64> { held[slot] }

        mutating func finish(_ slot: Int) {
            free.append(slot)
            busy -= 1
        }
    }
}

/// What one resync worker copies with: its buffer for pread/pwrite, and its device path when
/// the copy method and the system allow one.
final class WorkerTools {
    let buffer: AlignedBuffer
    let direct: DirectCopier?

    init(buffer: AlignedBuffer, direct: DirectCopier?) {
        self.buffer = buffer
        self.direct = direct
    }
}

import Synchronization

/// A page-aligned buffer a request's data lives in: a WRITE's payload is read from the socket
/// straight into it, a READ's data is pread into it and sent from it. Owned by one request at
/// a time; returned to its pool when the reply has left.
final class PooledBuffer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let capacity: Int
    let sizeClass: Int

    init(sizeClass: Int) {
        self.sizeClass = sizeClass
        capacity = BufferPool.size(ofClass: sizeClass)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 4096)
    }

    deinit { pointer.deallocate() }
}

/// Buffers in power-of-two size classes from 4 KiB to 32 MiB (the largest payload), kept for
/// reuse so a steady load allocates nothing. How many bytes may be in use at once is decided by
/// `Budget`, not here; this pool only bounds what it keeps idle.
final class BufferPool: Sendable {
    static let smallestShift = 12
    static let largest = 32 << 20
    static let classCount = 14  // 4 KiB … 32 MiB

    private let idle: Mutex<[[PooledBuffer]]>
    private let idleBytes = Atomic<Int>(0)
    /// Idle bytes kept at most; beyond, returned buffers are freed.
    let keepIdle: Int

    init(keepIdle: Int) {
        self.keepIdle = keepIdle
        idle = Mutex(Array(repeating: [], count: Self.classCount))
    }

    static func size(ofClass c: Int) -> Int { 1 << (smallestShift + c) }

    static func sizeClass(for count: Int) -> Int {
        var c = 0
        while size(ofClass: c) < count && c < classCount - 1 { c += 1 }
        return c
    }

    /// A buffer of at least `count` bytes (`count` ≤ 32 MiB).
    func take(_ count: Int) -> PooledBuffer {
        let c = Self.sizeClass(for: count)
        if let reused = idle.withLock({ $0[c].popLast() }) {
            idleBytes.subtract(reused.capacity, ordering: .relaxed)
            return reused
        }
        return PooledBuffer(sizeClass: c)
    }

    func give(_ buffer: PooledBuffer) {
        guard idleBytes.load(ordering: .relaxed) + buffer.capacity <= keepIdle else { return }
        idleBytes.add(buffer.capacity, ordering: .relaxed)
        idle.withLock { $0[buffer.sizeClass].append(buffer) }
    }
}

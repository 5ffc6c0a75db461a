/// A page-aligned I/O buffer owned by one worker. Not shared between threads.
final class AlignedBuffer {
    let pointer: UnsafeMutableRawPointer
    let count: Int

    init(count: Int, alignment: Int = 4096) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: alignment)
    }

    deinit { pointer.deallocate() }
}

/// A page-aligned I/O buffer owned by one worker. Not shared between threads.
public final class AlignedBuffer {
    public let pointer: UnsafeMutableRawPointer
    public let count: Int

    public init(count: Int, alignment: Int = 4096) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: alignment)
    }

    deinit { pointer.deallocate() }
}

import Glibc

/// Dedicated threads for blocking work (socket reads, disk I/O): the Swift concurrency pool must
/// never block on I/O, and Foundation's `Thread` is not in FoundationEssentials.
enum Threads {
    private final class Start {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts a detached thread running `body`. Returns false when the system cannot create one
    /// (EAGAIN: too many threads).
    static func start(_ body: @escaping @Sendable () -> Void) -> Bool {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        // 512 KiB: the deepest path (a request through the engine) needs far less than the
        // default 8 MiB, and a thousand connections should not reserve 8 GiB of address space.
        pthread_attr_setstacksize(&attributes, 512 << 10)
        let context = Unmanaged.passRetained(Start(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { raw in
            guard let raw else { return nil }
            let start = Unmanaged<Start>.fromOpaque(raw).takeRetainedValue()
            start.body()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Start>.fromOpaque(context).release()
            return false
        }
        return true
    }
}

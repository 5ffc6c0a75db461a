import CRDRSys
import Glibc

/// Starts dedicated threads (pthreads) for blocking work: copies, compares, a test's writer.
/// Blocking file I/O never runs on the Swift concurrency pool, and FoundationEssentials has no
/// `Thread`. A thread is detached: whoever needs to wait for it signals from its body
/// (`WorkerPool` does).
public enum Threads {
    /// Runs `body` on a new thread named `name` (the kernel keeps 15 bytes of it, shown by
    /// `top -H` and `perf`). Throws when the system cannot make another thread.
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(Errno) {
        let start = Unmanaged.passRetained(ThreadStart(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                guard let raw else { return nil }
                let start = Unmanaged<ThreadStart>.fromOpaque(raw).takeRetainedValue()
                _ = rdr_set_thread_name(String(start.name.utf8.prefix(15)) ?? "rdr")
                start.body()
                return nil
            }, start)
        guard rc == 0 else {
            Unmanaged<ThreadStart>.fromOpaque(start).release()
            throw Errno(code: rc, operation: "start thread", path: name)
        }
        pthread_detach(thread)
    }
}

/// What a new thread runs, handed over through pthread_create's one pointer.
private final class ThreadStart: Sendable {
    let name: String
    let body: @Sendable () -> Void

    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}

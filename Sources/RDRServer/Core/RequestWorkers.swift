import RDR

/// A fixed set of threads shared by every connection, running requests in arrival order (a
/// queue fed by the readers; the engine's `WorkerPool` runs a fixed batch of work instead). The
/// queue is bounded by the budgets (a reader admits a request before it enqueues it), so it
/// needs no cap of its own. A worker may block on disk I/O or a range lock; on a client's
/// socket it waits at most `Transmission.patience` (see `Transmission.send`).
final class RequestWorkers<Job>: @unchecked Sendable {
    private let lock = ConditionLock()
    private var queue: [Job?] = []
    private var head = 0
    private var idle = 0
    private var stopping = false
    private var running = 0

    /// Starts `count` threads running `execute` on each job. `scratch` makes each thread's own
    /// reusable state (reply headers are encoded into it), so no job allocates one.
    init<Scratch>(
        threads count: Int, scratch: @escaping @Sendable () -> Scratch,
        execute: @escaping @Sendable (Job, inout Scratch) -> Void
    ) {
        for i in 0..<max(1, count) {
            lock.withLock { running += 1 }  // before the thread can end and count itself out
            do {
                try Threads.start(name: "rdr-nbd-w\(i)") { [self] in
                    var state = scratch()
                    while let job = next() { execute(job, &state) }
                    lock.withLock {
                        running -= 1
                        lock.broadcast()
                    }
                }
            } catch {
                lock.withLock { running -= 1 }
            }
        }
    }

    func submit(_ job: Job) {
        lock.withLock {
            queue.append(job)
            if idle > 0 { lock.signal() }
        }
    }

    private func next() -> Job? {
        lock.withLock {
            while head == queue.count {
                if stopping { return nil }
                idle += 1
                lock.wait()
                idle -= 1
            }
            let job = queue[head]
            queue[head] = nil
            head += 1
            // Compact once the consumed prefix dominates (amortised O(1) per job).
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024 && head * 2 >= queue.count {
                queue.removeFirst(head)
                head = 0
            }
            return job
        }
    }

    /// Lets the threads finish the queued jobs, then end; returns once they have.
    func stop() {
        lock.withLock {
            stopping = true
            lock.broadcast()
            while running > 0 { lock.wait() }
        }
    }
}

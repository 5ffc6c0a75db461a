/// The one way the engine runs work in parallel: resync copies and verify compares both come
/// here. `count` dedicated threads each run `work(index)` to completion; the calling thread
/// waits for all of them and, while it waits, calls `tick` every `interval` seconds (a
/// resync checkpoints and publishes progress there). Workers pull their own tasks and stop on
/// their own (end of work, an error, a cancel), so the pool needs no queue.
enum WorkerPool {
    /// Runs the workers and returns when every started one has returned. If the system refuses
    /// threads, the pool runs with the ones it got; with none it throws before any work ran.
    static func run(
        count: Int, name: String, interval: Double = 0.05, tick: () -> Void = {},
        work: @escaping @Sendable (Int) -> Void
    ) throws(RDRError) {
        let done = ConditionLock()
        let running = Counter()
        var started = 0
        for i in 0..<max(1, count) {
            done.withLock { running.value += 1 }
            do {
                try Threads.start(name: "\(name)-\(i)") {
                    work(i)
                    done.withLock {
                        running.value -= 1
                        done.broadcast()
                    }
                }
                started += 1
            } catch {
                done.withLock { running.value -= 1 }
                if started == 0 { throw RDRError.io(error) }
                break
            }
        }
        done.lock()
        defer { done.unlock() }
        while running.value > 0 {
            if !done.wait(seconds: interval) {
                done.unlock()
                tick()
                done.lock()
            }
        }
    }

    /// Workers still running. `@unchecked Sendable`: read and written only while the pool's
    /// `ConditionLock` is held.
    private final class Counter: @unchecked Sendable {
        var value = 0
    }
}

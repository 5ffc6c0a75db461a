import Glibc

/// A mutex with a condition variable (pthread), for waits that Synchronization's `Mutex` cannot
/// express: "sleep until another thread changes the state". Takes the place of Foundation's
/// NSCondition, which FoundationEssentials lacks. Waits use CLOCK_MONOTONIC, so setting the
/// wall clock neither cuts nor stretches a timed wait.
///
/// `@unchecked Sendable`: its only state is the pthread mutex and condition, which exist to be
/// shared between threads; they live in heap memory of their own (pthread objects must not move).
public final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Releases the lock, sleeps until `signal`/`broadcast` (or a spurious wake-up: callers
    /// re-check their condition in a loop), and takes the lock again. Call with the lock held.
    public func wait() { pthread_cond_wait(condition, mutex) }

    /// `wait()` for at most `seconds`; false when the time ran out. Call with the lock held.
    @discardableResult
    public func wait(seconds: Double) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let whole = Int(max(0, min(seconds, 1e9)))
        let nanos = Int(now.tv_nsec) + Int((max(0, seconds) - Double(whole)) * 1e9)
        var deadline = timespec(tv_sec: now.tv_sec + whole + nanos / 1_000_000_000, tv_nsec: nanos % 1_000_000_000)
        return pthread_cond_timedwait(condition, mutex, &deadline) != ETIMEDOUT
    }

    /// Wakes one waiter.
    public func signal() { pthread_cond_signal(condition) }
    /// Wakes every waiter.
    public func broadcast() { pthread_cond_broadcast(condition) }
}

import Foundation
import Synchronization

/// Monotonic seconds, for rates and deadlines.
public enum Monotonic {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// A rate cap shared by all workers (md's `speed_limit_max`): each transfer reserves its slot
/// on a single timeline and sleeps until the slot begins.
final class Throttle: Sendable {
    private let bytesPerSecond: Double
    private let nextFree = Mutex<Double>(0)

    init(bytesPerSecond: Int64) { self.bytesPerSecond = Double(max(1, bytesPerSecond)) }

    func acquire(_ bytes: Int) {
        let now = Monotonic.now()
        let start = nextFree.withLock { next -> Double in
            let s = max(now, next)
            next = s + Double(bytes) / bytesPerSecond
            return s
        }
        let wait = start - now
        if wait > 0 { usleep(useconds_t(min(wait, 10) * 1_000_000)) }
    }
}

/// Set from a signal handler or another thread; workers stop at the next task.
public final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func cancel() { flag.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

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

/// Time as the throttle sees it: the real clock, or a test's clock that advances when slept on
/// (so the throttle's accuracy is tested exactly, without timing a real copy).
public protocol ThrottleClock: Sendable {
    func now() -> Double
    func sleep(_ seconds: Double)
}

public struct MonotonicClock: ThrottleClock {
    public init() {}
    public func now() -> Double { Monotonic.now() }
    public func sleep(_ seconds: Double) { usleep(useconds_t(max(0, min(seconds, 1)) * 1_000_000)) }
}

/// A rate cap shared by all workers (md's `speed_limit_max`). Bytes are earned on one timeline
/// at the asked rate: a transfer reserves the next `bytes / rate` seconds of it and waits for
/// their end before it moves, so the bytes moved by any moment never exceed rate × elapsed, and
/// an idle spell earns no burst. Transfers are cut to `grain` — a twentieth of a second's worth,
/// at least one byte — so they trail the cap by at most one grain (5 %), at 1 byte/s as at
/// 1 TiB/s. Waits are slept in slices of at most 50 ms that look at the cancellation flag, so a
/// signal stops even a crawling resync at once.
public final class Throttle: Sendable {
    public let bytesPerSecond: Double
    /// The most bytes one `acquire` may ask for.
    public let grain: Int
    private let clock: any ThrottleClock
    private let reservedUntil = Mutex<Double?>(nil)
    static let slice = 0.05

    public init(bytesPerSecond: Int64, maxChunk: Int, clock: any ThrottleClock = MonotonicClock()) {
        self.bytesPerSecond = Double(max(1, bytesPerSecond))
        grain = max(1, min(maxChunk, Int(min(Double(Int.max), Double(max(1, bytesPerSecond)) / 20))))
        self.clock = clock
    }

    /// Waits until `bytes` (at most `grain`) may move. False when cancelled while waiting.
    public func acquire(_ bytes: Int, cancellation: CancellationFlag? = nil) -> Bool {
        let now = clock.now()
        let end = reservedUntil.withLock { until -> Double in
            let start = max(now, until ?? now)
            let end = start + Double(bytes) / bytesPerSecond
            until = end
            return end
        }
        while true {
            if cancellation?.isCancelled ?? false { return false }
            let wait = end - clock.now()
            if wait <= 0 { return true }
            clock.sleep(min(wait, Self.slice))
        }
    }
}

/// Set from a signal handler or another thread; workers stop at the next task.
public final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func cancel() { flag.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

import Glibc
import Synchronization

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

/// The resync's pace, shared by all workers: a cap while the disk is idle (md's
/// `speed_limit_max`, `--max-rate`; none by default) and a lower one while clients use the same
/// disk (md's `speed_limit_min`, DRBD's `c-min-rate`, `--min-rate`), so foreground I/O comes
/// first and the resync still never stalls.
///
/// Bytes are earned on one timeline at the rate of the moment: a transfer reserves the next
/// `bytes / rate` seconds of it and waits for their end before it moves, so the bytes moved by
/// any moment never exceed rate × elapsed, and an idle spell earns no burst. Transfers are cut
/// to `grain` — a twentieth of a second's worth, at least one byte, whole 4 KiB blocks from
/// there up (clones and O_DIRECT want them) — so they trail the cap by at most one grain (5 %),
/// at 1 byte/s as at 1 TiB/s. Waits are slept in slices of at most 50 ms that look at the
/// cancellation flag, so a signal stops even a crawling resync at once; a wait also ends when
/// the load goes and no cap is left. Callers wait here before they lock the bytes they move, so
/// a client's write never waits out a throttle's sleep.
public final class Throttle: Sendable {
    /// Bytes per second while the disk is idle; nil = as fast as it goes.
    public let idleRate: Double?
    /// Bytes per second while foreground I/O is seen (below `idleRate`); nil = no slowdown.
    public let busyRate: Double?
    let load: LoadSensor?
    private let maxChunk: Int
    private let clock: any ThrottleClock
    private let reservedUntil = Mutex<Double?>(nil)
    static let slice = 0.05

    /// A fixed cap of `bytesPerSecond`, whatever the load.
    public convenience init(bytesPerSecond: Int64, maxChunk: Int, clock: any ThrottleClock = MonotonicClock()) {
        self.init(maxRate: bytesPerSecond, minRate: nil, load: nil, maxChunk: maxChunk, clock: clock)
    }

    /// `maxRate` while idle, `minRate` (if lower) while `load` is busy.
    init(maxRate: Int64?, minRate: Int64?, load: LoadSensor?, maxChunk: Int, clock: any ThrottleClock) {
        let idle = maxRate.map { Double(max(1, $0)) }
        let busy = minRate.map { Double(max(1, $0)) }.flatMap { b in load != nil && b < (idle ?? .infinity) ? b : nil }
        idleRate = idle
        busyRate = busy
        self.load = busy == nil ? nil : load
        self.maxChunk = max(1, maxChunk)
        self.clock = clock
    }

    /// The rate of this moment; nil = unthrottled now.
    public var rate: Double? {
        if let busyRate, let load, load.isBusy { return busyRate }
        return idleRate
    }

    /// The most bytes one `acquire` may ask for at the rate of this moment.
    public var grain: Int { grain(at: rate) }

    func grain(at rate: Double?) -> Int {
        guard let rate else { return maxChunk }
        let g = max(1, min(maxChunk, Int(min(Double(Int.max), rate / 20))))
        return g >= 4096 ? g / 4096 * 4096 : g
    }

    /// Waits until some of `wanted` bytes may move and returns how many: one grain at the rate
    /// of the moment, or all of them while unthrottled. Nil when cancelled while waiting.
    public func admit(upTo wanted: Int64, cancellation: CancellationFlag? = nil) -> Int64? {
        guard let r = rate else {
            reservedUntil.withLock { $0 = nil }  // the timeline restarts when a rate applies again
            return wanted
        }
        let n = min(wanted, Int64(grain(at: r)))
        return acquire(Int(n), at: r, cancellation: cancellation) ? n : nil
    }

    /// Waits until `bytes` (at most `grain`) may move. False when cancelled while waiting.
    public func acquire(_ bytes: Int, cancellation: CancellationFlag? = nil) -> Bool {
        guard let r = rate else { return true }
        return acquire(bytes, at: r, cancellation: cancellation)
    }

    private func acquire(_ bytes: Int, at rate: Double, cancellation: CancellationFlag?) -> Bool {
        let now = clock.now()
        let end = reservedUntil.withLock { until -> Double in
            let start = max(now, until ?? now)
            let end = start + Double(bytes) / rate
            until = end
            return end
        }
        while true {
            if cancellation?.isCancelled ?? false { return false }
            let wait = end - clock.now()
            if wait <= 0 { return true }
            if busyRate != nil && self.rate == nil { return true }  // the load went, no cap left
            clock.sleep(min(wait, Self.slice))
        }
    }
}

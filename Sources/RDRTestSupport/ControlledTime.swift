import RDR
import Synchronization

/// A clock a test sets: wall time and monotonic time stand still until `advance` moves them.
public final class FixedClock: SystemClock {
    private let now: Mutex<(wallMillis: Int64, monotonic: Double)>

    public init(wallMillis: Int64, monotonicSeconds: Double = 1000) {
        now = Mutex((wallMillis, monotonicSeconds))
    }

    public func wallMillis() -> Int64 { now.withLock { $0.wallMillis } }
    public func monotonicSeconds() -> Double { now.withLock { $0.monotonic } }

    /// Moves both clocks forward by `seconds`.
    public func advance(_ seconds: Double) {
        now.withLock {
            $0.wallMillis += Int64(seconds * 1000)
            $0.monotonic += seconds
        }
    }
}

/// A reproducible random source: the SplitMix64 sequence of `seed`.
public final class SeededRandomSource: RandomSource {
    private let generator: Mutex<SplitMixRandom>

    public init(seed: UInt64) { generator = Mutex(SplitMixRandom(seed: seed)) }

    public func nextUInt64() -> UInt64 { generator.withLock { $0.next() } }
}

import Glibc

/// Time as the engine reads it, through the seam (`SystemCalls.clock`) so a test can fix it:
/// wall time is what records and published progress carry (and what a reader in another
/// process compares with), monotonic time measures rates, intervals and durations.
public protocol SystemClock: Sendable {
    /// Milliseconds since 1970 (UTC).
    func wallMillis() -> Int64
    /// Seconds on a clock that never goes back (its zero is arbitrary).
    func monotonicSeconds() -> Double
}

/// The kernel's clocks: CLOCK_REALTIME and CLOCK_MONOTONIC.
public struct RealClock: SystemClock {
    public init() {}

    public func wallMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    public func monotonicSeconds() -> Double { Monotonic.now() }
}

/// Where random identities come from, through the seam (`SystemCalls.random`) so a test can
/// make generations and mirror identities reproducible.
public protocol RandomSource: Sendable {
    func nextUInt64() -> UInt64
}

extension RandomSource {
    /// A generation number: never 0 (0 means "none" in a header).
    public func generation() -> UInt64 {
        for _ in 0..<64 {
            let value = nextUInt64()
            if value != 0 { return value }
        }
        return 1  // a source that only says 0 is broken; 1 is still a valid generation
    }

    public func bytes(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count + 8)
        while out.count < count { withUnsafeBytes(of: nextUInt64()) { out.append(contentsOf: $0) } }
        return Array(out.prefix(count))
    }
}

/// The operating system's generator (getrandom), the standard library's default.
public struct SystemRandomSource: RandomSource {
    public init() {}

    public func nextUInt64() -> UInt64 {
        var g = SystemRandomNumberGenerator()
        return g.next()
    }
}

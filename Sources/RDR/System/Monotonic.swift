import Glibc

/// Monotonic seconds from the kernel (CLOCK_MONOTONIC), for rates and deadlines: never goes
/// back when the wall clock is set.
public enum Monotonic {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

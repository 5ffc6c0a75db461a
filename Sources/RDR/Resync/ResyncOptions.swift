/// How a resync copies. The defaults are the benchmark's findings (`rdr-bench` tuning sweeps,
/// Benchmarks/results/results.md), not guesses.
public struct ResyncOptions: Sendable {
    public enum CopyMethod: String, Sendable, CaseIterable {
        /// pread/pwrite through a per-worker aligned buffer.
        case readWrite = "pread"
        /// copy_file_range(2): the kernel moves the bytes (falls back to pread/pwrite if refused).
        case copyFileRange = "copy-file-range"
        /// O_DIRECT reads and writes through a per-worker io_uring queue (`DirectCopier`);
        /// pread/pwrite where io_uring or O_DIRECT is refused and for unaligned tails. Not the
        /// default: on this machine's ext4 it measured no faster than `pread` (2 GiB disk, 10 %
        /// diverged: 0.74 s median either way; README, Performance).
        case uring

        /// Whether this method copies through the device queue when it can.
        var usesDeviceQueue: Bool { self == .uring }
    }

    /// 8: the throughput peak of the workers sweep in all three full benchmark runs (more
    /// workers only queue on the filesystem's inode lock).
    public static let defaultWorkers = 8
    /// 1 MiB: 256 KiB to 8 MiB copy within noise of each other, and 8 workers × 1 MiB buffers
    /// keep a 1 TiB resync near 31 MiB of memory.
    public static let defaultMaxIOSize: Int64 = 1 << 20

    public var workers = ResyncOptions.defaultWorkers
    public var maxIOSize = ResyncOptions.defaultMaxIOSize
    /// Bytes per second; nil = unthrottled (the default: slow defaults are md's and DRBD's
    /// most common complaint).
    public var maxRate: Int64?
    /// Bytes per second while clients read or write the same disk (`--min-rate`); nil = the
    /// default. The resync slows to it under foreground load and never below it; a value at or
    /// above `maxRate` turns the slowdown off.
    public var minRate: Int64?
    /// The throttle's time (a test's clock makes its waits exact).
    var clock: any ThrottleClock = MonotonicClock()
    /// How long after the last foreground request the disk counts as busy.
    var quietSeconds = LoadSensor.defaultQuietSeconds
    public var copyMethod = CopyMethod.readWrite
    /// A checkpoint (target durable, bits cleared) at least this often while copying.
    public var checkpointSeconds = 1.0
    /// … or after this many bytes, whichever comes first.
    public var checkpointBytes: Int64 = 256 << 20
    /// How often progress is published and the observer called: often enough that a record
    /// read by `status` is a small fraction of a percent old (a publish costs ~0.1 ms).
    public var publishSeconds = 0.025
    public var cancellation: CancellationFlag?

    /// 16 MiB/s under foreground load. md keeps 1000 KiB/s (`speed_limit_min`) and DRBD 250
    /// KiB/s (`c-min-rate`), sized for the disks of their day: a 100 GiB resync under steady load
    /// would take 29 hours at md's. Measured here (Benchmarks/results/serve-resync.md, fio's 4
    /// KiB random writes through `rdr serve` during a 2 GiB resync): 1M, 4M and 16M all kept the
    /// client at 62–92 % of its rate alone, 64M cut it to 38 %; without the slowdown it had 9 %.
    /// 16M is the fastest of those that keeps it above half.
    public static let defaultMinRate: Int64 = 16 << 20

    /// The rate under foreground load this resync keeps to.
    public var effectiveMinRate: Int64 { minRate ?? Self.defaultMinRate }

    public init() {}

    /// The documented range of each option (the CLI refuses values outside them, 64).
    public static let workerRange = 1...64
    public static let ioSizeRange: ClosedRange<Int64> = 4096...(64 << 20)
    /// 1 byte per second (a crawl, for tests of the throttle itself) to 1 PiB per second.
    public static let maxRateRange: ClosedRange<Int64> = 1...(1 << 50)
    /// The same range for the rate under load.
    public static let minRateRange = maxRateRange
    public static let checkpointRange = 0.05...3600.0

    public func validate() throws(RDRError) {
        guard Self.workerRange.contains(workers) else {
            throw RDRError(.invalidArgument, "--workers must be 1 to 64, not \(workers)")
        }
        guard Self.ioSizeRange.contains(maxIOSize), maxIOSize % 4096 == 0 else {
            throw RDRError(.invalidArgument, "--io-size must be a multiple of 4K from 4K to 64M, not \(maxIOSize)")
        }
        if let r = maxRate, !Self.maxRateRange.contains(r) {
            throw RDRError(.invalidArgument, "--max-rate must be from 1 to 1P bytes per second, not \(r)")
        }
        if let r = minRate, !Self.minRateRange.contains(r) {
            throw RDRError(.invalidArgument, "--min-rate must be from 1 to 1P bytes per second, not \(r)")
        }
        if let low = minRate, let high = maxRate, low > high {
            throw RDRError(
                .invalidArgument,
                "--min-rate (\(ByteSize.compact(low))) must not be above --max-rate (\(ByteSize.compact(high))); "
                    + "lower it or raise --max-rate")
        }
        guard Self.checkpointRange.contains(checkpointSeconds) else {
            throw RDRError(.invalidArgument, "--checkpoint must be from 0.05 to 3600 seconds, not \(checkpointSeconds)")
        }
    }
}

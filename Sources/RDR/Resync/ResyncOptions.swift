/// How a resync copies. Defaults come from the benchmark (Benchmarks/README.md).
public struct ResyncOptions: Sendable {
    public enum CopyMethod: String, Sendable, CaseIterable {
        /// pread/pwrite through a per-worker aligned buffer.
        case readWrite = "pread"
        /// copy_file_range(2): the kernel moves the bytes (falls back to pread/pwrite if refused).
        case copyFileRange = "copy-file-range"
    }

    /// 8: the benchmark's workers sweep peaks there on this machine (Benchmarks/results).
    public static let defaultWorkers = 8
    public static let defaultMaxIOSize: Int64 = 1 << 20

    public var workers = ResyncOptions.defaultWorkers
    public var maxIOSize = ResyncOptions.defaultMaxIOSize
    /// Bytes per second; nil = unthrottled (the default: slow defaults are md's and DRBD's
    /// most common complaint).
    public var maxRate: Int64?
    public var copyMethod = CopyMethod.readWrite
    /// A checkpoint (target durable, bits cleared) at least this often while copying.
    public var checkpointSeconds = 1.0
    /// … or after this many bytes, whichever comes first.
    public var checkpointBytes: Int64 = 256 << 20
    /// How often progress is published and the observer called: often enough that a record
    /// read by `status` is a small fraction of a percent old (a publish costs ~0.1 ms).
    public var publishSeconds = 0.025
    public var cancellation: CancellationFlag?

    public init() {}

    public func validate() throws(RDRError) {
        guard (1...64).contains(workers) else { throw RDRError(.invalidArgument, "--workers must be 1 to 64, not \(workers)") }
        guard maxIOSize >= 4096, maxIOSize <= 64 << 20, maxIOSize % 4096 == 0 else {
            throw RDRError(.invalidArgument, "--io-size must be a multiple of 4K from 4K to 64M, not \(maxIOSize)")
        }
        if let r = maxRate, r <= 0 { throw RDRError(.invalidArgument, "--max-rate must be positive") }
    }
}

/// What a finished resync did.
public struct ResyncSummary: Sendable, Equatable {
    public var disk: String
    public var source: Enclosure
    public var target: Enclosure
    /// Bytes the whole resync planned when it first started.
    public var bytesPlanned: Int64
    /// Bytes already done by earlier (interrupted) runs.
    public var bytesDoneBefore: Int64
    /// Bytes this run copied from source to target.
    public var bytesCopied: Int64
    /// Bytes this run punched as holes in the target.
    public var bytesPunched: Int64
    public var checkpoints: Int
    public var seconds: Double

    public var mibPerSecond: Double { seconds > 0 ? Double(bytesCopied + bytesPunched) / seconds / 1_048_576 : 0 }
    public var nothingToDo: Bool { bytesPlanned == 0 }
}

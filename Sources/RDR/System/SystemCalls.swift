import Glibc

/// Where the file in `seek(_:_:_:)` should look.
public enum SeekTarget: Sendable {
    case data, hole, end
}

/// The one seam between the engine and the operating system. Every file operation the engine
/// makes — images, metadata, the manifest, the lock and its holder, progress records, directory
/// checks — goes through an instance of this protocol, kernel style: results are non-negative
/// on success and `-errno` on failure (never a global `errno` to read afterwards, which a test
/// double would not set). The clock and the random source come from here too, so a test can fix
/// them. Reliability tests substitute a layer that fails the Nth call or models a power cut
/// (`RDRTestSupport`); production uses `LinuxSystemCalls`.
public protocol SystemCalls: Sendable {
    func open(_ path: String, flags: Int32, mode: mode_t) -> Int32
    func close(_ fd: Int32) -> Int32
    func pread(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int64) -> Int
    func pwrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int, _ offset: Int64) -> Int
    /// write(2) at the file position: with `O_APPEND`, an append (logs).
    func write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int
    func fdatasync(_ fd: Int32) -> Int32
    func fsync(_ fd: Int32) -> Int32
    func ftruncate(_ fd: Int32, _ length: Int64) -> Int32
    func punchHole(_ fd: Int32, _ offset: Int64, _ length: Int64) -> Int32
    func seek(_ fd: Int32, _ offset: Int64, _ target: SeekTarget) -> Int64
    func copyFileRange(
        _ source: Int32, _ sourceOffset: Int64, _ target: Int32, _ targetOffset: Int64,
        _ count: Int
    ) -> Int
    /// FICLONERANGE: `count` bytes of the target at `targetOffset` share the source's extents
    /// (reflink). 0 or -errno (EOPNOTSUPP/EXDEV/EINVAL where the filesystem cannot).
    func cloneRange(
        _ source: Int32, _ sourceOffset: Int64, _ target: Int32, _ targetOffset: Int64,
        _ count: Int
    ) -> Int32
    func rename(_ from: String, _ to: String) -> Int32
    func unlink(_ path: String) -> Int32
    func flock(_ fd: Int32, _ operation: Int32) -> Int32
    /// Marks `fd` close-on-exec (a descriptor inherited from a parent must not leak further).
    func setCloseOnExec(_ fd: Int32) -> Int32
    /// Size, allocation, type and identity of an open file into `status`; 0 or -errno.
    func stat(_ fd: Int32, _ status: inout FileStatus) -> Int32
    /// The same for a path (`followLinks: false` describes a link itself); 0 or -errno.
    func stat(path: String, followLinks: Bool, _ status: inout FileStatus) -> Int32
    /// access(2): 0 when `path` allows `mode` (`F_OK`, `R_OK`, `W_OK`, `X_OK`), else -errno.
    func access(_ path: String, _ mode: Int32) -> Int32
    /// The names in directory `path` (without `.` and `..`) into `names`; 0 or -errno.
    func listDirectory(_ path: String, _ names: inout [String]) -> Int32
    func mkdir(_ path: String, _ mode: mode_t) -> Int32
    func rmdir(_ path: String) -> Int32
    /// Access-pattern hint (posix_fadvise): random turns readahead off. Returns 0 or -errno.
    func adviseRandomAccess(_ fd: Int32, _ random: Bool) -> Int32
    /// Wall time for records and progress, monotonic time for rates and intervals.
    var clock: any SystemClock { get }
    /// Where generations and mirror identities come from.
    var random: any RandomSource { get }
}

extension SystemCalls {
    /// A layer that does not model reflinks refuses them, as a filesystem without them does:
    /// the engine then copies the bytes, which the layer models.
    public func cloneRange(
        _ source: Int32, _ sourceOffset: Int64, _ target: Int32, _ targetOffset: Int64,
        _ count: Int
    ) -> Int32 { -EOPNOTSUPP }
}

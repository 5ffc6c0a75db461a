import CRDRSys
import Glibc

/// What the seam's `stat` says about an open file: size and allocation (sparseness), type, and
/// the identity of the file itself — its inode and, where the filesystem reports one, its birth
/// time. An inode number alone can be reused by a file created after another was deleted; the
/// pair cannot, so it names one file for as long as that file exists.
public struct FileStatus: Sendable, Equatable {
    public var size: Int64
    /// Allocated bytes (st_blocks × 512).
    public var allocated: Int64
    public var inode: UInt64
    /// Birth time in nanoseconds since 1970; 0 when the filesystem does not report one.
    public var birthNanos: UInt64
    public var mode: UInt32

    public init(
        size: Int64, allocated: Int64, inode: UInt64 = 0, birthNanos: UInt64 = 0,
        mode: UInt32 = UInt32(S_IFREG)
    ) {
        self.size = size
        self.allocated = allocated
        self.inode = inode
        self.birthNanos = birthNanos
        self.mode = mode
    }

    /// Nothing known yet: what a `stat` call fills in.
    public init() { self.init(size: 0, allocated: 0, mode: 0) }

    init(_ raw: rdr_file_status) {
        let birth =
            raw.has_birth != 0 && raw.birth_sec > 0
            ? UInt64(raw.birth_sec) &* 1_000_000_000 &+ UInt64(raw.birth_nsec) : 0
        self.init(size: raw.size, allocated: raw.allocated, inode: raw.inode, birthNanos: birth, mode: raw.mode)
    }

    public var isRegular: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFREG) }
    public var isDirectory: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFDIR) }

    /// The file's type in words, for a refusal that says what was found instead.
    public var kind: String {
        switch mode & UInt32(S_IFMT) {
        case UInt32(S_IFREG): return "a regular file"
        case UInt32(S_IFDIR): return "a directory"
        case UInt32(S_IFIFO): return "a FIFO"
        case UInt32(S_IFSOCK): return "a socket"
        case UInt32(S_IFLNK): return "a symbolic link"
        default: return "a device"
        }
    }
}

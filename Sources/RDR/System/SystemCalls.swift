import CRDRSys
import Glibc

/// Where the file in `seek(_:_:_:)` should look.
public enum SeekTarget: Sendable {
    case data, hole, end
}

/// The one seam between the engine and the operating system. Every syscall the engine makes on
/// images, metadata and lock files goes through an instance of this protocol, kernel style:
/// results are non-negative on success and `-errno` on failure. Reliability tests substitute a
/// layer that fails the Nth call or models a power cut; production uses `LinuxSystemCalls`.
public protocol SystemCalls: Sendable {
    func open(_ path: String, flags: Int32, mode: mode_t) -> Int32
    func close(_ fd: Int32) -> Int32
    func pread(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int64) -> Int
    func pwrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int, _ offset: Int64) -> Int
    func fdatasync(_ fd: Int32) -> Int32
    func fsync(_ fd: Int32) -> Int32
    func ftruncate(_ fd: Int32, _ length: Int64) -> Int32
    func punchHole(_ fd: Int32, _ offset: Int64, _ length: Int64) -> Int32
    func seek(_ fd: Int32, _ offset: Int64, _ target: SeekTarget) -> Int64
    func copyFileRange(_ source: Int32, _ sourceOffset: Int64, _ target: Int32, _ targetOffset: Int64, _ count: Int) -> Int
    func rename(_ from: String, _ to: String) -> Int32
    func unlink(_ path: String) -> Int32
    func flock(_ fd: Int32, _ operation: Int32) -> Int32
    /// Size, allocation, type and identity of an open file; nil with errno set on failure.
    func stat(_ fd: Int32) -> FileStatus?
    func mkdir(_ path: String, _ mode: mode_t) -> Int32
    func rmdir(_ path: String) -> Int32
    /// Access-pattern hint (posix_fadvise): random turns readahead off. Returns 0 or -errno.
    func adviseRandomAccess(_ fd: Int32, _ random: Bool) -> Int32
}

/// The real thing: thin calls into Glibc and the CRDRSys shim.
public struct LinuxSystemCalls: SystemCalls {
    public init() {}

    @inline(__always) private func result(_ value: Int32) -> Int32 { value < 0 ? -errno : value }
    @inline(__always) private func result(_ value: Int) -> Int { value < 0 ? -Int(errno) : value }
    @inline(__always) private func result(_ value: Int64) -> Int64 { value < 0 ? -Int64(errno) : value }

    public func open(_ path: String, flags: Int32, mode: mode_t) -> Int32 { result(Glibc.open(path, flags, mode)) }
    public func close(_ fd: Int32) -> Int32 { result(Glibc.close(fd)) }
    public func pread(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int64) -> Int {
        result(Glibc.pread(fd, buffer, count, off_t(offset)))
    }
    public func pwrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int, _ offset: Int64) -> Int {
        result(Glibc.pwrite(fd, buffer, count, off_t(offset)))
    }
    public func fdatasync(_ fd: Int32) -> Int32 { result(Glibc.fdatasync(fd)) }
    public func fsync(_ fd: Int32) -> Int32 { result(Glibc.fsync(fd)) }
    public func ftruncate(_ fd: Int32, _ length: Int64) -> Int32 { result(Glibc.ftruncate(fd, off_t(length))) }
    public func punchHole(_ fd: Int32, _ offset: Int64, _ length: Int64) -> Int32 {
        result(rdr_punch_hole(fd, offset, length))
    }
    public func seek(_ fd: Int32, _ offset: Int64, _ target: SeekTarget) -> Int64 {
        switch target {
        case .data: return result(rdr_seek_data(fd, offset))
        case .hole: return result(rdr_seek_hole(fd, offset))
        case .end: return result(Int64(Glibc.lseek(fd, 0, SEEK_END)))
        }
    }
    public func copyFileRange(_ source: Int32, _ sourceOffset: Int64, _ target: Int32, _ targetOffset: Int64, _ count: Int) -> Int {
        result(Int(rdr_copy_file_range(source, sourceOffset, target, targetOffset, UInt64(count))))
    }
    public func rename(_ from: String, _ to: String) -> Int32 { result(Glibc.rename(from, to)) }
    public func unlink(_ path: String) -> Int32 { result(Glibc.unlink(path)) }
    public func flock(_ fd: Int32, _ operation: Int32) -> Int32 { result(rdr_flock(fd, operation)) }
    public func adviseRandomAccess(_ fd: Int32, _ random: Bool) -> Int32 { -rdr_advise_random(fd, random ? 1 : 0) }
    public func stat(_ fd: Int32) -> FileStatus? {
        var raw = rdr_file_status()
        guard rdr_fstat(fd, &raw) == 0 else { return nil }
        return FileStatus(raw)
    }
    public func mkdir(_ path: String, _ mode: mode_t) -> Int32 { result(Glibc.mkdir(path, mode)) }
    public func rmdir(_ path: String) -> Int32 { result(Glibc.rmdir(path)) }
}

import CRDRSys
import Glibc

/// The real thing: thin calls into Glibc and the CRDRSys shim. `errno` is read right after the
/// call that set it and turned into the `-errno` result, so no caller ever reads it.
public struct LinuxSystemCalls: SystemCalls {
    public let clock: any SystemClock
    public let random: any RandomSource

    public init(clock: any SystemClock = RealClock(), random: any RandomSource = SystemRandomSource()) {
        self.clock = clock
        self.random = random
    }

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
    public func write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
        result(Glibc.write(fd, buffer, count))
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
    public func copyFileRange(
        _ source: Int32, _ sourceOffset: Int64, _ target: Int32, _ targetOffset: Int64,
        _ count: Int
    ) -> Int {
        result(Int(rdr_copy_file_range(source, sourceOffset, target, targetOffset, UInt64(count))))
    }
    public func cloneRange(
        _ source: Int32, _ sourceOffset: Int64, _ target: Int32, _ targetOffset: Int64,
        _ count: Int
    ) -> Int32 {
        result(rdr_clone_range(source, sourceOffset, target, targetOffset, UInt64(count)))
    }
    public func rename(_ from: String, _ to: String) -> Int32 { result(Glibc.rename(from, to)) }
    public func unlink(_ path: String) -> Int32 { result(Glibc.unlink(path)) }
    public func flock(_ fd: Int32, _ operation: Int32) -> Int32 { result(rdr_flock(fd, operation)) }
    public func setCloseOnExec(_ fd: Int32) -> Int32 { result(fcntl(fd, F_SETFD, FD_CLOEXEC)) }
    public func adviseRandomAccess(_ fd: Int32, _ random: Bool) -> Int32 { -rdr_advise_random(fd, random ? 1 : 0) }
    public func stat(_ fd: Int32, _ status: inout FileStatus) -> Int32 {
        var raw = rdr_file_status()
        guard rdr_fstat(fd, &raw) == 0 else { return -errno }
        status = FileStatus(raw)
        return 0
    }
    public func stat(path: String, followLinks: Bool, _ status: inout FileStatus) -> Int32 {
        var raw = rdr_file_status()
        guard rdr_stat_path(path, followLinks ? 1 : 0, &raw) == 0 else { return -errno }
        status = FileStatus(raw)
        return 0
    }
    public func access(_ path: String, _ mode: Int32) -> Int32 { result(Glibc.access(path, mode)) }
    public func listDirectory(_ path: String, _ names: inout [String]) -> Int32 {
        guard let dir = opendir(path) else { return -errno }
        defer { closedir(dir) }
        names = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else { return errno == 0 ? 0 : -errno }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
    }
    public func mkdir(_ path: String, _ mode: mode_t) -> Int32 { result(Glibc.mkdir(path, mode)) }
    public func rmdir(_ path: String) -> Int32 { result(Glibc.rmdir(path)) }
}

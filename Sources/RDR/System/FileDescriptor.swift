import CRDRSys
import Glibc

/// An open file in the style of swift-system's `FileDescriptor`: Swift names, typed `Errno`
/// errors carrying the operation and path, `EINTR` retried for I/O (never for close), and
/// reads/writes that loop until the whole transfer is done.
public struct FileDescriptor: Sendable {
    public let rawValue: Int32
    public let path: String
    public let sys: any SystemCalls

    public enum Access: Sendable { case readOnly, readWrite }

    /// Opens an existing file. Never through a symbolic link (a link inside a system could
    /// make a write land outside it), and never blocking (a FIFO put where a file belongs must
    /// be refused, not waited on); O_NONBLOCK changes nothing for regular files.
    public static func open(_ path: String, _ access: Access, sys: any SystemCalls) throws(Errno) -> FileDescriptor {
        let flags = (access == .readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK
        return try openRaw(path, flags: flags, mode: 0, sys: sys)
    }

    /// Opens an existing file with O_DIRECT: transfers bypass the page cache, so buffers,
    /// offsets and lengths must be aligned to the device's logical block (4096 is safe);
    /// a misaligned one fails with EINVAL.
    public static func openDirect(
        _ path: String, _ access: Access,
        sys: any SystemCalls
    ) throws(Errno) -> FileDescriptor {
        let flags = (access == .readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | rdr_o_direct()
        return try openRaw(path, flags: flags, mode: 0, sys: sys)
    }

    /// Opens (creating it if missing) a file for appending: every `append` lands at its end,
    /// even with another writer (an activity log). Never through a symbolic link.
    public static func openForAppending(_ path: String, sys: any SystemCalls) throws(Errno) -> FileDescriptor {
        try openRaw(path, flags: O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, mode: 0o644, sys: sys)
    }

    /// The whole file at `path`, refused with EFBIG past `limit` bytes (see `readWholeFile`).
    public static func readFile(_ path: String, limit: Int, sys: any SystemCalls) throws(Errno) -> [UInt8] {
        let fd = try open(path, .readOnly, sys: sys)
        defer { fd.close() }
        return try fd.readWholeFile(limit: limit)
    }

    /// Creates a file (`O_CREAT | O_EXCL` unless `replace`) opened for reading and writing,
    /// never through a symbolic link.
    public static func create(_ path: String, replace: Bool = false, sys: any SystemCalls) throws(Errno)
        -> FileDescriptor
    {
        let flags = O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (replace ? O_TRUNC : O_EXCL)
        return try openRaw(path, flags: flags, mode: 0o644, sys: sys)
    }

    /// Opens with exactly `flags` (EINTR retried): the other openers' building block.
    public static func openRaw(
        _ path: String, flags: Int32, mode: mode_t,
        sys: any SystemCalls
    ) throws(Errno) -> FileDescriptor {
        var attempts = 0
        while true {
            let fd = sys.open(path, flags: flags, mode: mode)
            if fd >= 0 { return FileDescriptor(rawValue: fd, path: path, sys: sys) }
            attempts += 1
            if -fd == EINTR && attempts < 100 { continue }
            throw Errno(code: -fd, operation: "open", path: path)
        }
    }

    public func close() {
        _ = sys.close(rawValue)
    }

    /// Reads exactly `count` bytes unless the file ends first; returns the bytes read.
    @discardableResult
    public func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int64) throws(Errno) -> Int {
        var done = 0
        var interrupts = 0
        while done < count {
            let n = sys.pread(rawValue, buffer + done, count - done, offset + Int64(done))
            if n > 0 {
                done += n
                continue
            }
            if n == 0 { break }
            if Int32(-n) == EINTR && interrupts < 1000 {
                interrupts += 1
                continue
            }
            throw Errno(code: Int32(-n), operation: "read", path: path)
        }
        return done
    }

    /// Reads exactly `count` bytes; reaching the end of the file first is an error.
    public func readFully(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int64) throws(Errno) {
        let n = try read(into: buffer, count: count, at: offset)
        if n != count { throw Errno(code: EIO, operation: "read (file ends at \(offset + Int64(n)))", path: path) }
    }

    /// Writes all `count` bytes, looping over short writes.
    public func write(from buffer: UnsafeRawPointer, count: Int, at offset: Int64) throws(Errno) {
        var done = 0
        var stalls = 0
        while done < count {
            let n = sys.pwrite(rawValue, buffer + done, count - done, offset + Int64(done))
            if n > 0 {
                done += n
                stalls = 0
                continue
            }
            if n == 0 {
                stalls += 1
                if stalls < 100 { continue }
                throw Errno(code: EIO, operation: "write (no progress)", path: path)
            }
            if Int32(-n) == EINTR && stalls < 1000 {
                stalls += 1
                continue
            }
            throw Errno(code: Int32(-n), operation: "write", path: path)
        }
    }

    /// Appends all `count` bytes at the end of a file opened with `openForAppending`, looping
    /// over short writes; a failed append throws (never dropped silently).
    public func append(from buffer: UnsafeRawPointer, count: Int) throws(Errno) {
        var done = 0
        var stalls = 0
        while done < count {
            let n = sys.write(rawValue, buffer + done, count - done)
            if n > 0 {
                done += n
                stalls = 0
                continue
            }
            stalls += 1
            if n == 0 && stalls < 100 { continue }
            if n < 0 && Int32(-n) == EINTR && stalls < 1000 { continue }
            if n == 0 { throw Errno(code: EIO, operation: "append (no progress)", path: path) }
            throw Errno(code: Int32(-n), operation: "append", path: path)
        }
    }

    public func append(_ bytes: [UInt8]) throws(Errno) {
        try withBytes(bytes) { (raw) throws(Errno) in
            guard let base = raw.baseAddress else { return }
            try append(from: base, count: raw.count)
        }
    }

    public func write(_ bytes: [UInt8], at offset: Int64) throws(Errno) {
        try withBytes(bytes) { (raw) throws(Errno) in
            guard let base = raw.baseAddress else { return }
            try write(from: base, count: raw.count, at: offset)
        }
    }

    public func readBytes(count: Int, at offset: Int64) throws(Errno) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = try withMutableBytes(&bytes) { (raw) throws(Errno) -> Int in
            guard let base = raw.baseAddress else { return 0 }
            return try read(into: base, count: count, at: offset)
        }
        if n < count { bytes.removeLast(count - n) }
        return bytes
    }

    /// The whole file, refused with EFBIG past `limit` bytes. Sized by fstat, so a small file
    /// costs a small buffer (a fixed worst-case buffer cost 16 MiB of zeroed pages per call).
    public func readWholeFile(limit: Int) throws(Errno) -> [UInt8] {
        let size = try status().size
        guard size <= Int64(limit) else { throw Errno(code: EFBIG, operation: "read", path: path) }
        return try readBytes(count: Int(size), at: 0)
    }

    public func dataSync() throws(Errno) {
        try retrying("fdatasync") { sys.fdatasync(rawValue) }
    }

    public func sync() throws(Errno) {
        try retrying("fsync") { sys.fsync(rawValue) }
    }

    public func truncate(to length: Int64) throws(Errno) {
        try retrying("ftruncate") { sys.ftruncate(rawValue, length) }
    }

    public func punchHole(at offset: Int64, length: Int64) throws(Errno) {
        guard length > 0 else { return }
        try retrying("punch hole") { sys.punchHole(rawValue, offset, length) }
    }

    /// Copies `count` bytes in the kernel; returns how many moved (may be short).
    public func copyRange(
        to target: FileDescriptor, from offset: Int64, to targetOffset: Int64,
        count: Int
    ) throws(Errno) -> Int {
        var interrupts = 0
        while true {
            let n = sys.copyFileRange(rawValue, offset, target.rawValue, targetOffset, count)
            if n >= 0 { return n }
            if Int32(-n) == EINTR && interrupts < 1000 {
                interrupts += 1
                continue
            }
            throw Errno(code: Int32(-n), operation: "copy_file_range to \(target.path) from", path: path)
        }
    }

    /// Makes `count` bytes of `target` at `targetOffset` share this file's extents at `offset`
    /// (FICLONERANGE). Offsets and count must be multiples of the filesystem block size.
    public func cloneRange(
        to target: FileDescriptor, from offset: Int64, to targetOffset: Int64,
        count: Int
    ) throws(Errno) {
        try retrying("clone range (FICLONERANGE) to \(target.path) from") {
            sys.cloneRange(rawValue, offset, target.rawValue, targetOffset, count)
        }
    }

    /// The start of the next data at or after `offset`, or nil when only a hole follows.
    public func nextData(from offset: Int64) throws(Errno) -> Int64? {
        let r = sys.seek(rawValue, offset, .data)
        if r >= 0 { return r }
        if Int32(-r) == ENXIO { return nil }
        throw Errno(code: Int32(-r), operation: "seek data", path: path)
    }

    /// The start of the next hole at or after `offset` (the end of the file counts as a hole).
    public func nextHole(from offset: Int64) throws(Errno) -> Int64 {
        let r = sys.seek(rawValue, offset, .hole)
        if r >= 0 { return r }
        throw Errno(code: Int32(-r), operation: "seek hole", path: path)
    }

    /// A hint only: a kernel that ignores it changes nothing, so failures are not errors.
    public func adviseRandomAccess(_ random: Bool) {
        _ = sys.adviseRandomAccess(rawValue, random)
    }

    public func status() throws(Errno) -> FileStatus {
        var st = FileStatus()
        let r = sys.stat(rawValue, &st)
        guard r == 0 else { throw Errno(code: -r, operation: "stat", path: path) }
        return st
    }

    private func retrying(_ operation: String, _ call: () -> Int32) throws(Errno) {
        var interrupts = 0
        while true {
            let r = call()
            if r >= 0 { return }
            if -r == EINTR && interrupts < 1000 {
                interrupts += 1
                continue
            }
            throw Errno(code: -r, operation: operation, path: path)
        }
    }
}

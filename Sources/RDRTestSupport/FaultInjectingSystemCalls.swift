import Glibc
import RDR
import Synchronization

/// The kinds of call a fault can be aimed at.
public enum SyscallKind: String, Sendable, CaseIterable {
    case pread, pwrite, fdatasync, fsync, rename, ftruncate, fallocate, copyFileRange
    /// write(2) at the file position: appends (logs).
    case write
    /// stat of an open file (`FileDescriptor.status()`).
    case stat
    /// open(2) of a file or directory (a temporary session file, the log, a staging copy).
    case open
    /// mkdir(2) (the staging area, a log backup directory).
    case mkdir
}

/// A fault to inject.
public enum InjectedFault: String, Sendable, CaseIterable {
    /// The call fails with EIO.
    case eio
    /// The call fails with ENOSPC.
    case enospc
    /// A read or write moves only part of its bytes (the seam's loops must finish the job).
    case short
}

/// A `SystemCalls` layer for reliability tests: counts every call by kind and makes the Nth
/// call of one kind fail. Everything else passes through to Linux. With `paths`, only calls on
/// files whose path it accepts are counted and can fail (a sweep over the session and log
/// files leaves the images alone).
public final class FaultInjectingSystemCalls: SystemCalls {
    private let base: LinuxSystemCalls
    private let target: (kind: SyscallKind, n: Int, fault: InjectedFault)?
    private let accepts: (@Sendable (String) -> Bool)?
    private struct State {
        var counts: [SyscallKind: Int] = [:]
        var fired = 0
        var paths: [Int32: String] = [:]
        var firedOn: String?
    }
    private let state = Mutex(State())

    public init(
        failing kind: SyscallKind? = nil, call n: Int = 0, with fault: InjectedFault = .eio,
        paths: (@Sendable (String) -> Bool)? = nil, base: LinuxSystemCalls = LinuxSystemCalls()
    ) {
        self.base = base
        target = kind.map { ($0, n, fault) }
        accepts = paths
    }

    public var clock: any SystemClock { base.clock }
    public var random: any RandomSource { base.random }

    /// Calls of each kind made so far.
    public var callCounts: [SyscallKind: Int] { state.withLock { $0.counts } }
    /// Whether the fault was injected.
    public var fired: Bool { state.withLock { $0.fired > 0 } }
    /// The file the injected fault hit (for a rename, its source).
    public var firedPath: String? { state.withLock { $0.firedOn } }

    private func tick(_ kind: SyscallKind, fd: Int32? = nil, path: String? = nil) -> InjectedFault? {
        state.withLock { s in
            let file = path ?? fd.flatMap { s.paths[$0] }
            if let accepts, !(file.map(accepts) ?? false) { return nil }
            s.counts[kind, default: 0] += 1
            guard let t = target, t.kind == kind, s.counts[kind] == t.n else { return nil }
            s.fired += 1
            s.firedOn = file
            return t.fault
        }
    }

    private func errno(_ f: InjectedFault) -> Int32 { f == .enospc ? ENOSPC : EIO }

    /// A transfer: short moves half (at least one byte), the others fail.
    private func transfer(_ kind: SyscallKind, fd: Int32, _ count: Int, _ call: (Int) -> Int) -> Int {
        guard let f = tick(kind, fd: fd) else { return call(count) }
        return f == .short ? call(max(1, count / 2)) : -Int(errno(f))
    }

    private func plain(_ kind: SyscallKind, fd: Int32? = nil, path: String? = nil, _ call: () -> Int32) -> Int32 {
        tick(kind, fd: fd, path: path).map { -errno($0) } ?? call()
    }

    public func open(_ path: String, flags: Int32, mode: mode_t) -> Int32 {
        if let f = tick(.open, path: path) { return -errno(f) }
        let fd = base.open(path, flags: flags, mode: mode)
        if fd >= 0 { state.withLock { $0.paths[fd] = path } }
        return fd
    }
    public func close(_ fd: Int32) -> Int32 {
        state.withLock { _ = $0.paths.removeValue(forKey: fd) }
        return base.close(fd)
    }
    public func pread(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int64) -> Int {
        transfer(.pread, fd: fd, count) { base.pread(fd, buffer, $0, offset) }
    }
    public func pwrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int, _ offset: Int64) -> Int {
        transfer(.pwrite, fd: fd, count) { base.pwrite(fd, buffer, $0, offset) }
    }
    public func write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
        transfer(.write, fd: fd, count) { base.write(fd, buffer, $0) }
    }
    public func fdatasync(_ fd: Int32) -> Int32 { plain(.fdatasync, fd: fd) { base.fdatasync(fd) } }
    public func fsync(_ fd: Int32) -> Int32 { plain(.fsync, fd: fd) { base.fsync(fd) } }
    public func ftruncate(_ fd: Int32, _ length: Int64) -> Int32 {
        plain(.ftruncate, fd: fd) { base.ftruncate(fd, length) }
    }
    public func punchHole(_ fd: Int32, _ offset: Int64, _ length: Int64) -> Int32 {
        plain(.fallocate, fd: fd) { base.punchHole(fd, offset, length) }
    }
    public func seek(_ fd: Int32, _ offset: Int64, _ target: SeekTarget) -> Int64 { base.seek(fd, offset, target) }
    public func copyFileRange(
        _ source: Int32, _ sourceOffset: Int64, _ target: Int32, _ targetOffset: Int64,
        _ count: Int
    ) -> Int {
        transfer(.copyFileRange, fd: target, count) {
            base.copyFileRange(source, sourceOffset, target, targetOffset, $0)
        }
    }
    public func rename(_ from: String, _ to: String) -> Int32 { plain(.rename, path: from) { base.rename(from, to) } }
    public func unlink(_ path: String) -> Int32 { base.unlink(path) }
    public func flock(_ fd: Int32, _ operation: Int32) -> Int32 { base.flock(fd, operation) }
    public func setCloseOnExec(_ fd: Int32) -> Int32 { base.setCloseOnExec(fd) }
    public func stat(_ fd: Int32, _ status: inout FileStatus) -> Int32 {
        plain(.stat, fd: fd) { base.stat(fd, &status) }
    }
    public func stat(path: String, followLinks: Bool, _ status: inout FileStatus) -> Int32 {
        base.stat(path: path, followLinks: followLinks, &status)
    }
    public func access(_ path: String, _ mode: Int32) -> Int32 { base.access(path, mode) }
    public func listDirectory(_ path: String, _ names: inout [String]) -> Int32 { base.listDirectory(path, &names) }
    public func adviseRandomAccess(_ fd: Int32, _ random: Bool) -> Int32 { base.adviseRandomAccess(fd, random) }
    public func mkdir(_ path: String, _ mode: mode_t) -> Int32 { plain(.mkdir, path: path) { base.mkdir(path, mode) } }
    public func rmdir(_ path: String) -> Int32 { base.rmdir(path) }
}

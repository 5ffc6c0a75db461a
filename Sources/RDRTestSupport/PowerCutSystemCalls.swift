import Glibc
import RDR
import Synchronization

/// A `SystemCalls` layer that models a power cut. Writes reach the files at once (so the
/// engine runs normally), but every write not yet followed by an fsync/fdatasync of its file is
/// remembered with the bytes it replaced. `crash(_:)` then decides, per pending write, whether
/// it reached the platter: all dropped, a random subset kept, or all kept but the last torn at
/// a 512-byte boundary. After `cut()` every call fails, as if the machine had stopped.
///
/// An append (`write`, the activity log) is pending the same way until its file is synced: the
/// crash cuts the file back to where it ended before the append, then keeps, drops or tears the
/// appended bytes like any write.
///
/// Model limits (documented, not hidden): rename, ftruncate and unlink are durable at once, and
/// a punched hole is undone by writing back the old bytes (the result has the same bytes).
public final class PowerCutSystemCalls: SystemCalls {
    private let base: LinuxSystemCalls
    private struct Pending {
        var offset: Int64
        var old: [UInt8]
        var new: [UInt8]
        /// An append: the file's length before it (the crash cuts the file back to it).
        var appendedAt: Int64?
    }
    private struct State {
        var paths: [Int32: String] = [:]
        var pending: [String: [Pending]] = [:]
        var dead = false
        var calls = 0
    }
    private let state = Mutex(State())
    /// After this many calls the power goes (nil: never by itself).
    public let cutAfter: Int?

    public init(cutAfter: Int? = nil, base: LinuxSystemCalls = LinuxSystemCalls()) {
        self.cutAfter = cutAfter
        self.base = base
    }

    public enum CrashMode: Sendable {
        case dropAll
        case keepRandom(seed: UInt64)
        case tearLast(seed: UInt64)
    }

    public var clock: any SystemClock { base.clock }
    public var random: any RandomSource { base.random }
    public var callCount: Int { state.withLock { $0.calls } }

    /// Stops the machine: every later call fails with EIO.
    public func cut() { state.withLock { $0.dead = true } }

    private func alive() -> Bool {
        state.withLock { s in
            s.calls += 1
            if let c = cutAfter, s.calls > c { s.dead = true }
            return !s.dead
        }
    }

    private func remember(_ fd: Int32, _ offset: Int64, _ new: [UInt8]) {
        guard let path = state.withLock({ $0.paths[fd] }) else { return }
        var old = [UInt8](repeating: 0, count: new.count)
        let n = old.withUnsafeMutableBytes { base.pread(fd, $0.baseAddress!, new.count, offset) }
        if n < new.count { old.removeLast(new.count - max(0, n)) }  // past the end: nothing to restore there
        state.withLock { $0.pending[path, default: []].append(Pending(offset: offset, old: old, new: new)) }
    }

    /// An append at the end of `fd`'s file, remembered with where the file ended before it.
    private func rememberAppend(_ fd: Int32, _ new: [UInt8]) {
        guard let path = state.withLock({ $0.paths[fd] }) else { return }
        let end = base.seek(fd, 0, .end)
        guard end >= 0 else { return }
        state.withLock {
            $0.pending[path, default: []].append(Pending(offset: end, old: [], new: new, appendedAt: end))
        }
    }

    private func synced(_ fd: Int32) {
        state.withLock { s in if let p = s.paths[fd] { s.pending[p] = nil } }
    }

    /// Applies the power cut to the files: what was not durable is lost as `mode` says.
    public func crash(_ mode: CrashMode) {
        let all = state.withLock { s -> [String: [Pending]] in
            s.dead = true
            defer { s.pending = [:] }
            return s.pending
        }
        var rng = SplitMixRandom(seed: mode.seed)
        for (path, writes) in all {
            let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { Glibc.close(fd) }
            // Back to the durable bytes (newest first), then replay the writes that made it.
            for w in writes.reversed() {
                if let end = w.appendedAt { Glibc.ftruncate(fd, off_t(end)) }
                if w.old.isEmpty { continue }
                _ = w.old.withUnsafeBytes { Glibc.pwrite(fd, $0.baseAddress, w.old.count, off_t(w.offset)) }
            }
            for (i, w) in writes.enumerated() {
                var bytes = w.new
                switch mode {
                case .dropAll: continue
                case .keepRandom:
                    if rng.next() % 2 == 0 { continue }
                case .tearLast:
                    if i == writes.count - 1 {
                        let sectors = (bytes.count + 511) / 512
                        bytes = Array(bytes.prefix(Int(rng.next() % UInt64(max(1, sectors))) * 512))
                    }
                }
                _ = bytes.withUnsafeBytes { Glibc.pwrite(fd, $0.baseAddress, bytes.count, off_t(w.offset)) }
            }
            Glibc.fsync(fd)
        }
    }

    public func open(_ path: String, flags: Int32, mode: mode_t) -> Int32 {
        guard alive() else { return -EIO }
        let fd = base.open(path, flags: flags, mode: mode)
        if fd >= 0 { state.withLock { $0.paths[fd] = path } }
        return fd
    }
    public func close(_ fd: Int32) -> Int32 {
        state.withLock { $0.paths[fd] = nil }
        return base.close(fd)
    }
    public func pread(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int64) -> Int {
        alive() ? base.pread(fd, buffer, count, offset) : -Int(EIO)
    }
    public func pwrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int, _ offset: Int64) -> Int {
        guard alive() else { return -Int(EIO) }
        remember(fd, offset, Array(UnsafeRawBufferPointer(start: buffer, count: count)))
        return base.pwrite(fd, buffer, count, offset)
    }
    public func write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
        guard alive() else { return -Int(EIO) }
        rememberAppend(fd, Array(UnsafeRawBufferPointer(start: buffer, count: count)))
        return base.write(fd, buffer, count)
    }
    public func fdatasync(_ fd: Int32) -> Int32 {
        guard alive() else { return -EIO }
        let r = base.fdatasync(fd)
        if r == 0 { synced(fd) }
        return r
    }
    public func fsync(_ fd: Int32) -> Int32 {
        guard alive() else { return -EIO }
        let r = base.fsync(fd)
        if r == 0 { synced(fd) }
        return r
    }
    public func ftruncate(_ fd: Int32, _ length: Int64) -> Int32 { alive() ? base.ftruncate(fd, length) : -EIO }
    public func punchHole(_ fd: Int32, _ offset: Int64, _ length: Int64) -> Int32 {
        guard alive() else { return -EIO }
        if length <= 16 << 20 { remember(fd, offset, [UInt8](repeating: 0, count: Int(length))) }
        return base.punchHole(fd, offset, length)
    }
    public func seek(_ fd: Int32, _ offset: Int64, _ target: SeekTarget) -> Int64 {
        alive() ? base.seek(fd, offset, target) : -Int64(EIO)
    }
    public func copyFileRange(
        _ source: Int32, _ sourceOffset: Int64, _ target: Int32, _ targetOffset: Int64,
        _ count: Int
    ) -> Int {
        -Int(EXDEV)  // modelled through pread/pwrite, which the engine falls back to
    }
    public func rename(_ from: String, _ to: String) -> Int32 { alive() ? base.rename(from, to) : -EIO }
    public func unlink(_ path: String) -> Int32 { alive() ? base.unlink(path) : -EIO }
    public func flock(_ fd: Int32, _ operation: Int32) -> Int32 { base.flock(fd, operation) }
    public func setCloseOnExec(_ fd: Int32) -> Int32 { base.setCloseOnExec(fd) }
    public func stat(_ fd: Int32, _ status: inout FileStatus) -> Int32 { alive() ? base.stat(fd, &status) : -EIO }
    public func stat(path: String, followLinks: Bool, _ status: inout FileStatus) -> Int32 {
        alive() ? base.stat(path: path, followLinks: followLinks, &status) : -EIO
    }
    public func access(_ path: String, _ mode: Int32) -> Int32 { alive() ? base.access(path, mode) : -EIO }
    public func listDirectory(_ path: String, _ names: inout [String]) -> Int32 {
        alive() ? base.listDirectory(path, &names) : -EIO
    }
    public func adviseRandomAccess(_ fd: Int32, _ random: Bool) -> Int32 {
        alive() ? base.adviseRandomAccess(fd, random) : -EIO
    }
    public func mkdir(_ path: String, _ mode: mode_t) -> Int32 { alive() ? base.mkdir(path, mode) : -EIO }
    public func rmdir(_ path: String) -> Int32 { alive() ? base.rmdir(path) : -EIO }
}

extension PowerCutSystemCalls.CrashMode {
    /// The seed of the random choices; `dropAll` makes none, so any seed does.
    var seed: UInt64 {
        switch self {
        case .dropAll: return 1
        case .keepRandom(let s), .tearLast(let s): return s
        }
    }
}

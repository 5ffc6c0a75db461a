import Foundation
import Glibc

/// The kinds of call a fault can be aimed at.
public enum SyscallKind: String, Sendable, CaseIterable {
    case pread, pwrite, fdatasync, fsync, rename, ftruncate, fallocate, copyFileRange
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
/// call of one kind fail. Everything else passes through to Linux.
public final class FaultInjectingSystemCalls: SystemCalls, @unchecked Sendable {
    private let base = LinuxSystemCalls()
    private let lock = NSLock()
    private var counts: [SyscallKind: Int] = [:]
    private var target: (kind: SyscallKind, n: Int, fault: InjectedFault)?
    private var firedCount = 0
    private var paths: [Int32: String] = [:]
    private var firedOn: String?

    public init(failing kind: SyscallKind? = nil, call n: Int = 0, with fault: InjectedFault = .eio) {
        if let kind { target = (kind, n, fault) }
    }

    /// Calls of each kind made so far.
    public var callCounts: [SyscallKind: Int] { lock.withLock { counts } }
    /// Whether the fault was injected.
    public var fired: Bool { lock.withLock { firedCount > 0 } }
    /// The file the injected fault hit (for a rename, its source).
    public var firedPath: String? { lock.withLock { firedOn } }

    private func tick(_ kind: SyscallKind, fd: Int32? = nil, path: String? = nil) -> InjectedFault? {
        lock.withLock {
            counts[kind, default: 0] += 1
            guard let t = target, t.kind == kind, counts[kind] == t.n else { return nil }
            firedCount += 1
            firedOn = path ?? fd.flatMap { paths[$0] }
            return t.fault
        }
    }

    private func errno(_ f: InjectedFault) -> Int32 { f == .enospc ? ENOSPC : EIO }

    public func open(_ path: String, flags: Int32, mode: mode_t) -> Int32 {
        let fd = base.open(path, flags: flags, mode: mode)
        if fd >= 0 { lock.withLock { paths[fd] = path } }
        return fd
    }
    public func close(_ fd: Int32) -> Int32 {
        lock.withLock { _ = paths.removeValue(forKey: fd) }
        return base.close(fd)
    }
    public func pread(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int64) -> Int {
        guard let f = tick(.pread, fd: fd) else { return base.pread(fd, buffer, count, offset) }
        return f == .short ? base.pread(fd, buffer, max(1, count / 2), offset) : -Int(errno(f))
    }
    public func pwrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int, _ offset: Int64) -> Int {
        guard let f = tick(.pwrite, fd: fd) else { return base.pwrite(fd, buffer, count, offset) }
        return f == .short ? base.pwrite(fd, buffer, max(1, count / 2), offset) : -Int(errno(f))
    }
    public func fdatasync(_ fd: Int32) -> Int32 { tick(.fdatasync, fd: fd).map { -errno($0) } ?? base.fdatasync(fd) }
    public func fsync(_ fd: Int32) -> Int32 { tick(.fsync, fd: fd).map { -errno($0) } ?? base.fsync(fd) }
    public func ftruncate(_ fd: Int32, _ length: Int64) -> Int32 { tick(.ftruncate, fd: fd).map { -errno($0) } ?? base.ftruncate(fd, length) }
    public func punchHole(_ fd: Int32, _ offset: Int64, _ length: Int64) -> Int32 {
        tick(.fallocate, fd: fd).map { -errno($0) } ?? base.punchHole(fd, offset, length)
    }
    public func seek(_ fd: Int32, _ offset: Int64, _ target: SeekTarget) -> Int64 { base.seek(fd, offset, target) }
    public func copyFileRange(_ source: Int32, _ sourceOffset: Int64, _ target: Int32, _ targetOffset: Int64, _ count: Int) -> Int {
        guard let f = tick(.copyFileRange, fd: target) else { return base.copyFileRange(source, sourceOffset, target, targetOffset, count) }
        return f == .short ? base.copyFileRange(source, sourceOffset, target, targetOffset, max(1, count / 2)) : -Int(errno(f))
    }
    public func rename(_ from: String, _ to: String) -> Int32 { tick(.rename, path: from).map { -errno($0) } ?? base.rename(from, to) }
    public func unlink(_ path: String) -> Int32 { base.unlink(path) }
    public func flock(_ fd: Int32, _ operation: Int32) -> Int32 { base.flock(fd, operation) }
    public func stat(_ fd: Int32) -> FileStatus? { base.stat(fd) }
    public func adviseRandomAccess(_ fd: Int32, _ random: Bool) -> Int32 { base.adviseRandomAccess(fd, random) }
    public func mkdir(_ path: String, _ mode: mode_t) -> Int32 { base.mkdir(path, mode) }
    public func rmdir(_ path: String) -> Int32 { base.rmdir(path) }
}

/// A `SystemCalls` layer that models a power cut. Writes reach the files at once (so the
/// engine runs normally), but every write not yet followed by an fsync/fdatasync of its file is
/// remembered with the bytes it replaced. `crash(_:)` then decides, per pending write, whether
/// it reached the platter: all dropped, a random subset kept, or all kept but the last torn at
/// a 512-byte boundary. After `cut()` every call fails, as if the machine had stopped.
///
/// Model limits (documented, not hidden): rename, ftruncate and unlink are durable at once, and a
/// punched hole is undone by writing back the old bytes (the result has the same bytes).
public final class PowerCutSystemCalls: SystemCalls, @unchecked Sendable {
    private let base = LinuxSystemCalls()
    private let lock = NSLock()
    private var paths: [Int32: String] = [:]
    private struct Pending { var offset: Int64; var old: [UInt8]; var new: [UInt8] }
    private var pending: [String: [Pending]] = [:]
    private var dead = false
    private var calls = 0
    /// After this many calls the power goes (nil: never by itself).
    public var cutAfter: Int?

    public init(cutAfter: Int? = nil) { self.cutAfter = cutAfter }

    public enum CrashMode: Sendable { case dropAll, keepRandom(seed: UInt64), tearLast(seed: UInt64) }

    public var isCut: Bool { lock.withLock { dead } }
    public var pendingWrites: Int { lock.withLock { pending.values.reduce(0) { $0 + $1.count } } }
    public var callCount: Int { lock.withLock { calls } }

    /// Stops the machine: every later call fails with EIO.
    public func cut() { lock.withLock { dead = true } }

    private func alive() -> Bool {
        lock.withLock {
            calls += 1
            if let c = cutAfter, calls > c { dead = true }
            return !dead
        }
    }

    private func remember(_ fd: Int32, _ offset: Int64, _ new: [UInt8]) {
        guard let path = lock.withLock({ paths[fd] }) else { return }
        var old = [UInt8](repeating: 0, count: new.count)
        let n = old.withUnsafeMutableBytes { base.pread(fd, $0.baseAddress!, new.count, offset) }
        if n < new.count { old.removeLast(new.count - max(0, n)) }  // past the end: nothing to restore there
        lock.withLock { pending[path, default: []].append(Pending(offset: offset, old: old, new: new)) }
    }

    private func synced(_ fd: Int32) {
        lock.withLock { if let p = paths[fd] { pending[p] = nil } }
    }

    /// Applies the power cut to the files: what was not durable is lost as `mode` says.
    public func crash(_ mode: CrashMode) {
        let all = lock.withLock { () -> [String: [Pending]] in
            dead = true
            defer { pending = [:] }
            return pending
        }
        var rng = mode.seed.map { SplitMixRandom(seed: $0) }
        for (path, writes) in all {
            let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { Glibc.close(fd) }
            // Back to the durable bytes (newest first), then replay the writes that made it.
            for w in writes.reversed() where !w.old.isEmpty {
                _ = w.old.withUnsafeBytes { Glibc.pwrite(fd, $0.baseAddress, w.old.count, off_t(w.offset)) }
            }
            for (i, w) in writes.enumerated() {
                var bytes = w.new
                switch mode {
                case .dropAll: continue
                case .keepRandom:
                    if rng!.next() % 2 == 0 { continue }
                case .tearLast:
                    if i == writes.count - 1 {
                        let sectors = (bytes.count + 511) / 512
                        bytes = Array(bytes.prefix(Int(rng!.next() % UInt64(max(1, sectors))) * 512))
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
        if fd >= 0 { lock.withLock { paths[fd] = path } }
        return fd
    }
    public func close(_ fd: Int32) -> Int32 {
        lock.withLock { paths[fd] = nil }
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
    public func seek(_ fd: Int32, _ offset: Int64, _ target: SeekTarget) -> Int64 { alive() ? base.seek(fd, offset, target) : -Int64(EIO) }
    public func copyFileRange(_ source: Int32, _ sourceOffset: Int64, _ target: Int32, _ targetOffset: Int64, _ count: Int) -> Int {
        -Int(EXDEV)  // modelled through pread/pwrite, which the engine falls back to
    }
    public func rename(_ from: String, _ to: String) -> Int32 { alive() ? base.rename(from, to) : -EIO }
    public func unlink(_ path: String) -> Int32 { alive() ? base.unlink(path) : -EIO }
    public func flock(_ fd: Int32, _ operation: Int32) -> Int32 { base.flock(fd, operation) }
    public func stat(_ fd: Int32) -> FileStatus? { alive() ? base.stat(fd) : nil }
    public func adviseRandomAccess(_ fd: Int32, _ random: Bool) -> Int32 { alive() ? base.adviseRandomAccess(fd, random) : -EIO }
    public func mkdir(_ path: String, _ mode: mode_t) -> Int32 { alive() ? base.mkdir(path, mode) : -EIO }
    public func rmdir(_ path: String) -> Int32 { alive() ? base.rmdir(path) : -EIO }
}

extension PowerCutSystemCalls.CrashMode {
    var seed: UInt64? {
        switch self {
        case .dropAll: return 1
        case .keepRandom(let s), .tearLast(let s): return s
        }
    }
}

/// A tiny seedable generator (SplitMix64) for reproducible fault schedules.
public struct SplitMixRandom: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

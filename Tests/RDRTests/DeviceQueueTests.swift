import Synchronization
import XCTest

@testable import RDR

/// The device path (`--copy-method uring`: O_DIRECT through io_uring, `DirectCopier`) and its
/// fallback to threads: the same bytes, holes, resume record and concurrent writes as the
/// thread path.
final class DeviceQueueTests: XCTestCase {
    let region: Int64 = 64 << 10
    /// Not a multiple of 4 KiB: the last 1,536 bytes go through pread/pwrite.
    let size: Int64 = (16 << 20) + 1536

    func uring() -> ResyncOptions {
        var o = ResyncOptions()
        o.copyMethod = .uring
        return o
    }

    /// Both sides wrote since the split; the target alone wrote on a source hole (region 200).
    func diverged(_ t: TempSystem) throws -> VirtualDisk {
        let d = try t.system.disk("boot")
        try d.write(side: nil, offset: 0, bytes: pattern(Int(2 * region), seed: 100))
        try d.flush()
        try d.split()
        try d.write(side: .side(.production), offset: region / 2, bytes: pattern(Int(region), seed: 1))
        try d.write(side: .side(.production), offset: 1 << 20, bytes: pattern(6 << 20, seed: 2))
        try d.write(side: .side(.production), offset: size - 6000, bytes: pattern(6000, seed: 3))
        try d.write(side: .side(.upgrade), offset: 200 * region + 7, bytes: pattern(5000, seed: 4))
        return d
    }

    func system() throws -> TempSystem {
        try TempSystem(disks: [DiskSpec(name: "boot", size: size, role: .system, regionSize: region)])
    }

    func testDeviceQueueGivesTheSameBytesAndKeepsHoles() throws {
        let t = try system()
        guard !(try XFSMount.isTmpfs(t.path)) else { throw XCTSkip("\(t.path) is on tmpfs: O_DIRECT is refused there") }
        let d = try diverged(t)
        let expected = contents(t.image("boot", .ten))
        let s = try d.resync(from: .ten, options: uring())
        XCTAssertEqual(contents(t.image("boot", .eleven)), expected, "target equals the source over the whole disk")
        XCTAssertEqual(contents(t.image("boot", .ten)), expected, "source unchanged")
        XCTAssertTrue(
            isHole(t.image("boot", .eleven), offset: 200 * region, length: region),
            "target-only write on a source hole became a hole")
        XCTAssertTrue(
            isHole(t.image("boot", .eleven), offset: 120 * region, length: 60 * region),
            "never-written space stays a hole")
        XCTAssertEqual(s.bytesCloned, 0, "no reflinks here")
        XCTAssertEqual(
            s.bytesCopied - s.bytesDirect, 1536, "only the disk's last partial block went through pread/pwrite")
        XCTAssertGreaterThan(s.bytesDirect, 6 << 20)
        XCTAssertEqual(d.dirtyBytes, [0, 0])
        XCTAssertEqual(try t.reopen().disk("boot").verify().mismatched.count, 0)
    }

    /// io_uring refused (the seam `RDR_IO_URING_REFUSE`, as with `io_uring_disabled`): every
    /// byte goes through the thread path, with the same result.
    func testRefusedIOURingFallsBackToThreads() throws {
        setenv(IOURing.refusalVariable, "EPERM", 1)
        defer { unsetenv(IOURing.refusalVariable) }
        let t = try system()
        let d = try diverged(t)
        let expected = contents(t.image("boot", .ten))
        let s = try d.resync(from: .ten, options: uring())
        XCTAssertEqual(contents(t.image("boot", .eleven)), expected)
        XCTAssertTrue(isHole(t.image("boot", .eleven), offset: 200 * region, length: region))
        XCTAssertEqual(s.bytesDirect, 0)
        XCTAssertGreaterThan(s.bytesCopied, 6 << 20)
        XCTAssertEqual(d.dirtyBytes, [0, 0])
    }

    /// Cancelled once some work is done: the checkpointed part is kept, the resumed run copies
    /// only the rest.
    func testCancelledDeviceQueueResyncResumesCopyingOnlyTheRest() throws {
        let total: Int64 = 128 << 20
        let t = try TempSystem(disks: [DiskSpec(name: "boot", size: total, role: .system, regionSize: region)])
        let d = try t.system.disk("boot")
        try d.split()
        // Written and compared in pieces: the test process's memory stays low (a child process
        // started later reports the parent's peak RSS as its own).
        for at in stride(from: Int64(0), to: total, by: 8 << 20) {
            try d.write(side: .side(.production), offset: at, bytes: pattern(8 << 20, seed: 9, offset: at))
        }
        var o = uring()
        o.workers = 1
        o.maxIOSize = 256 << 10
        let flag = CancellationFlag()
        o.cancellation = flag
        XCTAssertThrowsRDR(.interrupted, containing: "resume it with 'rdr disk resync boot --from 10'") {
            _ = try d.resync(from: .ten, options: o, observer: { p in if p.bytesDone > 0 { flag.cancel() } })
        }
        let stopped = try t.reopen().disk("boot")
        XCTAssertEqual(stopped.record.mode, .resyncing)
        let remaining = stopped.dirtyBytes[1]
        XCTAssertGreaterThan(remaining, 0)
        XCTAssertLessThan(remaining, total, "some work was checkpointed")
        let s = try stopped.resync(from: .ten, options: uring())
        XCTAssertLessThanOrEqual(
            s.bytesCopied + s.bytesPunched, remaining, "the resumed run copies only what was not checkpointed")
        XCTAssertEqual(s.bytesDoneBefore, total - remaining)
        XCTAssertTrue(try sameBytes(t.image("boot", .ten), t.image("boot", .eleven)), "target equals the source")
        XCTAssertEqual(stopped.dirtyBytes, [0, 0])
    }

    /// A writer keeps writing while the device path copies: both members end identical and
    /// hold exactly the initial data plus every write, replayed in order onto a model.
    func testWritesDuringDeviceQueueResyncReachBothMembers() throws {
        let t = try TempSystem(disks: [DiskSpec(name: "boot", size: 24 << 20, role: .system, regionSize: region)])
        let d = try t.system.disk("boot")
        try d.split()
        try d.write(side: .side(.production), offset: 0, bytes: pattern(16 << 20, seed: 5))
        var o = uring()
        o.workers = 2
        o.maxIOSize = 128 << 10
        let s = try resyncUnderConcurrentWrites(t, d, initialBytes: 16 << 20, writes: 300, slots: 380, pause: 200) {
            try d.resync(from: .ten, options: o)
        }
        XCTAssertGreaterThan(s.bytesDirect, 0)
    }
}

/// Whether two files hold the same bytes, read 1 MiB at a time.
func sameBytes(_ a: String, _ b: String) throws -> Bool {
    guard let x = FileHandle(forReadingAtPath: a), let y = FileHandle(forReadingAtPath: b) else { return false }
    defer {
        try? x.close()
        try? y.close()
    }
    while true {
        let p = try x.read(upToCount: 1 << 20) ?? Data()
        let q = try y.read(upToCount: 1 << 20) ?? Data()
        if p != q { return false }
        if p.isEmpty { return true }
    }
}

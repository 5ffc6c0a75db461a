import Glibc
import Synchronization
import XCTest

@testable import RDR

/// Resync where both members live on a filesystem with reflinks: data extents are cloned
/// (FICLONERANGE), the unaligned tail is copied, and the result passes the same byte-for-byte
/// checks as every other resync. The filesystem is an XFS image made and loop-mounted here.
final class ReflinkTests: XCTestCase {
    let region: Int64 = 64 << 10
    /// Not a multiple of 4 KiB: the last 1,536 bytes cannot be cloned and are copied. Small, so
    /// the test process's memory stays low (a child's reported peak RSS includes the parent's).
    let size: Int64 = (16 << 20) + 1536

    func testResyncOnXFSSharesTheSourceExtentsAndGivesTheSameBytes() throws {
        let xfs = try XFSMount()
        defer { xfs.remove() }
        let t = try TempSystem(
            disks: [DiskSpec(name: "boot", size: size, role: .system, regionSize: region)],
            under: xfs.mountPoint + "/")
        let d = try t.system.disk("boot")
        try d.write(side: nil, offset: 0, bytes: pattern(Int(2 * region), seed: 100))
        try d.flush()
        try d.split()
        try d.write(side: .side(.production), offset: 1 << 20, bytes: pattern(4 << 20, seed: 1))
        try d.write(side: .side(.production), offset: size - 6000, bytes: pattern(6000, seed: 2))
        try d.write(side: .side(.upgrade), offset: 200 * region + 7, bytes: pattern(5000, seed: 3))
        let source = t.image("boot", .ten)
        let target = t.image("boot", .eleven)
        let expected = contents(source)
        let summary = try d.resync(from: .ten)
        XCTAssertEqual(contents(target), expected, "target equals the source over the whole disk")
        XCTAssertEqual(contents(source), expected, "source unchanged")
        XCTAssertTrue(
            isHole(target, offset: 200 * region, length: region), "target-only write on a source hole became a hole")
        XCTAssertTrue(isHole(target, offset: 210 * region, length: 40 * region), "never-written space stays a hole")
        XCTAssertEqual(d.dirtyBytes, [0, 0])
        XCTAssertEqual(try t.reopen().disk("boot", access: .readOnly).dirtyBytes, [0, 0])
        // Region 200, and region 255 but its last two blocks (where the source has data).
        XCTAssertEqual(summary.bytesPunched, region + region - 8192)
        // Everything written on the source since the split but the disk's last partial block.
        XCTAssertEqual(summary.bytesCloned, (4 << 20) + 8192)
        XCTAssertEqual(summary.bytesCopied, summary.bytesCloned + 1536)
        let shared = try XFSMount.sharedBytes(target, in: (1 << 20)..<(5 << 20))
        XCTAssertEqual(shared, 4 << 20, "the 4 MiB written on the source are shared extents of the target")
    }

    /// Where the filesystem has no reflinks (the test's temporary directory, ext4 here), the
    /// first clone is refused, the refusal is remembered (one attempt for many extents), and
    /// every byte is copied.
    func testRefusedCloneIsAskedOnceAndFallsBackToCopying() throws {
        let root = NSTemporaryDirectory() + "rdr-refuse-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: root) }
        let sys = CountingClones()
        let system = try RDRSystem.create(
            at: root, disks: [DiskSpec(name: "boot", size: size, role: .system, regionSize: region)],
            primary: .ten, force: false, sys: sys)
        guard try !XFSMount.hasReflinks(root) else { throw XCTSkip("\(root) has reflinks: nothing is refused there") }
        let d = try system.disk("boot")
        try d.split()
        for i in 0..<8 {
            try d.write(
                side: .side(.production), offset: Int64(i) * (2 << 20), bytes: pattern(512 << 10, seed: UInt64(i)))
        }
        let expected = contents(root + "/boot-10.img")
        var o = ResyncOptions()
        o.workers = 1
        let summary = try d.resync(from: .ten, options: o)
        XCTAssertEqual(contents(root + "/boot-11.img"), expected)
        XCTAssertEqual(summary.bytesCloned, 0)
        XCTAssertEqual(summary.bytesCopied, 8 * (512 << 10))
        XCTAssertEqual(sys.clones.load(ordering: .relaxed), 1, "eight extents, one refused clone")
        XCTAssertEqual(d.dirtyBytes, [0, 0])
    }
}

/// The real system calls, counting FICLONERANGE attempts.
final class CountingClones: SystemCalls {
    let base = LinuxSystemCalls()
    let clones = Atomic<Int>(0)
    var clock: any SystemClock { base.clock }
    var random: any RandomSource { base.random }

    func cloneRange(_ source: Int32, _ sourceOffset: Int64, _ target: Int32, _ targetOffset: Int64, _ count: Int)
        -> Int32
    {
        clones.add(1, ordering: .relaxed)
        return base.cloneRange(source, sourceOffset, target, targetOffset, count)
    }
    func open(_ path: String, flags: Int32, mode: mode_t) -> Int32 { base.open(path, flags: flags, mode: mode) }
    func close(_ fd: Int32) -> Int32 { base.close(fd) }
    func pread(_ fd: Int32, _ b: UnsafeMutableRawPointer, _ n: Int, _ o: Int64) -> Int { base.pread(fd, b, n, o) }
    func pwrite(_ fd: Int32, _ b: UnsafeRawPointer, _ n: Int, _ o: Int64) -> Int { base.pwrite(fd, b, n, o) }
    func write(_ fd: Int32, _ b: UnsafeRawPointer, _ n: Int) -> Int { base.write(fd, b, n) }
    func fdatasync(_ fd: Int32) -> Int32 { base.fdatasync(fd) }
    func fsync(_ fd: Int32) -> Int32 { base.fsync(fd) }
    func ftruncate(_ fd: Int32, _ length: Int64) -> Int32 { base.ftruncate(fd, length) }
    func punchHole(_ fd: Int32, _ o: Int64, _ n: Int64) -> Int32 { base.punchHole(fd, o, n) }
    func seek(_ fd: Int32, _ o: Int64, _ t: SeekTarget) -> Int64 { base.seek(fd, o, t) }
    func copyFileRange(_ s: Int32, _ so: Int64, _ t: Int32, _ to: Int64, _ n: Int) -> Int {
        base.copyFileRange(s, so, t, to, n)
    }
    func rename(_ from: String, _ to: String) -> Int32 { base.rename(from, to) }
    func unlink(_ path: String) -> Int32 { base.unlink(path) }
    func flock(_ fd: Int32, _ operation: Int32) -> Int32 { base.flock(fd, operation) }
    func setCloseOnExec(_ fd: Int32) -> Int32 { base.setCloseOnExec(fd) }
    func stat(_ fd: Int32, _ status: inout FileStatus) -> Int32 { base.stat(fd, &status) }
    func stat(path: String, followLinks: Bool, _ status: inout FileStatus) -> Int32 {
        base.stat(path: path, followLinks: followLinks, &status)
    }
    func access(_ path: String, _ mode: Int32) -> Int32 { base.access(path, mode) }
    func listDirectory(_ path: String, _ names: inout [String]) -> Int32 { base.listDirectory(path, &names) }
    func mkdir(_ path: String, _ mode: mode_t) -> Int32 { base.mkdir(path, mode) }
    func rmdir(_ path: String) -> Int32 { base.rmdir(path) }
    func adviseRandomAccess(_ fd: Int32, _ random: Bool) -> Int32 { base.adviseRandomAccess(fd, random) }
}

/// A 512 MiB XFS image with reflinks, loop-mounted for one test; skips (with the reason) when
/// not root, without mkfs.xfs or without a loop device.
struct XFSMount {
    let directory: String
    var mountPoint: String { directory + "/mnt" }

    init() throws {
        guard getuid() == 0 else { throw XCTSkip("not root: cannot loop-mount an XFS image") }
        guard Self.run("command -v mkfs.xfs").ok else {
            throw XCTSkip("mkfs.xfs not installed (Debian package xfsprogs)")
        }
        guard access("/dev/loop-control", F_OK) == 0 else { throw XCTSkip("no loop device (/dev/loop-control)") }
        directory = NSTemporaryDirectory() + "rdr-xfs-" + UUID().uuidString
        let image = directory + "/xfs.img"
        guard
            Self.run(
                "mkdir -p '\(directory)/mnt' && truncate -s 512M '\(image)' && mkfs.xfs -q -m reflink=1 '\(image)'"
            ).ok
        else {
            try? FileManager.default.removeItem(atPath: directory)
            throw XCTSkip("mkfs.xfs -m reflink=1 failed")
        }
        let mounted = Self.run("mount -o loop '\(image)' '\(directory)/mnt'")
        guard mounted.ok else {
            try? FileManager.default.removeItem(atPath: directory)
            throw XCTSkip("cannot loop-mount the XFS image: \(mounted.output)")
        }
    }

    func remove() {
        _ = Self.run("umount '\(mountPoint)'")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Whether `path` is on XFS or btrfs (filesystems that may have reflinks).
    static func hasReflinks(_ path: String) throws -> Bool {
        let type = run("stat -f -c %T '\(path)'").output.trimmingCharacters(in: .whitespacesAndNewlines)
        return type == "xfs" || type == "btrfs"
    }

    /// Whether `path` is on tmpfs (which refuses O_DIRECT).
    static func isTmpfs(_ path: String) throws -> Bool {
        run("stat -f -c %T '\(path)'").output.trimmingCharacters(in: .whitespacesAndNewlines) == "tmpfs"
    }

    /// Bytes of `range` in extents `filefrag -v` flags `shared`.
    static func sharedBytes(_ path: String, in range: Range<Int64>) throws -> Int64 {
        let r = run("filefrag -v -b4096 '\(path)'")
        guard r.ok else { throw XCTSkip("filefrag failed: \(r.output)") }
        var total: Int64 = 0
        // "   0:        0..    1023:         24..      1047:   1024:             last,shared,eof"
        for line in r.output.split(separator: "\n") where line.contains("shared") {
            let fields = line.split(whereSeparator: { $0 == ":" || $0 == " " || $0 == "." }).compactMap { Int64($0) }
            guard fields.count >= 3 else { continue }
            let extent = (fields[1] * 4096)..<((fields[2] + 1) * 4096)
            let overlap =
                max(
                    extent.lowerBound, range.lowerBound)..<max(
                    min(extent.upperBound, range.upperBound), max(extent.lowerBound, range.lowerBound))
            total += Int64(overlap.count)
        }
        return total
    }

    static func run(_ command: String) -> (ok: Bool, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command + " 2>&1"]
        let pipe = Pipe()
        p.standardOutput = pipe
        do { try p.run() } catch { return (false, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus == 0, String(decoding: data, as: UTF8.self))
    }
}

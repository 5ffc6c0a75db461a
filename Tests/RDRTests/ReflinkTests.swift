import XCTest
import Glibc
@testable import RDR

/// Resync where both members live on a filesystem with reflinks: data extents are cloned
/// (FICLONERANGE), the unaligned tail is copied, and the result passes the same byte-for-byte
/// checks as every other resync. The filesystem is an XFS image made and loop-mounted here.
final class ReflinkTests: XCTestCase {
    let region: Int64 = 64 << 10
    /// Not a multiple of 4 KiB: the last 1,536 bytes cannot be cloned and are copied.
    let size: Int64 = (64 << 20) + 1536

    func testResyncOnXFSSharesTheSourceExtentsAndGivesTheSameBytes() throws {
        let xfs = try XFSMount()
        defer { xfs.remove() }
        let t = try TempSystem(disks: [DiskSpec(name: "boot", size: size, role: .system, regionSize: region)],
                               under: xfs.mountPoint + "/")
        let d = try t.system.disk("boot")
        try d.write(side: nil, offset: 0, bytes: pattern(Int(2 * region), seed: 100))
        try d.flush()
        try d.split()
        try d.write(side: .side(.production), offset: 1 << 20, bytes: pattern(8 << 20, seed: 1))
        try d.write(side: .side(.production), offset: size - 6000, bytes: pattern(6000, seed: 2))
        try d.write(side: .side(.upgrade), offset: 200 * region + 7, bytes: pattern(5000, seed: 3))
        let source = t.image("boot", .ten), target = t.image("boot", .eleven)
        let expected = contents(source)
        let summary = try d.resync(from: .ten)
        XCTAssertEqual(contents(target), expected, "target equals the source over the whole disk")
        XCTAssertEqual(contents(source), expected, "source unchanged")
        XCTAssertTrue(isHole(target, offset: 200 * region, length: region), "target-only write on a source hole became a hole")
        XCTAssertTrue(isHole(target, offset: 300 * region, length: 100 * region), "never-written space stays a hole")
        XCTAssertEqual(d.dirtyBytes, [0, 0])
        XCTAssertEqual(try t.reopen().disk("boot", access: .readOnly).dirtyBytes, [0, 0])
        // Region 200, and region 1023 but its last two blocks (where the source has data).
        XCTAssertEqual(summary.bytesPunched, region + region - 8192)
        // Everything written on the source since the split but the disk's last partial block.
        XCTAssertEqual(summary.bytesCloned, (8 << 20) + 8192)
        XCTAssertEqual(summary.bytesCopied, summary.bytesCloned + 1536)
        let shared = try XFSMount.sharedBytes(target, in: (1 << 20)..<(9 << 20))
        XCTAssertEqual(shared, 8 << 20, "the 8 MiB written on the source are shared extents of the target")
    }

    /// Where the filesystem has no reflinks (the test's temporary directory, ext4 here), the
    /// first clone is refused and every byte is copied.
    func testRefusedCloneFallsBackToCopying() throws {
        let t = try TempSystem(disks: [DiskSpec(name: "boot", size: size, role: .system, regionSize: region)])
        guard try !XFSMount.hasReflinks(t.path) else { throw XCTSkip("\(t.path) has reflinks: nothing is refused there") }
        let d = try t.system.disk("boot")
        try d.split()
        try d.write(side: .side(.production), offset: 1 << 20, bytes: pattern(4 << 20, seed: 1))
        let expected = contents(t.image("boot", .ten))
        let summary = try d.resync(from: .ten)
        XCTAssertEqual(contents(t.image("boot", .eleven)), expected)
        XCTAssertEqual(summary.bytesCloned, 0)
        XCTAssertEqual(summary.bytesCopied, 4 << 20)
        XCTAssertEqual(d.dirtyBytes, [0, 0])
    }
}

/// A 512 MiB XFS image with reflinks, loop-mounted for one test; skips (with the reason) when
/// not root, without mkfs.xfs or without a loop device.
struct XFSMount {
    let directory: String
    var mountPoint: String { directory + "/mnt" }

    init() throws {
        guard getuid() == 0 else { throw XCTSkip("not root: cannot loop-mount an XFS image") }
        guard Self.run("command -v mkfs.xfs").ok else { throw XCTSkip("mkfs.xfs not installed (Debian package xfsprogs)") }
        guard access("/dev/loop-control", F_OK) == 0 else { throw XCTSkip("no loop device (/dev/loop-control)") }
        directory = NSTemporaryDirectory() + "rdr-xfs-" + UUID().uuidString
        let image = directory + "/xfs.img"
        guard Self.run("mkdir -p '\(directory)/mnt' && truncate -s 512M '\(image)' && mkfs.xfs -q -m reflink=1 '\(image)'").ok else {
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
            let overlap = max(extent.lowerBound, range.lowerBound)..<max(min(extent.upperBound, range.upperBound), max(extent.lowerBound, range.lowerBound))
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

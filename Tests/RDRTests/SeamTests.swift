import Foundation
import RDRTestSupport
import XCTest

@testable import RDR

/// The OS seam: failures arrive as codes, the clock and the random source are injected, and
/// the file helpers the upper layers use go through it.
final class SeamTests: XCTestCase {
    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "rdr-seam-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// A stat that fails in a test double reaches the caller with the double's code: nothing
    /// reads the global errno, which a double never sets.
    func testAFailedStatReportsItsOwnCode() throws {
        let path = try tempDir() + "/f"
        try Data("x".utf8).write(to: URL(fileURLWithPath: path))
        for fault in [InjectedFault.eio, .enospc] {
            let sys = FaultInjectingSystemCalls(failing: .stat, call: 1, with: fault)
            let fd = try FileDescriptor.open(path, .readOnly, sys: sys)
            defer { fd.close() }
            errno = 0
            XCTAssertThrowsError(try fd.status()) {
                XCTAssertEqual(($0 as? Errno)?.code, fault == .eio ? EIO : ENOSPC)
                XCTAssertEqual(($0 as? Errno)?.operation, "stat")
            }
            XCTAssertEqual(try fd.status().size, 1, "the next stat passes through")
        }
    }

    /// Generations, mirror identities, resync start times, progress records and the lock
    /// holder's time all come from the seam's clock and random source.
    func testClockAndRandomSourceAreInjected() throws {
        let wall: Int64 = 1_800_000_000_000  // 2027-01-15T08:00:00Z
        func system(_ dir: String) throws -> RDRSystem {
            let sys = LinuxSystemCalls(clock: FixedClock(wallMillis: wall), random: SeededRandomSource(seed: 7))
            return try RDRSystem.create(
                at: dir, disks: [DiskSpec(name: "d", size: 1 << 20, role: .system)],
                primary: .ten, force: false, sys: sys)
        }
        let a = try system(try tempDir() + "/a")
        let b = try system(try tempDir() + "/b")
        XCTAssertEqual(a.manifest.disks[0].mirrorID, b.manifest.disks[0].mirrorID, "the same seed, the same identity")
        let da = try a.disk("d")
        let db = try b.disk("d")
        XCTAssertEqual(da.record.generations, db.record.generations)
        let g = SeededRandomSource(seed: 7).nextUInt64()
        XCTAssertEqual(da.record.baseGeneration, g, "the first generation is the source's first value")
        try da.split()
        try da.write(side: .side(.production), offset: 0, bytes: pattern(4096, seed: 1))
        try da.merge()
        try da.beginResync(from: .ten)
        XCTAssertEqual(da.record.resyncStartedMillis, UInt64(wall))
        _ = try da.resync(from: .ten)
        let record = try JSONDecoder().decode(ResyncProgress.self, from: contents(a.progressPath(disk: "d")))
        XCTAssertEqual(record.updatedMillis, wall)
        XCTAssertEqual(record.state, .finished)
        let lock = try a.lock(command: "test")
        defer { lock.release() }
        let holder = try String(contentsOfFile: a.path + "/.rdr.lock.holder", encoding: .utf8)
        XCTAssertTrue(holder.contains("since 2027-01-15T08:00:00Z"), holder)
    }

    func testFileHelpersForTheUpperLayers() throws {
        let dir = try tempDir()
        let sys = LinuxSystemCalls()
        let log = try FileDescriptor.openForAppending(dir + "/log", sys: sys)
        try log.append(Array("one\n".utf8))
        try log.append(Array("two\n".utf8))
        try log.sync()
        log.close()
        XCTAssertEqual(try FileDescriptor.readFile(dir + "/log", limit: 100, sys: sys), Array("one\ntwo\n".utf8))
        XCTAssertThrowsError(try FileDescriptor.readFile(dir + "/log", limit: 7, sys: sys)) {
            XCTAssertEqual(($0 as? Errno)?.code, EFBIG, "a file past the limit is refused, not read")
        }
        try Directory.copyFile(dir + "/log", to: dir + "/copy", sys: sys)
        XCTAssertEqual(contents(dir + "/copy"), contents(dir + "/log"))
        XCTAssertThrowsError(
            try Directory.copyFile(dir + "/log", to: dir + "/copy", sys: sys),
            "never replaced unasked")
        XCTAssertEqual(try Directory.make(dir + "/x/y", sys: sys), [dir + "/x", dir + "/x/y"])
        XCTAssertTrue(Directory.isDirectory(dir + "/x/y", sys: sys))
        XCTAssertFalse(Directory.isDirectory(dir + "/log", sys: sys))
        XCTAssertEqual(try Directory.entries(dir, sys: sys).sorted(), ["copy", "log", "x"])
        XCTAssertTrue(symlink(dir + "/log", dir + "/x/y/link") == 0)
        try Directory.removeTree(dir + "/x", sys: sys)
        XCTAssertEqual(try Directory.entries(dir, sys: sys).sorted(), ["copy", "log"], "the tree is gone")
        XCTAssertEqual(contents(dir + "/log"), Data("one\ntwo\n".utf8), "a link's target is never removed")
        try Directory.removeTree(dir + "/x", sys: sys)  // already gone: not an error
        XCTAssertFalse(Directory.isExecutableFile(dir + "/log", sys: sys))
        XCTAssertTrue(chmod(dir + "/log", 0o755) == 0)
        XCTAssertTrue(Directory.isExecutableFile(dir + "/log", sys: sys))
        XCTAssertFalse(Directory.isExecutableFile(dir, sys: sys), "a directory is not an executable file")
        XCTAssertEqual(PathName.lastComponent(dir + "/x/y/"), "y")
        XCTAssertEqual(PathName.parent(of: "/a"), "/")
        XCTAssertEqual(PathName.appending("b", to: "a/"), "a/b")
        XCTAssertEqual(PathName.pathExtension("x/shop.Config"), "Config")
    }

    /// A failed append is an error the caller sees, never a silently shorter log.
    func testAFailedAppendIsReported() throws {
        let dir = try tempDir()
        let sys = FaultInjectingSystemCalls(failing: .write, call: 2, with: .enospc)
        let log = try FileDescriptor.openForAppending(dir + "/log", sys: sys)
        defer { log.close() }
        try log.append(Array("one\n".utf8))
        XCTAssertThrowsError(try log.append(Array("two\n".utf8))) { XCTAssertEqual(($0 as? Errno)?.code, ENOSPC) }
    }

    func testTextFormatIsPrintf() {
        for value in [0.0, 1.5, 2.25, 1e-7, 123456.789, -3.14159] {
            XCTAssertEqual(TextFormat.fixed(value, decimals: 2), String(format: "%.2f", value))
            XCTAssertEqual(TextFormat.general(value), String(format: "%g", value))
        }
        XCTAssertEqual(
            TextFormat.fixed(1e300, decimals: 30), String(format: "%.30f", 1e300),
            "longer than the first buffer")
        XCTAssertEqual(TextFormat.zeroPadded(7, width: 2), "07")
        XCTAssertEqual(TextFormat.hex(10, width: 2), "0a")
        XCTAssertEqual(TextFormat.hex(0x1F600, width: 4, uppercase: true), "1F600")
        XCTAssertEqual(TextFormat.trimmed("\n  x y \n"), "x y")
        XCTAssertEqual(TextFormat.trimmed("\nx\n", where: { $0.isNewline }), "x")
        XCTAssertEqual(ByteSize.format(1536 << 20), "1.5 GiB")
    }
}

import Synchronization
import XCTest

@testable import RDR

/// Resync: bytes, holes, direction, resume, concurrent writes, full resync, verify.
final class ResyncTests: XCTestCase {
    let region: Int64 = 64 << 10

    /// A split disk where both sides wrote, overlapping and not, and the target alone wrote
    /// regions that are holes on the source.
    func diverged(_ t: TempSystem, disk: String = "boot") throws -> VirtualDisk {
        let d = try t.system.disk(disk)
        try d.write(side: nil, offset: 0, bytes: pattern(Int(2 * region), seed: 100))  // common data
        try d.flush()
        try d.split()
        try d.write(side: .side(.production), offset: region / 2, bytes: pattern(Int(region), seed: 1))
        try d.write(side: .side(.production), offset: 10 * region, bytes: pattern(Int(3 * region), seed: 2))
        if d.role.isSystem {
            try d.write(side: .side(.upgrade), offset: 11 * region, bytes: pattern(Int(region), seed: 3))
            try d.write(side: .side(.upgrade), offset: 40 * region + 7, bytes: pattern(5000, seed: 4))
        }
        return d
    }

    func testResyncMakesTargetIdenticalToSourceAndKeepsHoles() throws {
        let t = try TempSystem()
        let d = try diverged(t)
        let expected = contents(t.image("boot", .ten))
        let summary = try d.resync(from: .ten)
        XCTAssertEqual(contents(t.image("boot", .eleven)), expected, "target equals the source over the whole disk")
        XCTAssertEqual(contents(t.image("boot", .ten)), expected, "source unchanged")
        XCTAssertTrue(
            isHole(t.image("boot", .eleven), offset: 40 * region, length: region),
            "target-only write on a source hole became a hole")
        XCTAssertTrue(
            isHole(t.image("boot", .eleven), offset: 100 * region, length: 20 * region),
            "never-written space stays a hole")
        XCTAssertEqual(
            summary.bytesPlanned, 6 * region, "union: regions 0, 1, 10, 12 (production), 11 (both), 40 (upgrade)")
        XCTAssertEqual(summary.bytesCopied + summary.bytesPunched, 6 * region)
        XCTAssertEqual(summary.bytesPunched, region, "region 40 is a hole on the source")
        let r = d.record
        XCTAssertEqual(r.mode, .duplex)
        XCTAssertEqual(r.generations[0], r.generations[1])
        XCTAssertEqual(r.baseGeneration, r.generations[0])
        XCTAssertEqual(d.dirtyBytes, [0, 0])
        let reopened = try t.reopen().disk("boot", access: .readOnly)
        XCTAssertEqual(reopened.record, r)
        XCTAssertEqual(reopened.dirtyBytes, [0, 0])
        XCTAssertEqual(try t.reopen().disk("boot").verify().mismatched.count, 0)
    }

    func testCommitDirectionOverwritesTargetOnlyWrites() throws {
        let t = try TempSystem()
        let d = try diverged(t)
        let expected = contents(t.image("boot", .eleven))
        _ = try d.resync(
            from: .eleven,
            options: {
                var o = ResyncOptions()
                o.workers = 1
                o.maxIOSize = 64 << 10
                return o
            }())
        XCTAssertEqual(
            contents(t.image("boot", .ten)), expected, "Production's split writes are overwritten by the Upgrade member"
        )
        XCTAssertTrue(
            isHole(t.image("boot", .ten), offset: 10 * region, length: region),
            "production-only data on an upgrade hole is punched")
    }

    func testCopyFileRangeGivesTheSameBytes() throws {
        let t = try TempSystem()
        let d = try diverged(t)
        let expected = contents(t.image("boot", .ten))
        var o = ResyncOptions()
        o.copyMethod = .copyFileRange
        _ = try d.resync(from: .ten, options: o)
        XCTAssertEqual(contents(t.image("boot", .eleven)), expected)
    }

    func testDuplexInSyncHasNothingToDo() throws {
        let t = try TempSystem()
        let s = try t.system.disk("boot").resync(from: .ten)
        XCTAssertTrue(s.nothingToDo)
    }

    func testCancelledResyncResumesCopyingOnlyTheRest() throws {
        let t = try TempSystem(disks: [DiskSpec(name: "boot", size: 64 << 20, role: .system, regionSize: 64 << 10)])
        let d = try t.system.disk("boot")
        try d.split()
        try d.write(side: .side(.production), offset: 0, bytes: pattern(32 << 20, seed: 9))
        let expected = contents(t.image("boot", .ten))
        var o = ResyncOptions()
        o.maxRate = 16 << 20
        o.workers = 2
        o.checkpointSeconds = 0.1
        o.maxIOSize = 256 << 10
        let flag = CancellationFlag()
        o.cancellation = flag
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.6) { flag.cancel() }
        XCTAssertThrowsRDR(.interrupted, containing: "resume it with 'rdr disk resync boot --from 10'") {
            _ = try d.resync(from: .ten, options: o)
        }
        // Interrupted: the remaining bits are the resume record, and the other direction is refused.
        let stopped = try t.reopen().disk("boot")
        XCTAssertEqual(stopped.record.mode, .resyncing)
        let remaining = stopped.dirtyBytes[1]
        XCTAssertGreaterThan(remaining, 0)
        XCTAssertLessThan(remaining, 32 << 20, "some work was checkpointed")
        XCTAssertThrowsRDR(.invalidState, containing: "being resynced from 10") {
            _ = try stopped.resync(from: .eleven)
        }
        let s = try stopped.resync(from: .ten)
        XCTAssertLessThanOrEqual(
            s.bytesCopied + s.bytesPunched, remaining, "the resumed run copies only what was not checkpointed")
        XCTAssertEqual(s.bytesDoneBefore, (32 << 20) - remaining)
        XCTAssertEqual(s.bytesPlanned, 32 << 20, "the plan is fixed when the resync first starts")
        XCTAssertEqual(contents(t.image("boot", .eleven)), expected)
    }

    func testWritesDuringResyncReachBothMembers() throws {
        let t = try TempSystem(disks: [DiskSpec(name: "boot", size: 32 << 20, role: .system, regionSize: 64 << 10)])
        let d = try t.system.disk("boot")
        try d.split()
        try d.write(side: .side(.production), offset: 0, bytes: pattern(24 << 20, seed: 5))
        var o = ResyncOptions()
        o.maxRate = 24 << 20  // about a second, so writes land before, inside and after the copy cursor
        o.maxIOSize = 128 << 10
        let s = try resyncUnderConcurrentWrites(t, d, initialBytes: 24 << 20, writes: 200, slots: 500, pause: 4000) {
            try d.resync(from: .ten, options: o)
        }
        XCTAssertGreaterThan(s.bytesCopied, 0)
    }

    func testFullResyncRebuildsCorruptMetadataAndMissingImage() throws {
        let t = try TempSystem()
        _ = try diverged(t, disk: "data")
        let expected = contents(t.image("data", .ten))
        try FileManager.default.removeItem(atPath: t.image("data", .eleven))
        var meta = contents(t.metadata("data", .eleven))
        meta[60] ^= 0xFF
        meta[4096 + 60] ^= 0xFF
        try meta.write(to: URL(fileURLWithPath: t.metadata("data", .eleven)))
        XCTAssertThrowsRDR(.corrupt, containing: "--full") { _ = try t.reopen().disk("data") }
        let system = try t.reopen()
        try system.prepareFullResync(disk: "data", from: .ten)
        let s = try system.disk("data").resync(from: .ten)
        XCTAssertEqual(s.bytesPlanned, 8 << 20)
        XCTAssertLessThan(s.bytesCopied, 1 << 20, "holes are punched, not copied")
        XCTAssertEqual(contents(t.image("data", .eleven)), expected)
        let after = try t.reopen().disk("data")
        XCTAssertEqual(after.record.mode, .duplex)
        XCTAssertEqual(after.dirtyBytes, [0, 0])
    }

    func testVerifyFindsAndRepairsDifferences() throws {
        let t = try TempSystem()
        let d = try t.system.disk("boot")
        try d.write(side: nil, offset: 0, bytes: pattern(1 << 20, seed: 3))
        try d.flush()
        XCTAssertTrue(try d.verify().mismatched.isEmpty)
        // Damage member 11 behind the engine's back: one byte in region 5, a block in region 70.
        let fd = try FileDescriptor.open(t.image("boot", .eleven), .readWrite, sys: LinuxSystemCalls())
        try fd.write([0xEE], at: 5 * region + 17)
        try fd.write([UInt8](repeating: 1, count: 4096), at: 70 * region)
        fd.close()
        let report = try d.verify()
        XCTAssertEqual(report.mismatched.runs, [5..<6, 70..<71])
        let repaired = try d.verify(repairFrom: .ten)
        XCTAssertEqual(repaired.repair?.bytesPlanned, 2 * region)
        XCTAssertTrue(try d.verify().mismatched.isEmpty)
        XCTAssertEqual(contents(t.image("boot", .ten)), contents(t.image("boot", .eleven)))
    }

    func testPlannerPunchesHolesAndCutsAtMaxIO() throws {
        let path = NSTemporaryDirectory() + "rdr-plan-" + UUID().uuidString
        let fd = try FileDescriptor.create(path, sys: LinuxSystemCalls())
        defer {
            fd.close()
            unlink(path)
        }
        try fd.truncate(to: 100 * region)
        try fd.write(pattern(Int(5 * region), seed: 1), at: 20 * region)  // data in regions 20..<25
        var work = DirtyBitmap(regionCount: 100)
        for r in 0..<30 { work.set(r) }
        var planner = ResyncPlanner(
            work: work, regionSize: region, size: 100 * region, maxIOSize: 2 * region, source: fd)
        var tasks: [ResyncTask] = []
        while let task = try planner.next() { tasks.append(task) }
        XCTAssertEqual(tasks.map(\.kind), [.punch, .copy, .copy, .copy, .punch])
        XCTAssertEqual(tasks.map(\.regions), [0..<20, 20..<22, 22..<24, 24..<25, 25..<30])
        XCTAssertTrue(tasks[1].allData)
    }
}

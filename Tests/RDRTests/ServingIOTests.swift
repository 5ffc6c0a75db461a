import Foundation
import RDRTestSupport
import Synchronization
import XCTest

@testable import RDR

/// The engine calls an NBD server makes: reads into a caller's buffer, FUA writes, hole punches
/// and written zeroes (marked like writes), allocation and dirty-bitmap extents, access checks.
/// Every outcome is checked against the member files' bytes, holes and bitmaps.
final class ServingIOTests: XCTestCase {
    let region: Int64 = 64 << 10

    private func withBuffer(_ count: Int, _ body: (UnsafeMutableRawPointer) throws -> Void) rethrows -> [UInt8] {
        let buffer = AlignedBuffer(count: count)
        try body(buffer.pointer)
        return Array(UnsafeRawBufferPointer(start: buffer.pointer, count: count))
    }

    private func bytes(_ path: String, _ offset: Int64, _ count: Int) -> [UInt8] {
        Array(contents(path)[Int(offset)..<Int(offset) + count])
    }

    func testReadIntoBufferFollowsTheSidesMember() throws {
        let t = try TempSystem()
        let boot = try t.system.disk("boot")
        try boot.split()
        let up = pattern(8192, seed: 1, offset: 4096)
        let prod = pattern(8192, seed: 2, offset: 4096)
        try boot.write(side: .side(.upgrade), offset: 4096, bytes: up)
        try boot.write(side: .side(.production), offset: 4096, bytes: prod)
        XCTAssertEqual(
            try withBuffer(8192) { try boot.read(side: .side(.upgrade), offset: 4096, into: $0, count: 8192) }, up)
        XCTAssertEqual(
            try withBuffer(8192) { try boot.read(side: .enclosure(.ten), offset: 4096, into: $0, count: 8192) }, prod)
        XCTAssertEqual(bytes(t.image("boot", .eleven), 4096, 8192), up)
        let data = try t.system.disk("data")
        try data.split()
        XCTAssertThrowsRDR(.accessRefused, containing: "no access to data disk 'data'") {
            _ = try self.withBuffer(512) { try data.read(side: .side(.upgrade), offset: 0, into: $0, count: 512) }
        }
        XCTAssertThrowsRDR(.invalidArgument, containing: "outside disk") {
            _ = try self.withBuffer(512) {
                try boot.read(side: .side(.upgrade), offset: boot.size - 256, into: $0, count: 512)
            }
        }
    }

    /// FUA: the bytes are in both member files after a power cut that drops every write not
    /// fdatasynced; the same write without it is lost (so the check can fail).
    func testDurableWriteSurvivesAPowerCut() throws {
        let t = try TempSystem()
        for durable in [true, false] {
            let data = pattern(16384, seed: durable ? 3 : 30, offset: 65536)
            let sys = PowerCutSystemCalls()
            let boot = try RDRSystem.open(at: t.path, sys: sys).disk("boot")
            try data.withUnsafeBytes { raw in
                try boot.write(side: nil, offset: 65536, from: raw.baseAddress!, count: raw.count, durable: durable)
            }
            sys.crash(.dropAll)
            for e in Enclosure.allCases {
                let found = bytes(t.image("boot", e), 65536, data.count)
                XCTAssertEqual(
                    found == data, durable,
                    durable
                        ? "member \(e) lost a FUA write"
                        : "member \(e): an unsynced write survived a power cut that drops it")
            }
        }
    }

    /// syncData: what was written before it survives a power cut on both members, and the
    /// duplex bits stay set (only `flush` clears them).
    func testSyncDataMakesReturnedWritesDurableAndKeepsTheBits() throws {
        let t = try TempSystem()
        let sys = PowerCutSystemCalls()
        let boot = try RDRSystem.open(at: t.path, sys: sys).disk("boot")
        let data = pattern(8192, seed: 8, offset: 2 * region)
        try data.withUnsafeBytes { raw in
            try boot.write(side: nil, offset: 2 * region, from: raw.baseAddress!, count: raw.count, durable: false)
        }
        try boot.syncData()
        sys.crash(.dropAll)
        for e in Enclosure.allCases {
            XCTAssertTrue(bytes(t.image("boot", e), 2 * region, data.count) == data, "member \(e)")
        }
        let reopened = try t.reopen().disk("boot", access: .readOnly)
        XCTAssertEqual(reopened.bitmap(.ten).runs, [2..<3])
        XCTAssertEqual(reopened.bitmap(.eleven).runs, [2..<3])
    }

    /// Write-intent: a write to a fresh region returns only after its bit is durable (the bit
    /// survives a power cut that drops the data), and in split mode it marks only its side.
    func testWriteIntentIsDurableBeforeTheWriteReturns() throws {
        let t = try TempSystem()
        try t.system.disk("boot").split()
        let sys = PowerCutSystemCalls()
        let boot = try RDRSystem.open(at: t.path, sys: sys).disk("boot")
        let data = pattern(4096, seed: 4, offset: 3 * region)
        try data.withUnsafeBytes { raw in
            try boot.write(
                side: .side(.upgrade), offset: 3 * region, from: raw.baseAddress!, count: raw.count, durable: false)
        }
        sys.crash(.dropAll)
        let reopened = try t.reopen().disk("boot", access: .readOnly)
        XCTAssertEqual(reopened.bitmap(.eleven).runs, [3..<4])
        XCTAssertTrue(reopened.bitmap(.ten).isEmpty)
    }

    /// Group commit: writers on many threads dirtying fresh regions at once each return only
    /// after their bits are durable. The power goes at a point of the run; every write that had
    /// returned by then must find its bit after the reboot (unsynced writes are dropped).
    func testConcurrentWritersBitsAreDurableWhenTheyReturn() throws {
        let region = self.region
        for cut in [150, 400, 900] {
            let t = try TempSystem(disks: [
                DiskSpec(name: "boot", size: 32 << 20, role: .mandatory, regionSize: 64 << 10)
            ])
            try t.system.disk("boot").split()
            let sys = PowerCutSystemCalls(cutAfter: cut)
            let boot = try RDRSystem.open(at: t.path, sys: sys).disk("boot")
            let regions = Int(boot.size / region)
            let returned = Mutex<[Int]>([])
            DispatchQueue.concurrentPerform(iterations: 8) { thread in
                let block = [UInt8](repeating: UInt8(thread + 1), count: 4096)
                for r in stride(from: thread, to: regions, by: 8) {
                    let ok =
                        (try? block.withUnsafeBytes { raw in
                            try boot.write(
                                side: .side(.upgrade), offset: Int64(r) * region + 512, from: raw.baseAddress!,
                                count: raw.count, durable: false)
                        }) != nil
                    if ok { returned.withLock { $0.append(r) } }
                }
            }
            sys.crash(.dropAll)
            let bits = try t.reopen().disk("boot", access: .readOnly).bitmap(.eleven)
            let done = returned.withLock { $0 }
            XCTAssertFalse(done.isEmpty, "cut after \(cut) calls: no write returned")
            for r in done {
                XCTAssertTrue(
                    bits.isSet(r), "cut after \(cut) calls: region \(r)'s write returned before its bit was durable")
            }
        }
    }

    func testPunchHoleZeroesMarksAndFreesOnTheRoutesMembersOnly() throws {
        let t = try TempSystem()
        let boot = try t.system.disk("boot")
        try boot.write(side: nil, offset: 0, bytes: pattern(Int(4 * region), seed: 5))
        try boot.flush()
        try boot.split()
        let before10 = contents(t.image("boot", .ten))
        try boot.zero(side: .side(.upgrade), offset: region, length: 2 * region, method: .punchHole, durable: true)
        XCTAssertTrue(isHole(t.image("boot", .eleven), offset: region, length: 2 * region))
        XCTAssertEqual(
            bytes(t.image("boot", .eleven), region, Int(2 * region)), [UInt8](repeating: 0, count: Int(2 * region)))
        XCTAssertEqual(bytes(t.image("boot", .eleven), 0, Int(region)), pattern(Int(region), seed: 5))
        XCTAssertEqual(contents(t.image("boot", .ten)), before10, "the Production member changed")
        XCTAssertEqual(try t.reopen().disk("boot", access: .readOnly).bitmap(.eleven).runs, [1..<3])
        // Unaligned edges read as zeroes too (the kernel zeroes the partial blocks).
        try boot.zero(side: .side(.upgrade), offset: 100, length: 1000, method: .punchHole, durable: false)
        XCTAssertEqual(
            bytes(t.image("boot", .eleven), 90, 1020),
            Array(pattern(Int(region), seed: 5)[90..<100]) + [UInt8](repeating: 0, count: 1000)
                + Array(pattern(Int(region), seed: 5)[1100..<1110]))
    }

    func testWrittenZeroesStayAllocatedAndAreMarked() throws {
        let t = try TempSystem()
        let boot = try t.system.disk("boot")
        try boot.split()
        try boot.zero(
            side: .side(.production), offset: 5 * region, length: region + 512, method: .writeZeroes, durable: true)
        XCTAssertFalse(isHole(t.image("boot", .ten), offset: 5 * region, length: region))
        XCTAssertTrue(
            isHole(t.image("boot", .eleven), offset: 5 * region, length: region), "the Upgrade member was written")
        XCTAssertEqual(
            bytes(t.image("boot", .ten), 5 * region, Int(region + 512)), [UInt8](repeating: 0, count: Int(region + 512))
        )
        XCTAssertEqual(try t.reopen().disk("boot", access: .readOnly).bitmap(.ten).runs, [5..<7])
    }

    func testZeroingWhereTheSideHasNoAccessChangesNothing() throws {
        let t = try TempSystem()
        let data = try t.system.disk("data")
        try data.write(side: nil, offset: 0, bytes: pattern(Int(region), seed: 6))
        try data.flush()
        try data.split()
        let before = [
            contents(t.image("data", .ten)), contents(t.image("data", .eleven)),
            contents(t.metadata("data", .ten)), contents(t.metadata("data", .eleven)),
        ]
        for method in [VirtualDisk.ZeroMethod.punchHole, .writeZeroes] {
            XCTAssertThrowsRDR(.accessRefused, containing: "no access to data disk 'data'") {
                try data.zero(side: .side(.upgrade), offset: 0, length: self.region, method: method, durable: true)
            }
        }
        XCTAssertThrowsRDR(.accessRefused, containing: "no access") { try data.checkAccess(side: .enclosure(.eleven)) }
        XCTAssertNoThrow(try data.checkAccess(side: .side(.production)))
        XCTAssertEqual(
            [
                contents(t.image("data", .ten)), contents(t.image("data", .eleven)),
                contents(t.metadata("data", .ten)), contents(t.metadata("data", .eleven)),
            ], before)
    }

    func testAllocationExtentsFollowTheReadMembersHoles() throws {
        let t = try TempSystem()
        let boot = try t.system.disk("boot")
        try boot.split()
        try boot.write(side: .side(.upgrade), offset: 1 << 20, bytes: pattern(65536, seed: 7, offset: 1 << 20))
        let map = try boot.allocationExtents(side: .side(.upgrade), offset: 0, length: boot.size, limit: 100)
        XCTAssertEqual(
            map,
            [
                .init(length: 1 << 20, flag: true), .init(length: 65536, flag: false),
                .init(length: boot.size - (1 << 20) - 65536, flag: true),
            ])
        XCTAssertEqual(
            try boot.allocationExtents(side: .side(.production), offset: 0, length: boot.size, limit: 100),
            [.init(length: boot.size, flag: true)], "the Production member has no data")
        XCTAssertEqual(
            try boot.allocationExtents(side: .side(.upgrade), offset: 4096, length: 8192, limit: 1),
            [.init(length: 8192, flag: true)])
        XCTAssertEqual(
            try boot.allocationExtents(side: .side(.upgrade), offset: (1 << 20) - 4096, length: 1 << 20, limit: 2),
            [.init(length: 4096, flag: true), .init(length: 65536, flag: false)], "the limit ends the map early")
    }

    func testDirtyExtentsAreEachMembersBitmap() throws {
        let t = try TempSystem()
        let boot = try t.system.disk("boot")
        try boot.split()
        try boot.write(side: .side(.upgrade), offset: 2 * region + 10, bytes: [1, 2, 3])
        try boot.write(side: .side(.upgrade), offset: 5 * region, bytes: [4])
        let upgrade = try boot.dirtyExtents(of: boot.enclosure(of: .upgrade), offset: 0, length: boot.size, limit: 100)
        XCTAssertEqual(
            upgrade,
            [
                .init(length: 2 * region, flag: false), .init(length: region, flag: true),
                .init(length: 2 * region, flag: false), .init(length: region, flag: true),
                .init(length: boot.size - 6 * region, flag: false),
            ])
        XCTAssertEqual(
            try boot.dirtyExtents(of: .ten, offset: 0, length: boot.size, limit: 100),
            [.init(length: boot.size, flag: false)])
        XCTAssertEqual(
            try boot.dirtyExtents(of: .eleven, offset: 2 * region + 4096, length: 4096, limit: 100),
            [.init(length: 4096, flag: true)])
        XCTAssertEqual(boot.enclosure(of: .production), .ten)
    }
}

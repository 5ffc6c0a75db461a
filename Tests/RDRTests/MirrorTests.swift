import XCTest

@testable import RDR

/// Write routing by mode and role, write-intent, and transitions.
final class MirrorTests: XCTestCase {
    func testDuplexWritesReachBothMembersAndLeaveNoBits() throws {
        let t = try TempSystem()
        let disk = try t.system.disk("boot")
        try disk.write(side: nil, offset: 100_000, bytes: pattern(300_000, seed: 1))
        XCTAssertEqual(
            disk.dirtyBytes, [6 * 65536, 6 * 65536], "bytes 100000..<400000 touch regions 1...6 of both members")
        try disk.flush()
        XCTAssertEqual(disk.dirtyBytes, [0, 0])
        XCTAssertEqual(contents(t.image("boot", .ten)), contents(t.image("boot", .eleven)))
        XCTAssertEqual(Array(contents(t.image("boot", .ten))[100_000..<400_000]), pattern(300_000, seed: 1))
        let reopened = try t.reopen().disk("boot")
        XCTAssertEqual(reopened.dirtyBytes, [0, 0])
    }

    /// This process's own duplex writes (a live server's clients) are not interrupted writes:
    /// split makes them durable on both members and clears their bits, without a flush first.
    /// Bits found set at open still refuse the split.
    func testSplitSettlesThisProcesssDuplexWritesButNotInterruptedOnes() throws {
        let t = try TempSystem()
        let boot = try t.system.disk("boot")
        try boot.write(side: nil, offset: 0, bytes: pattern(65536, seed: 1))
        XCTAssertTrue(boot.hasUnsettledWrites)
        try boot.split()
        XCTAssertEqual(boot.dirtyBytes, [0, 0])
        XCTAssertEqual(Array(contents(t.image("boot", .eleven)).prefix(65536)), pattern(65536, seed: 1))
        let data = try t.system.disk("data")
        try data.write(side: nil, offset: 0, bytes: pattern(4096, seed: 2))
        let reopened = try t.reopen().disk("data")  // the bit is now one an earlier process left
        XCTAssertThrowsRDR(.invalidState, containing: "interrupted writes") { try reopened.split() }
    }

    func testSplitRoutesEachSideToItsOwnMemberAndPersistsBitsFirst() throws {
        let t = try TempSystem()
        let boot = try t.system.disk("boot")
        try boot.split()
        try boot.write(side: .side(.production), offset: 0, bytes: pattern(65536, seed: 1))
        try boot.write(side: .side(.upgrade), offset: 3 * 65536, bytes: pattern(4096, seed: 2))
        try boot.write(side: .enclosure(.eleven), offset: 3 * 65536 + 8192, bytes: pattern(4096, seed: 3))
        // The bits are durable already (before any flush): a fresh open sees them.
        let again = try t.reopen().disk("boot", access: .readOnly)
        XCTAssertEqual(again.record.mode, .split)
        XCTAssertEqual(Array(again.bitmap(.ten).runs), [0..<1])
        XCTAssertEqual(Array(again.bitmap(.eleven).runs), [3..<4])
        XCTAssertEqual(Array(contents(t.image("boot", .ten)).prefix(65536)), pattern(65536, seed: 1))
        XCTAssertTrue(
            isHole(t.image("boot", .eleven), offset: 0, length: 65536), "production write stayed off the upgrade member"
        )
        XCTAssertTrue(isHole(t.image("boot", .ten), offset: 3 * 65536, length: 65536))
        XCTAssertThrowsRDR(.invalidArgument, containing: "--side") { try boot.write(side: nil, offset: 0, bytes: [1]) }
    }

    func testUpgradeSideHasNoAccessToDataDiskWhileSplit() throws {
        let t = try TempSystem()
        let data = try t.system.disk("data")
        try data.split()
        let before = [
            contents(t.image("data", .ten)), contents(t.image("data", .eleven)), contents(t.metadata("data", .eleven)),
        ]
        XCTAssertThrowsRDR(.accessRefused, containing: "no access to data disk 'data'") {
            try data.write(side: .side(.upgrade), offset: 0, bytes: [1, 2, 3])
        }
        XCTAssertThrowsRDR(.accessRefused, containing: "no access") {
            _ = try data.read(side: .side(.upgrade), offset: 0, length: 3)
        }
        XCTAssertEqual(
            before,
            [
                contents(t.image("data", .ten)), contents(t.image("data", .eleven)),
                contents(t.metadata("data", .eleven)),
            ])
        try data.write(side: .side(.production), offset: 0, bytes: [1, 2, 3])
        XCTAssertEqual(try data.read(side: .side(.production), offset: 0, length: 3), [1, 2, 3])
    }

    func testMergeRunsSystemDisksOnUpgradeMemberAndFreezesProduction() throws {
        let t = try TempSystem()
        let boot = try t.system.disk("boot")
        let data = try t.system.disk("data")
        for d in [boot, data] {
            try d.split()
            try d.merge()
        }
        XCTAssertThrowsRDR(.accessRefused, containing: "frozen") {
            try boot.write(side: .side(.production), offset: 0, bytes: [9])
        }
        try boot.write(side: .side(.upgrade), offset: 0, bytes: [7])
        try data.write(side: .side(.upgrade), offset: 0, bytes: [8])
        XCTAssertEqual(contents(t.image("boot", .eleven)).first, 7)
        XCTAssertEqual(contents(t.image("boot", .ten)).first, 0)
        XCTAssertEqual(contents(t.image("data", .ten)).first, 8, "data disks stay on the Production member")
        XCTAssertEqual(contents(t.image("data", .eleven)).first, 0)
        XCTAssertThrowsRDR(.invalidState, containing: "only a split disk can be merged") { try boot.merge() }
        XCTAssertThrowsRDR(.invalidState, containing: "not duplexed") { try boot.split() }
    }

    func testOutOfRangeWritesAreRefusedAndChangeNothing() throws {
        let t = try TempSystem()
        let boot = try t.system.disk("boot")
        let before = contents(t.metadata("boot", .ten))
        XCTAssertThrowsRDR(.invalidArgument, containing: "outside disk 'boot'") {
            try boot.write(side: nil, offset: (8 << 20) - 2, bytes: [1, 2, 3])
        }
        XCTAssertThrowsRDR(.invalidArgument, containing: "outside") {
            try boot.write(side: nil, offset: -1, bytes: [1])
        }
        XCTAssertEqual(before, contents(t.metadata("boot", .ten)))
        XCTAssertEqual(allocated(t.image("boot", .ten)), 0)
    }

    func testInterruptedTransitionRollsForward() throws {
        let t = try TempSystem()
        let boot = try t.system.disk("boot")
        // A crash between the two header writes of a split leaves member 11 one event behind.
        let pre11 = contents(t.metadata("boot", .eleven))
        try boot.split()
        try pre11.write(to: URL(fileURLWithPath: t.metadata("boot", .eleven)))
        let readOnly = try t.reopen().disk("boot", access: .readOnly)
        XCTAssertEqual(readOnly.record.mode, .split, "status reads the newer record without writing")
        XCTAssertEqual(contents(t.metadata("boot", .eleven)), pre11)
        let reopened = try t.reopen().disk("boot")
        XCTAssertEqual(reopened.record.mode, .split, "the lagging member is rolled forward")
        XCTAssertNotEqual(contents(t.metadata("boot", .eleven)), pre11)
        XCTAssertEqual(try t.reopen().disk("boot").record, reopened.record)
    }

    func testStaleMemberIsRefusedWithFullResyncAdvice() throws {
        let t = try TempSystem()
        let boot = try t.system.disk("boot")
        let old11 = contents(t.metadata("boot", .eleven))
        try boot.split()
        try boot.merge()
        try old11.write(to: URL(fileURLWithPath: t.metadata("boot", .eleven)))
        XCTAssertThrowsRDR(.corrupt, containing: "--full") { _ = try t.reopen().disk("boot") }
        XCTAssertThrowsRDR(.corrupt, containing: "stale") { _ = try t.reopen().disk("boot") }
    }

    func testMetadataFromAnotherDiskIsRefused() throws {
        let t = try TempSystem()
        try FileManager.default.removeItem(atPath: t.metadata("boot", .eleven))
        try FileManager.default.copyItem(atPath: t.metadata("data", .eleven), toPath: t.metadata("boot", .eleven))
        XCTAssertThrowsRDR(.corrupt, containing: "belongs to another disk") { _ = try t.reopen().disk("boot") }
        XCTAssertThrowsRDR(.corrupt, containing: "rdr disk resync boot --from 10 --full") {
            _ = try t.reopen().disk("boot")
        }
    }

    func testBadChecksumMissingAndWrongSizeAreReported() throws {
        let t = try TempSystem()
        var meta = contents(t.metadata("boot", .ten))
        meta[50] ^= 1
        meta[4096 + 50] ^= 1
        try meta.write(to: URL(fileURLWithPath: t.metadata("boot", .ten)))
        XCTAssertThrowsRDR(.corrupt, containing: "bad checksum") { _ = try t.reopen().disk("boot") }
        XCTAssertThrowsRDR(.corrupt, containing: "--from 11 --full") { _ = try t.reopen().disk("boot") }
        try FileManager.default.removeItem(atPath: t.image("data", .eleven))
        XCTAssertThrowsRDR(.corrupt, containing: "is missing") { _ = try t.reopen().disk("data") }
        truncate(t.image("data", .ten), 4096)
        XCTAssertThrowsRDR(.corrupt, containing: "expected \(8 << 20)") { _ = try t.reopen().disk("data") }
    }
}

import Foundation
import RDRTestSupport
import XCTest

@testable import RDR

/// A clock that advances only when slept on, so the throttle's arithmetic is tested exactly.
final class FakeClock: ThrottleClock, @unchecked Sendable {
    private let lock = NSLock()
    private var t = 0.0
    var onSleep: (@Sendable () -> Void)?

    func now() -> Double { lock.withLock { t } }
    func sleep(_ seconds: Double) {
        lock.withLock { t += seconds }
        onSleep?()
    }
    func advance(_ seconds: Double) { lock.withLock { t += seconds } }
}

/// Engine side of the hardening: the throttle, member identity and the metadata format,
/// validation of member names, and failures that must leave nothing behind.
final class HardeningTests: XCTestCase {
    // MARK: throttle

    func testThrottleHoldsTheRateOverASecondFromOneByteToATerabyte() {
        for rate: Int64 in [1, 7, 1000, 20 << 20, 1 << 40] {
            let clock = FakeClock()
            let throttle = Throttle(bytesPerSecond: rate, maxChunk: 1 << 20, clock: clock)
            var moved: Int64 = 0
            var firstSecond: Int64 = -1
            while clock.now() <= 1.5 {
                XCTAssertTrue(throttle.acquire(throttle.grain))
                if firstSecond < 0 && clock.now() > 1 + 1e-9 { firstSecond = moved }
                moved += Int64(throttle.grain)
            }
            XCTAssertEqual(
                Double(firstSecond), Double(rate), accuracy: max(1, Double(rate) * 0.1),
                "rate \(rate): bytes moved in the first second")
            XCTAssertLessThanOrEqual(
                throttle.grain, max(1, Int(rate / 20)), "rate \(rate): transfers are cut to a twentieth of a second")
        }
    }

    func testThrottleEarnsNoBurstWhileIdleAndWakesForACancel() {
        let clock = FakeClock()
        let throttle = Throttle(bytesPerSecond: 1000, maxChunk: 1 << 20, clock: clock)
        XCTAssertTrue(throttle.acquire(50))
        clock.advance(10)  // idle for ten seconds
        let before = clock.now()
        XCTAssertTrue(throttle.acquire(50))
        XCTAssertEqual(clock.now() - before, 0.05, accuracy: 1e-9, "an idle spell is not credited")

        let slow = Throttle(bytesPerSecond: 1, maxChunk: 1 << 20, clock: clock)
        let cancel = CancellationFlag()
        clock.onSleep = { cancel.cancel() }
        let start = clock.now()
        XCTAssertFalse(slow.acquire(1, cancellation: cancel), "a cancel ends the wait")
        XCTAssertLessThanOrEqual(clock.now() - start, Throttle.slice + 1e-9, "within one slice")
    }

    // MARK: metadata format and member identity

    func headerVersion(_ path: String, slot: Int) -> UInt32 {
        let bytes = [UInt8](contents(path))
        return bytes.le32(at: slot * 4096 + 8)
    }

    /// Rewrites a member's newest header as `version` writes it (format 1: no image identity).
    func rewriteHeader(_ path: String, version: UInt32) throws {
        let fd = try FileDescriptor.open(path, .readWrite, sys: LinuxSystemCalls())
        defer { fd.close() }
        var header = try MetadataFile.parseHeader(try fd.readBytes(count: 8192, at: 0))
        header.image = nil
        // A newer format than this rdr writes is laid out without the writer's checks.
        let bytes =
            version > MemberHeader.formatVersion
            ? header.layOut(version: version) : try header.encode(version: version)
        try fd.write(bytes, at: Int64(Int(header.record.events % 2) * 4096))
    }

    func testFormatOneSystemsAreReadAndUpgradedOnTheFirstChange() throws {
        let t = try TempSystem()
        for e in Enclosure.allCases { try rewriteHeader(t.metadata("boot", e), version: 1) }
        XCTAssertEqual(headerVersion(t.metadata("boot", .ten), slot: 1), 1)
        let readOnly = try t.reopen().disk("boot", access: .readOnly)
        XCTAssertNil(readOnly.identityProblem)
        XCTAssertEqual(try t.reopen().status().disks.first { $0.name == "boot" }?.status.description, "None")
        XCTAssertEqual(headerVersion(t.metadata("boot", .ten), slot: 1), 1, "reading never rewrites")
        _ = try t.reopen().disk("boot")
        for e in Enclosure.allCases {
            XCTAssertEqual(headerVersion(t.metadata("boot", e), slot: 0), 2, "upgraded by the first open for writing")
        }
        // From now on the images are known: a swap is caught.
        let a = t.image("boot", .ten)
        let b = t.image("boot", .eleven)
        try FileManager.default.moveItem(atPath: a, toPath: a + ".x")
        try FileManager.default.moveItem(atPath: b, toPath: a)
        try FileManager.default.moveItem(atPath: a + ".x", toPath: b)
        XCTAssertThrowsRDR(.corrupt, containing: "swapped") { _ = try t.reopen().disk("boot") }
    }

    func testANewerFormatIsRefusedClearly() throws {
        let t = try TempSystem()
        try rewriteHeader(t.metadata("data", .eleven), version: 3)
        XCTAssertThrowsRDR(.corrupt, containing: "is in format 3, which this rdr does not read") {
            _ = try t.reopen().disk("data")
        }
    }

    func testUntrustedImagesAreReportedNeverChangedAndSwapsNeverAdopted() throws {
        let t = try TempSystem()
        let boot = try t.system.disk("boot")
        try boot.split()
        try boot.write(side: .side(.production), offset: 0, bytes: pattern(4096, seed: 1))
        let a = t.image("boot", .ten)
        let b = t.image("boot", .eleven)
        try FileManager.default.moveItem(atPath: a, toPath: a + ".x")
        try FileManager.default.moveItem(atPath: b, toPath: a)
        try FileManager.default.moveItem(atPath: a + ".x", toPath: b)
        let seen = try t.reopen().disk("boot", identity: .report)
        XCTAssertTrue(seen.identityProblem?.message.contains("swapped") == true)
        let before = [
            contents(a), contents(b), contents(t.metadata("boot", .ten)), contents(t.metadata("boot", .eleven)),
        ]
        XCTAssertThrowsRDR(.corrupt, containing: "swapped") {
            try seen.write(side: .side(.upgrade), offset: 0, bytes: [1])
        }
        XCTAssertThrowsRDR(.corrupt, containing: "swapped") { _ = try seen.resync(from: .ten) }
        XCTAssertThrowsRDR(.corrupt, containing: "swapped") { _ = try seen.adoptImages() }
        XCTAssertEqual(
            before,
            [contents(a), contents(b), contents(t.metadata("boot", .ten)), contents(t.metadata("boot", .eleven))])
    }

    func testHardLinkedMembersAreOneFileAndRefused() throws {
        let t = try TempSystem()
        try FileManager.default.removeItem(atPath: t.image("data", .eleven))
        XCTAssertEqual(link(t.image("data", .ten), t.image("data", .eleven)), 0)
        XCTAssertThrowsRDR(.corrupt, containing: "are one file") { _ = try t.reopen().disk("data", identity: .report) }
        XCTAssertThrowsRDR(.corrupt, containing: "are one file") {
            try t.reopen().prepareFullResync(disk: "data", from: .ten)
        }
    }

    func testMemberFileNames() {
        for good in ["boot-10.img", "a.img", "x y.img"] {
            XCTAssertNil(MemberFiles.problem(good, suffix: ".img"), good)
        }
        for bad in [
            "", ".img", ".rdr.lock", "rdr.json", "session.json", "../x.img", "/tmp/x.img", "a/b.img", "x.rdrmeta",
            "x.img.new", "x.img.123.tmp", ".hidden.img", "nul\0.img",
        ] {
            XCTAssertNotNil(MemberFiles.problem(bad, suffix: ".img"), bad)
        }
        XCTAssertEqual(TemporaryFiles.writer(of: "rdr.json.4242.tmp"), 4242)
        XCTAssertEqual(TemporaryFiles.writer(of: ".boot.progress.json.17.tmp"), 17)
        XCTAssertNil(TemporaryFiles.writer(of: "notes.tmp"))
        XCTAssertNil(TemporaryFiles.writer(of: "rdr.json"))
    }

    // MARK: failures leave nothing behind

    func testEveryFailedCreateRemovesExactlyWhatItCreated() throws {
        let base = NSTemporaryDirectory() + "rdr-create-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let disks = [
            DiskSpec(name: "a", size: 1 << 20, role: .system), DiskSpec(name: "b", size: 1 << 20, role: .data),
        ]
        let dry = FaultInjectingSystemCalls()
        _ = try RDRSystem.create(at: base + "/dry", disks: disks, primary: .ten, force: false, sys: dry)
        var points = 0
        for (kind, count) in dry.callCounts where count > 0 {
            for n in 1...count {
                let parent = base + "/case"
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
                try Data("keep".utf8).write(to: URL(fileURLWithPath: parent + "/keep.txt"))
                let sys = FaultInjectingSystemCalls(failing: kind, call: n, with: .enospc)
                XCTAssertThrowsError(
                    try RDRSystem.create(at: parent + "/new/sys", disks: disks, primary: .ten, force: false, sys: sys),
                    "\(kind) \(n)")
                XCTAssertEqual(
                    try FileManager.default.subpathsOfDirectory(atPath: parent), ["keep.txt"], "\(kind) call \(n)")
                try FileManager.default.removeItem(atPath: parent)
                points += 1
            }
        }
        XCTAssertGreaterThan(points, 20)
    }

    func testAFailedFullResyncLeavesNoTemporaryFile() throws {
        let t = try TempSystem()
        let dry = FaultInjectingSystemCalls()
        try RDRSystem.open(at: t.path, sys: dry).prepareFullResync(disk: "data", from: .ten)
        for kind in [SyscallKind.pwrite, .ftruncate, .fsync, .rename] {
            for n in 1...max(1, dry.callCounts[kind] ?? 0) {
                let sys = FaultInjectingSystemCalls(failing: kind, call: n, with: .enospc)
                do { try RDRSystem.open(at: t.path, sys: sys).prepareFullResync(disk: "data", from: .ten) } catch {}
                let leftovers = try FileManager.default.contentsOfDirectory(atPath: t.path).filter {
                    $0.hasSuffix(".new") || $0.hasSuffix(".tmp")
                }
                XCTAssertEqual(leftovers, [], "\(kind) call \(n)")
            }
        }
        try RDRSystem.open(at: t.path).prepareFullResync(disk: "data", from: .ten)
        _ = try RDRSystem.open(at: t.path).disk("data").resync(from: .ten)
    }
}

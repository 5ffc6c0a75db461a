import RDRTestSupport
import XCTest

@testable import RDR

/// Breaking it on purpose: every call of a small resync and of a split workload failed in
/// turn, power cuts that lose unsynced writes, and corrupted metadata. Each outcome is checked
/// against what the bytes must be.
final class ReliabilityTests: XCTestCase {
    let region = 64 << 10

    /// `RDR_RELIABILITY_LONG=1` (set by `Tests/reliability.sh --long`) multiplies the sweeps for
    /// the README's long-run figures: more divergence patterns, more power cuts.
    static let long = ProcessInfo.processInfo.environment["RDR_RELIABILITY_LONG"] == "1"

    /// A split disk "d" (2 MiB, 32 regions): shared data, then production and upgrade writes,
    /// some on regions that are holes on the production member. `variant` 0 is the fixed
    /// pattern; others place the writes at regions drawn from the variant as a seed.
    func template(variant: UInt64 = 0) throws -> String {
        let t = try TempSystem(disks: [DiskSpec(name: "d", size: 2 << 20, role: .system)])
        let d = try t.system.disk("d")
        try d.write(side: nil, offset: 0, bytes: pattern(4 * region, seed: 1))
        try d.flush()
        try d.split()
        var production = [(1, 2), (3, 3), (4, 4), (10, 5), (20, 6)]
        var upgrade = [(3, 7), (7, 8), (25, 9)]
        if variant > 0 {
            var rng = SplitMixRandom(seed: variant)
            production = (0..<5).map { (Int(rng.next() % 32), Int(variant) * 16 + $0) }
            upgrade = (0..<3).map { (Int(rng.next() % 32), Int(variant) * 16 + 8 + $0) }
        }
        for (r, seed) in production {
            try d.write(
                side: .side(.production), offset: Int64(r * region + 100),
                bytes: pattern(region / 2, seed: UInt64(seed)))
        }
        for (r, seed) in upgrade {
            try d.write(side: .side(.upgrade), offset: Int64(r * region), bytes: pattern(region, seed: UInt64(seed)))
        }
        let dir = NSTemporaryDirectory() + "rdr-tmpl-" + UUID().uuidString
        try copySystem(t.path, to: dir)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func copy(_ template: String) throws -> String {
        let dir = NSTemporaryDirectory() + "rdr-case-" + UUID().uuidString
        try copySystem(template, to: dir)
        return dir
    }

    /// A copy of a system directory. The copy's images are new files, so, as a user would after
    /// copying a system, its images are verified and re-adopted before anything else runs.
    func copySystem(_ source: String, to dir: String) throws {
        try FileManager.default.copyItem(atPath: source, toPath: dir)
        let system = try RDRSystem.open(at: dir)
        for d in system.manifest.disks { _ = try system.disk(d.name, identity: .report).adoptImages() }
    }

    /// Regions whose bytes differ between the two members (or from `reference` for member 10).
    func differing(_ dir: String, member10Against reference: Data? = nil) -> [Int] {
        let a = contents(dir + "/d-10.img")
        let b = reference ?? contents(dir + "/d-11.img")
        return (0..<32).filter { a[$0 * region..<($0 + 1) * region] != b[$0 * region..<($0 + 1) * region] }
    }

    func bits(_ dir: String) throws -> DirtyBitmap {
        let d = try RDRSystem.open(at: dir).disk("d", access: .readOnly)
        var u = d.bitmap(.ten)
        u.formUnion(d.bitmap(.eleven))
        return u
    }

    /// Resumes or redoes the resync from 10 with real syscalls; both members must end as `expected`.
    func recover(_ dir: String, expected: Data, _ label: String) throws {
        let d = try RDRSystem.open(at: dir).disk("d")
        _ = try d.resync(from: .ten)
        XCTAssertEqual(contents(dir + "/d-11.img"), expected, label)
        XCTAssertEqual(contents(dir + "/d-10.img"), expected, label)
        XCTAssertEqual(d.record.mode, .duplex, label)
    }

    func testEveryCallOfAResyncFailedInTurn() throws {
        var total = SweepCount()
        for variant in 0..<(Self.long ? 60 : 1) {
            total += try sweepResync(template: try template(variant: UInt64(variant)))
        }
        XCTAssertGreaterThanOrEqual(total.points, 90, "every call of the resync was a fault point")
        XCTAssertGreaterThanOrEqual(total.errors, 60, "most faults must stop the resync")
        print(
            "resync fault sweep: \(total.points) fault points, \(total.errors) stopped the resync, \(total.displayOnly) hit display-only files, 0 mismatches"
        )
    }

    struct SweepCount {
        var points = 0, errors = 0, displayOnly = 0

        static func += (a: inout SweepCount, b: SweepCount) {
            a.points += b.points
            a.errors += b.errors
            a.displayOnly += b.displayOnly
        }
    }

    /// Every call of a resync of `tmpl` failed in turn (EIO, ENOSPC, and short for transfers).
    func sweepResync(template tmpl: String) throws -> SweepCount {
        let expected = contents(tmpl + "/d-10.img")
        let dry = FaultInjectingSystemCalls()
        let dryDir = try copy(tmpl)
        _ = try RDRSystem.open(at: dryDir, sys: dry).disk("d").resync(from: .ten)
        try? FileManager.default.removeItem(atPath: dryDir)
        var points = 0
        var errors = 0
        var displayOnly = 0
        for (kind, count) in dry.callCounts.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let faults: [InjectedFault] =
                [.pread, .pwrite].contains(kind) ? [.eio, .enospc, .short] : [.eio, .enospc]
            for n in 1...count {
                for fault in faults {
                    let dir = try copy(tmpl)
                    defer { try? FileManager.default.removeItem(atPath: dir) }
                    let sys = FaultInjectingSystemCalls(failing: kind, call: n, with: fault)
                    let label = "\(kind) call \(n) \(fault)"
                    var failed: RDRError?
                    do { _ = try RDRSystem.open(at: dir, sys: sys).disk("d").resync(from: .ten) } catch {
                        failed = error
                    }
                    points += 1
                    if fault == .short {
                        XCTAssertNil(failed, "a short transfer is finished by the seam's loop: \(label)")
                    } else if let path = sys.firedPath, Self.isDisplayOnly(path) {
                        // The progress record and the lock holder's description are for display:
                        // failing to replace one must not stop the resync or change its result.
                        displayOnly += 1
                        XCTAssertNil(
                            failed, "a failed display-only write must not stop the resync: \(label) on \(path)")
                        XCTAssertEqual(contents(dir + "/d-11.img"), expected, label)
                    } else if sys.fired {
                        errors += 1
                        XCTAssertNotNil(failed, "the fault must stop the resync: \(label)")
                        XCTAssertTrue(
                            failed?.message.contains(fault == .eio ? "Input/output error" : "No space left on device")
                                == true, "\(label): \(failed?.message ?? "")")
                    }
                    // Metadata still valid, and no uncopied region lost its bit.
                    let marked = try bits(dir)
                    for r in differing(dir) {
                        XCTAssertTrue(marked.isSet(r), "\(label): region \(r) differs but is not marked")
                    }
                    try recover(dir, expected: expected, label)
                }
            }
        }
        return SweepCount(points: points, errors: errors, displayOnly: displayOnly)
    }

    static func isDisplayOnly(_ path: String) -> Bool {
        path.contains(".progress.json") || path.contains(".rdr.lock.holder")
    }

    func testEveryCallOfASplitWorkloadFailedInTurn() throws {
        let t = try TempSystem(disks: [DiskSpec(name: "d", size: 2 << 20, role: .system)])
        let d0 = try t.system.disk("d")
        try d0.write(side: nil, offset: 0, bytes: pattern(8 * region, seed: 1))
        try d0.flush()
        try d0.split()
        var points = 0
        for seed in Self.long ? Array(5..<25) : [5] {
            points += try sweepWorkload(template: t.path, seed: UInt64(seed))
        }
        XCTAssertGreaterThan(points, 40)
        print("split workload fault sweep: \(points) fault points, 0 mismatches")
    }

    /// Every call of a split workload (write-intent batches of 4) on `tmpl` failed in turn.
    func sweepWorkload(template tmpl: String, seed: UInt64) throws -> Int {
        let before = contents(tmpl + "/d-10.img")
        func workload(_ sys: any SystemCalls, _ dir: String) throws {
            var w = Workload(bytes: 24 * 16384)
            w.ioSize = 16384
            w.batch = 4
            w.seed = seed
            _ = try w.run(on: try RDRSystem.open(at: dir, sys: sys).disk("d"), side: .side(.production))
        }
        let dry = FaultInjectingSystemCalls()
        let dryDir = try copy(tmpl)
        try workload(dry, dryDir)
        let expectedDifference = differing(dryDir, member10Against: before)
        XCTAssertFalse(expectedDifference.isEmpty)
        try? FileManager.default.removeItem(atPath: dryDir)
        var points = 0
        for (kind, count) in dry.callCounts where count > 0 {
            for n in 1...count {
                for fault in [InjectedFault.eio, .short] where fault == .eio || [.pread, .pwrite].contains(kind) {
                    let dir = try copy(tmpl)
                    defer { try? FileManager.default.removeItem(atPath: dir) }
                    let sys = FaultInjectingSystemCalls(failing: kind, call: n, with: fault)
                    let label = "workload: \(kind) call \(n) \(fault)"
                    var failed = false
                    do { try workload(sys, dir) } catch { failed = true }
                    points += 1
                    XCTAssertEqual(failed, fault == .eio && sys.fired, label)
                    // Write-intent: every region the workload changed on member 10 is marked.
                    let marked = try RDRSystem.open(at: dir).disk("d", access: .readOnly).bitmap(.ten)
                    for r in differing(dir, member10Against: before) {
                        XCTAssertTrue(marked.isSet(r), "\(label): region \(r) written but not marked")
                    }
                    let expected = contents(dir + "/d-10.img")
                    try recover(dir, expected: expected, label)
                }
            }
        }
        return points
    }

    func testPowerCutsDuringResyncAndWorkload() throws {
        let tmpl = try template()
        let expected = contents(tmpl + "/d-10.img")
        let dry = PowerCutSystemCalls()
        let dryDir = try copy(tmpl)
        _ = try RDRSystem.open(at: dryDir, sys: dry).disk("d").resync(from: .ten)
        let total = dry.callCount
        try? FileManager.default.removeItem(atPath: dryDir)
        var cuts = 0
        var rng = SplitMixRandom(seed: 2026)
        for i in 0..<(Self.long ? 600 : 90) {
            let dir = try copy(tmpl)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let at = Int(rng.next() % UInt64(total)) + 1
            let mode: PowerCutSystemCalls.CrashMode = [
                .dropAll, .keepRandom(seed: UInt64(i)), .tearLast(seed: UInt64(i)),
            ][i % 3]
            let sys = PowerCutSystemCalls(cutAfter: at)
            do { _ = try RDRSystem.open(at: dir, sys: sys).disk("d").resync(from: .ten) } catch {}
            sys.crash(mode)
            cuts += 1
            let label = "resync cut after call \(at) (\(mode))"
            let marked = try bits(dir)
            for r in differing(dir) {
                XCTAssertTrue(marked.isSet(r), "\(label): region \(r) differs but is not marked")
            }
            try recover(dir, expected: expected, label)
        }
        // The split write path: whatever survives the cut is covered by durable bits.
        for i in 0..<(Self.long ? 400 : 60) {
            let dir = try copy(tmpl)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let before = contents(dir + "/d-10.img")
            let sys = PowerCutSystemCalls(cutAfter: 20 + Int(rng.next() % 200))
            var w = Workload(bytes: 64 * 8192)
            w.ioSize = 8192
            w.batch = 3
            w.seed = UInt64(i)
            do { _ = try w.run(on: try RDRSystem.open(at: dir, sys: sys).disk("d"), side: .side(.production)) } catch {}
            let mode: PowerCutSystemCalls.CrashMode = [
                .dropAll, .keepRandom(seed: UInt64(i)), .tearLast(seed: UInt64(i)),
            ][i % 3]
            sys.crash(mode)
            cuts += 1
            let marked = try RDRSystem.open(at: dir).disk("d", access: .readOnly).bitmap(.ten)
            for r in differing(dir, member10Against: before) {
                XCTAssertTrue(marked.isSet(r), "workload cut \(i) (\(mode)): region \(r) not marked")
            }
            try recover(dir, expected: contents(dir + "/d-10.img"), "workload cut \(i)")
        }
        print("power cuts: \(cuts) cuts, 0 mismatches")
    }

    /// Counts what the corruption sweep saw.
    final class Tally {
        var cases = 0
        var refused = 0
    }

    /// Never `Status: None` on members that differ, and opening for writing either works or
    /// refuses with an RDRError (never a trap).
    func checkCorrupted(_ dir: String, _ label: String, _ tally: Tally) {
        tally.cases += 1
        guard let system = try? RDRSystem.open(at: dir) else {
            tally.refused += 1
            return
        }
        if let status = try? system.status() {
            for d in status.disks where d.status.description == "None" {
                XCTAssertTrue(differing(dir).isEmpty, "\(label): Status: None on members that differ")
            }
        }
        do { _ = try system.disk("d") } catch {
            tally.refused += 1
            XCTAssertFalse(error.message.isEmpty, label)
        }
    }

    func flip(_ dir: String, _ file: String, _ offsets: [Int], _ tally: Tally) throws {
        let path = dir + "/" + file
        let original = contents(path)
        for o in offsets where o < original.count {
            var damaged = original
            damaged[o] ^= 0x5A
            try damaged.write(to: URL(fileURLWithPath: path))
            checkCorrupted(dir, "\(file) byte \(o)", tally)
        }
        try original.write(to: URL(fileURLWithPath: path))
    }

    func testCorruptionIsRefusedOrRepairedNeverReportedInSync() throws {
        let tmpl = try template()
        let tally = Tally()
        let header = Array(0..<320) + Array(stride(from: 320, to: 4092, by: 97)) + Array(4092..<4096)
        for file in ["d-10.rdrmeta", "d-11.rdrmeta"] {
            try flip(tmpl, file, header + header.map { $0 + 4096 }, tally)
            let bitmap = Int(MetadataLayout.bitmapOffset)
            try flip(tmpl, file, Array(stride(from: bitmap, to: bitmap + 4 * 4096, by: 29)), tally)
        }
        try flip(tmpl, "rdr.json", Array(0..<contents(tmpl + "/rdr.json").count), tally)
        // Truncations of every file, and member metadata swapped.
        for file in ["d-10.rdrmeta", "d-11.rdrmeta", "d-10.img", "rdr.json"] {
            let path = tmpl + "/" + file
            let original = contents(path)
            for length in [0, 100, 4096, 8192, original.count - 1] where length < original.count {
                try original.prefix(length).write(to: URL(fileURLWithPath: path))
                checkCorrupted(tmpl, "\(file) truncated to \(length)", tally)
            }
            try original.write(to: URL(fileURLWithPath: path))
        }
        let m10 = contents(tmpl + "/d-10.rdrmeta")
        let m11 = contents(tmpl + "/d-11.rdrmeta")
        try m11.write(to: URL(fileURLWithPath: tmpl + "/d-10.rdrmeta"))
        try m10.write(to: URL(fileURLWithPath: tmpl + "/d-11.rdrmeta"))
        checkCorrupted(tmpl, "members' metadata swapped", tally)
        XCTAssertThrowsRDR(.corrupt, containing: "swap the files back") { _ = try RDRSystem.open(at: tmpl).disk("d") }
        XCTAssertGreaterThanOrEqual(tally.cases, 2500)
        XCTAssertGreaterThanOrEqual(tally.refused, 400, "damaged headers and manifests are refused")
        print(
            "corruption sweep: \(tally.cases) corruptions, \(tally.refused) refused, 0 reported in sync while differing"
        )
    }
}

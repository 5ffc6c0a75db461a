import Foundation
import Synchronization
import XCTest

@testable import RDR

/// A clock whose sleeps block until the test opens its gate: a worker caught sleeping in the
/// throttle stays there while the test looks at what else can run. Time moves only on sleeps.
final class GateClock: ThrottleClock, @unchecked Sendable {
    private let condition = NSCondition()
    private var open = false
    private var t = 0.0
    private var sleeping = 0

    func now() -> Double { condition.withLock { t } }

    func sleep(_ seconds: Double) {
        condition.withLock {
            sleeping += 1
            condition.broadcast()
            while !open { condition.wait() }
            sleeping -= 1
            t += seconds
        }
    }

    /// Whether a thread sleeps on this clock (waits up to `seconds` for one to).
    func hasSleeper(within seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        return condition.withLock {
            while sleeping == 0 { if !condition.wait(until: deadline) { return sleeping > 0 } }
            return true
        }
    }

    var sleepers: Int { condition.withLock { sleeping } }

    func openGate() {
        condition.withLock {
            open = true
            condition.broadcast()
        }
    }
}

/// The resync's pace: foreground I/O first (`--min-rate` under load, full speed or `--max-rate`
/// when idle), and no client write ever waits for a throttle's sleep.
final class ResyncPaceTests: XCTestCase {
    let mib: Int64 = 1 << 20

    /// A split system disk whose Production member wrote `bytes` from offset 0.
    func diverged(_ t: TempSystem, bytes: Int) throws -> VirtualDisk {
        let d = try t.system.disk("boot")
        try d.split()
        try d.write(side: .side(.production), offset: 0, bytes: pattern(bytes, seed: 21))
        return d
    }

    func testAWriteIntoTheRangeBeingResyncedDoesNotWaitForTheThrottlesSleep() throws {
        let t = try TempSystem(disks: [DiskSpec(name: "boot", size: 16 << 20, role: .system, regionSize: 64 << 10)])
        let d = try diverged(t, bytes: 1 << 20)  // one task: the worker's range is the whole 1 MiB
        let clock = GateClock()
        var o = ResyncOptions()
        o.workers = 1
        o.maxRate = 64 << 10
        o.clock = clock
        let options = o
        let resynced = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<ResyncSummary, RDRError>?>(nil)
        Thread {
            do throws(RDRError) {
                let s = try d.resync(from: .ten, options: options)
                outcome.withLock { $0 = .success(s) }
            } catch {
                outcome.withLock { $0 = .failure(error) }
            }
            resynced.signal()
        }.start()
        XCTAssertTrue(clock.hasSleeper(within: 30), "the worker waits in the throttle before its first copy")

        // A client write into the middle of the task the worker is pacing.
        let written = DispatchSemaphore(value: 0)
        let bytes = pattern(8192, seed: 77)
        Thread {
            do { try d.write(side: .side(.production), offset: 300_000, bytes: bytes) } catch {
                XCTFail("the client's write failed: \(error)")
            }
            written.signal()
        }.start()
        // Not a timing assertion: before the fix this write waited for the gate, which stays
        // shut until after the wait, so the wait ran out however long it was.
        XCTAssertEqual(written.wait(timeout: .now() + 30), .success, "the write finished while the worker slept")
        XCTAssertEqual(clock.now(), 0, "the throttle's clock had not moved: the worker was still asleep")
        XCTAssertEqual(clock.sleepers, 1)

        clock.openGate()
        XCTAssertEqual(resynced.wait(timeout: .now() + 60), .success)
        guard case .success(let summary) = outcome.withLock({ $0 }) else {
            return XCTFail("resync failed: \(String(describing: outcome.withLock { $0 }))")
        }
        XCTAssertEqual(summary.bytesPlanned, 1 << 20)
        let ten = contents(t.image("boot", .ten))
        XCTAssertEqual(ten, contents(t.image("boot", .eleven)), "members identical")
        XCTAssertEqual([UInt8](ten[300_000..<308_192]), bytes, "the client's write is on both members")
        XCTAssertEqual(try d.verify().mismatched.count, 0)
        XCTAssertEqual(d.record.mode, .duplex)
    }

    func testThrottleMovesAtMinRateUnderLoadAndUnthrottledWhenIdle() {
        let clock = FakeClock()
        let activity = ForegroundActivity()
        let load = LoadSensor(activity: activity, clock: clock, quietSeconds: 0.5)
        let throttle = Throttle(maxRate: nil, minRate: mib, load: load, maxChunk: 1 << 20, clock: clock)
        XCTAssertNil(throttle.rate, "idle: no cap")
        XCTAssertEqual(throttle.admit(upTo: 64 * mib), 64 * mib, "idle: everything at once")
        XCTAssertEqual(clock.now(), 0, "idle: no wait")

        activity.begin()  // a client request in flight
        var moved: Int64 = 0
        while clock.now() < 2 { moved += throttle.admit(upTo: 64 * mib) ?? 0 }
        XCTAssertEqual(Double(moved), Double(2 * mib), accuracy: Double(mib) * 0.1, "two seconds at 1 MiB/s")
        activity.end()
        XCTAssertEqual(throttle.rate, Double(mib), "still busy for the quiet window")
        clock.advance(0.5)
        XCTAssertNil(throttle.rate, "idle once the window passed with no request")
        let before = clock.now()
        XCTAssertEqual(throttle.admit(upTo: 64 * mib), 64 * mib)
        XCTAssertEqual(clock.now(), before, "full speed again")
        activity.begin()
        activity.end()
        XCTAssertEqual(throttle.rate, Double(mib), "one request that started and ended since the last look")

        let capped = Throttle(maxRate: 8 * mib, minRate: mib, load: load, maxChunk: 1 << 20, clock: clock)
        clock.advance(1)
        XCTAssertEqual(capped.rate, Double(8 * mib), "idle: --max-rate")
        activity.begin()
        XCTAssertEqual(capped.rate, Double(mib), "busy: --min-rate")
        activity.end()
        let noSlowdown = Throttle(maxRate: mib, minRate: mib, load: load, maxChunk: 1 << 20, clock: clock)
        XCTAssertNil(noSlowdown.busyRate, "--min-rate equal to --max-rate never slows")
    }

    /// Fake seconds a resync of `bytes` took with `minRate` under a load that ends at `loadEnds`
    /// fake seconds (nil: no load; .infinity: for the whole run), one worker (so each sleep is
    /// the whole resync's wait). The members are checked identical after it.
    func fakeSeconds(bytes: Int, minRate: Int64, loadEnds: Double?) throws -> Double {
        let t = try TempSystem(disks: [DiskSpec(name: "boot", size: 32 << 20, role: .system, regionSize: 64 << 10)])
        let d = try diverged(t, bytes: bytes)
        let clock = FakeClock()
        var o = ResyncOptions()
        o.workers = 1
        o.minRate = minRate
        o.clock = clock
        if let loadEnds {
            d.foreground.begin()
            let ended = Atomic<Bool>(false)
            clock.onSleep = {
                if clock.now() >= loadEnds, !ended.exchange(true, ordering: .relaxed) { d.foreground.end() }
            }
        }
        let summary = try d.resync(from: .ten, options: o)
        XCTAssertEqual(summary.bytesCopied, Int64(bytes))
        XCTAssertEqual(contents(t.image("boot", .ten)), contents(t.image("boot", .eleven)), "members identical")
        XCTAssertEqual(try d.verify().mismatched.count, 0)
        return clock.now()
    }

    func testResyncKeepsToMinRateUnderLoadAndGoesFullSpeedWhenIdle() throws {
        let rate: Int64 = 1 << 20
        XCTAssertEqual(try fakeSeconds(bytes: 4 << 20, minRate: rate, loadEnds: nil), 0, "idle: no wait at all")
        XCTAssertEqual(
            try fakeSeconds(bytes: 4 << 20, minRate: rate, loadEnds: .infinity), 4, accuracy: 0.05,
            "under load for the whole run: 4 MiB at 1 MiB/s")
        // Loaded for 1 s, busy for the 0.5 s quiet window after it, then the other 14.5 MiB at
        // full speed: a resync still at 1 MiB/s would take 16 s.
        XCTAssertEqual(
            try fakeSeconds(bytes: 16 << 20, minRate: rate, loadEnds: 1), 1.5, accuracy: 0.1,
            "back to full speed when the load ends")
    }

    func testMinRateIsCheckedAgainstItsRangeAndMaxRate() {
        var o = ResyncOptions()
        o.minRate = 0
        XCTAssertThrowsRDR(.invalidArgument, containing: "--min-rate must be from 1 to 1P") { try o.validate() }
        o.minRate = 2 << 20
        o.maxRate = 1 << 20
        XCTAssertThrowsRDR(.invalidArgument, containing: "--min-rate (2M) must not be above --max-rate (1M)") {
            try o.validate()
        }
        o.minRate = nil
        XCTAssertNoThrow(try o.validate(), "the default under load is capped by a lower --max-rate, not refused")
        XCTAssertEqual(o.effectiveMinRate, ResyncOptions.defaultMinRate)
    }
}

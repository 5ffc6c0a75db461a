import Foundation
import XCTest

@testable import RDR

/// Real child processes killed with SIGKILL at a random moment, then resumed.
final class CrashTests: XCTestCase {
    func json(_ text: String) -> [String: Any] {
        let line = text.split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
    }

    func waitUntil(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if try condition() { return true }
            usleep(50_000)
        }
        return false
    }

    func testKilledResyncResumesToIdenticalBytesCopyingOnlyTheRest() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:256M:system"] + sys)
        try rdr(["disk", "split"] + sys)
        try rdr(
            [
                "workload", "boot", "--side", "production", "--bytes", "96M", "--pattern", "sequential", "--io-size",
                "1M",
            ] + sys)
        try rdr(["write", "boot", "--side", "upgrade", "--offset", "200M", "--pattern", "5", "--length", "3M"] + sys)
        let expected = data(s.image("boot", 10))
        let plan: Int64 = 99 << 20
        let (p, out, err) = try RDRProcess.start(
            ["disk", "resync", "boot", "--from", "10", "--max-rate", "24M", "--checkpoint", "0.2"] + sys)
        let delay = Double.random(in: 0.8...2.5)
        usleep(useconds_t(delay * 1_000_000))
        kill(p.processIdentifier, SIGKILL)
        let killed = RDRProcess.finish(p, out, err)
        XCTAssertEqual(killed.status, SIGKILL, "killed after \(delay) s")

        let status = disk(try statusJSON(s.system), "boot")
        XCTAssertEqual(status["mode"] as? String, "resyncing")
        let resync = status["resync"] as? [String: Any] ?? [:]
        XCTAssertEqual(resync["running"] as? Bool, false, "the killed process no longer counts as running")
        XCTAssertEqual((resync["bytesTotal"] as? NSNumber)?.int64Value, plan)
        let members = status["members"] as? [[String: Any]] ?? []
        let remaining = (members.first { $0["enclosure"] as? Int == 11 }?["dirtyBytes"] as? NSNumber)?.int64Value ?? -1
        XCTAssertGreaterThan(remaining, 0)
        XCTAssertLessThan(remaining, plan, "checkpoints made progress before the kill at \(delay) s")
        XCTAssertEqual(
            status["status"] as? String,
            "Resync \(ResyncProgress.percent(done: plan - remaining, total: plan, finished: false))%",
            "rounded, as status rounds")

        let resumed = json(try rdr(["disk", "resync", "boot", "--from", "10", "--json"] + sys).stdout)
        let copied =
            ((resumed["bytesCopied"] as? NSNumber)?.int64Value ?? -1)
            + ((resumed["bytesPunched"] as? NSNumber)?.int64Value ?? -1)
        XCTAssertLessThanOrEqual(copied, remaining, "the resumed run redoes no checkpointed work")
        XCTAssertEqual((resumed["bytesDoneBefore"] as? NSNumber)?.int64Value, plan - remaining)
        XCTAssertEqual(data(s.image("boot", 11)), expected, "byte-identical to an uninterrupted run")
        XCTAssertEqual(data(s.image("boot", 10)), expected)
        XCTAssertEqual(disk(try statusJSON(s.system), "boot")["status"] as? String, "None")
    }

    func testKilledSplitWorkloadLeavesEveryWrittenRegionMarked() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:64M:system", "--region-size", "64K"] + sys)
        try rdr(["disk", "split"] + sys)
        let (p, out, err) = try RDRProcess.start(
            [
                "workload", "boot", "--side", "production", "--bytes", "8G", "--batch", "4",
                "--io-size", "16K", "--seed", "\(UInt32.random(in: 1...9999))",
            ] + sys)
        usleep(useconds_t(Double.random(in: 0.4...1.2) * 1_000_000))
        kill(p.processIdentifier, SIGKILL)
        _ = RDRProcess.finish(p, out, err)

        XCTAssertGreaterThan(
            try assertWrittenRegionsMarked(s, "boot", size: 64 << 20), 0, "the workload wrote something before the kill"
        )
        let a = data(s.image("boot", 10))
        try rdr(["disk", "resync", "boot", "--from", "10"] + sys)
        XCTAssertEqual(data(s.image("boot", 11)), a)
        XCTAssertEqual(data(s.image("boot", 10)), a)
    }

    func testBackgroundResyncPublishesProgressToStatus() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "data:512M:data"] + sys)
        try rdr(["disk", "split"] + sys)
        try rdr(
            [
                "workload", "data", "--side", "production", "--bytes", "64M", "--pattern", "sequential", "--io-size",
                "1M",
            ] + sys)
        let expected = data(s.image("data", 10))
        let start = try rdr(["disk", "resync", "data", "--from", "10", "--background", "--max-rate", "32M"] + sys)
        XCTAssertTrue(start.stdout.contains("runs in the background"), start.stdout)
        var seen: [Int] = []
        XCTAssertTrue(
            try waitUntil(30) {
                let d = disk(try statusJSON(s.system), "data")
                if let r = d["resync"] as? [String: Any], r["running"] as? Bool == true, let pct = r["percent"] as? Int
                {
                    seen.append(pct)
                    XCTAssertTrue((0...99).contains(pct))
                    XCTAssertEqual(d["status"] as? String, "Resync \(pct)%")
                }
                return d["status"] as? String == "None"
            })
        XCTAssertFalse(seen.isEmpty, "status saw the running resync's published progress")
        XCTAssertEqual(seen, seen.sorted(), "percent never goes backwards")
        XCTAssertEqual(data(s.image("data", 11)), expected)
        try rdr(["disk", "verify", "data"] + sys)
    }

    func testBackgroundResyncHoldsTheLock() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "data:256M:data"] + sys)
        try rdr(["disk", "split"] + sys)
        try rdr(
            [
                "workload", "data", "--side", "production", "--bytes", "32M", "--pattern", "sequential", "--io-size",
                "1M",
            ] + sys)
        try rdr(["disk", "resync", "data", "--from", "10", "--background", "--max-rate", "8M"] + sys)
        // Issue 11: the worker holds the lock and owns the system, so a command that needs the
        // lock runs in the worker instead of failing with 75.
        let r = try rdr(["status"] + sys)
        XCTAssertTrue(r.stdout.contains("is running 'rdr disk resync data"), r.stdout)
        try rdr(["write", "data", "--offset", "0", "--pattern", "9", "--length", "64K"] + sys)
        try rdr(["status", "--watch", "--interval", "0.2"] + sys)  // returns when no resync runs any more
        XCTAssertEqual(disk(try statusJSON(s.system), "data")["status"] as? String, "None")
        try rdr(["disk", "verify", "data"] + sys)
    }

    func testDemoRunsTheWholeCycle() throws {
        let s = try Scratch()
        let r = try rdr(["demo", "--system", s.system, "--size", "128M"])
        XCTAssertTrue(r.stdout.contains("boot: members identical"), r.stdout)
        XCTAssertTrue(r.stdout.contains("data: members identical"), r.stdout)
        let status = try statusJSON(s.system)
        XCTAssertEqual(disk(status, "boot")["status"] as? String, "None")
        XCTAssertEqual(disk(status, "data")["status"] as? String, "None")
        XCTAssertEqual(data(s.image("boot", 10)), data(s.image("boot", 11)))
        XCTAssertEqual(data(s.image("data", 10)), data(s.image("data", 11)))
        try rdr(["demo", "--system", s.system], expect: 0)  // a second run reuses the in-sync system
    }
}

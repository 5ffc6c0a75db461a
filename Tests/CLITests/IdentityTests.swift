import Foundation
import XCTest

@testable import RDR

/// Member identity: an image swapped, replaced or copied is an `Error` with the way out, never
/// `None`, and a swap can never reverse the direction of a copy.
final class IdentityTests: XCTestCase {
    func swap(_ a: String, _ b: String) throws {
        let t = a + ".swap"
        try FileManager.default.moveItem(atPath: a, toPath: t)
        try FileManager.default.moveItem(atPath: b, toPath: a)
        try FileManager.default.moveItem(atPath: t, toPath: b)
    }

    func diskStatus(_ s: Scratch, _ name: String) throws -> (status: String, error: String) {
        let d = disk(try statusJSON(s.system), name)
        return (d["status"] as? String ?? "?", d["error"] as? String ?? "")
    }

    func testImagesSwappedWithinADiskAreAnErrorAndNeverReverseTheCopy() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:1M:mandatory"] + sys)
        try rdr(["disk", "split"] + sys)
        try rdr(["write", "boot", "--side", "production", "--offset", "0", "--pattern", "1", "--length", "64K"] + sys)
        try rdr(["write", "boot", "--side", "upgrade", "--offset", "128K", "--pattern", "2", "--length", "64K"] + sys)
        let production = data(s.image("boot", 10))
        let upgrade = data(s.image("boot", 11))
        try swap(s.image("boot", 10), s.image("boot", 11))
        let st = try diskStatus(s, "boot")
        XCTAssertEqual(st.status, "Error")
        XCTAssertTrue(st.error.contains("swapped"), st.error)
        try refused(["disk", "resync", "boot", "--from", "10"] + sys, s, status: 65, mentions: "swapped")
        try refused(
            ["write", "boot", "--side", "upgrade", "--offset", "0", "--pattern", "3", "--length", "4K"] + sys, s,
            status: 65, mentions: "swapped")
        try refused(["disk", "verify", "boot", "--adopt"] + sys, s, status: 65, mentions: "swapped")
        try swap(s.image("boot", 10), s.image("boot", 11))
        try rdr(["disk", "resync", "boot", "--from", "10"] + sys)
        XCTAssertEqual(data(s.image("boot", 10)), production, "the copy went Production → Upgrade")
        XCTAssertEqual(data(s.image("boot", 11)).prefix(65536), production.prefix(65536))
        XCTAssertNotEqual(data(s.image("boot", 11)), upgrade)
        try rdr(["disk", "verify", "boot"] + sys)
    }

    func testImagesSwappedBetweenDisksAreAnErrorThatVerifyExplains() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:1M:mandatory", "--disk", "data:1M:data"] + sys)
        try rdr(["write", "boot", "--offset", "0", "--pattern", "1", "--length", "256K"] + sys)
        try rdr(["write", "data", "--offset", "64K", "--pattern", "2", "--length", "256K"] + sys)
        try swap(s.image("boot", 10), s.image("data", 10))
        for name in ["boot", "data"] {
            let st = try diskStatus(s, name)
            XCTAssertEqual(st.status, "Error", "never None over members that differ")
            XCTAssertTrue(st.error.contains("rdr disk verify \(name)") && st.error.contains("--full --force"), st.error)
        }
        let v = try rdr(["disk", "verify", "boot"] + sys, expect: 2)
        XCTAssertTrue(v.stdout.contains("marked in sync"), v.stdout)
        try refused(["disk", "verify", "boot", "--adopt"] + sys, s, status: 65, mentions: "marked in sync")
        try swap(s.image("boot", 10), s.image("data", 10))
        XCTAssertEqual(try diskStatus(s, "boot").status, "None")
        XCTAssertEqual(try diskStatus(s, "data").status, "None")
    }

    func testAReplacedImageIsAnErrorUntilAFullResyncKeepsOneMember() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:1M:mandatory"] + sys)
        try rdr(["write", "boot", "--offset", "0", "--pattern", "1", "--length", "128K"] + sys)
        let good = data(s.image("boot", 11))
        var other = good
        other[5] ^= 0xFF
        try other.write(to: URL(fileURLWithPath: s.path + "/restored.img"))
        try FileManager.default.removeItem(atPath: s.image("boot", 10))
        try FileManager.default.moveItem(atPath: s.path + "/restored.img", toPath: s.image("boot", 10))
        let st = try diskStatus(s, "boot")
        XCTAssertEqual(st.status, "Error")
        XCTAssertTrue(st.error.contains("replaced"), st.error)
        try refused(
            ["write", "boot", "--offset", "0", "--pattern", "1", "--length", "4K"] + sys, s, status: 65,
            mentions: "replaced")
        try refused(["disk", "resync", "boot", "--from", "11", "--full"] + sys, s, status: 64, mentions: "--force")
        try rdr(["disk", "resync", "boot", "--from", "11", "--full", "--force"] + sys)
        XCTAssertEqual(data(s.image("boot", 10)), good)
        XCTAssertEqual(try diskStatus(s, "boot").status, "None")
    }

    func testACopiedSystemIsReadoptedAfterVerify() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:1M:mandatory", "--disk", "data:1M:data"] + sys)
        try rdr(["disk", "split"] + sys)
        try rdr(["write", "boot", "--side", "upgrade", "--offset", "0", "--pattern", "1", "--length", "64K"] + sys)
        try rdr(
            ["write", "data", "--side", "production", "--offset", "64K", "--pattern", "2", "--length", "64K"] + sys)
        let copy = s.path + "/copy"
        XCTAssertEqual(Host.run("/bin/cp", ["-a", s.system, copy]), 0)
        let copied = ["--system", copy]
        let st = disk(try statusJSON(copy), "boot")
        XCTAssertEqual(st["status"] as? String, "Error")
        XCTAssertTrue((st["error"] as? String ?? "").contains("rdr disk verify boot --adopt"), "\(st)")
        XCTAssertEqual(try diskStatus(s, "boot").status, "Simplex", "the original is untouched")
        let w = try rdr(
            ["write", "boot", "--side", "upgrade", "--offset", "0", "--pattern", "1", "--length", "4K"] + copied,
            expect: 65)
        XCTAssertTrue(errorLine(w).contains("copied"), w.stderr)
        for name in ["boot", "data"] {
            let r = try rdr(["disk", "verify", name, "--adopt"] + copied)
            XCTAssertTrue(r.stdout.contains("adopted"), r.stdout)
        }
        XCTAssertEqual(disk(try statusJSON(copy), "boot")["status"] as? String, "Simplex")
        try rdr(["disk", "resync", "boot", "--from", "11"] + copied)
        try rdr(["disk", "resync", "data", "--from", "10"] + copied)
        try rdr(["disk", "verify", "boot"] + copied)
        XCTAssertEqual(data(copy + "/boot-10.img"), data(s.image("boot", 11)))
    }
}

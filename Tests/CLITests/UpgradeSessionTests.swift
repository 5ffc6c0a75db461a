import Foundation
import FoundationXML
import XCTest

@testable import RDR

/// Upgrade sessions through the `rdr` binary: the status bar at each step, the log as XML, and
/// the process killed at every step boundary of split, merge, commit and abort, then retried.
final class UpgradeSessionTests: XCTestCase {
    func testCommitSessionThroughTheBinary() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:8M:mandatory", "--disk", "data:8M:data"] + sys)
        let configPath = s.path + "/u.Config"
        try rdr(["config", "new", configPath])
        XCTAssertTrue(try rdr(["config", "check", configPath]).stdout.contains("valid"))
        XCTAssertTrue(try rdr(["config", "summary", configPath]).stdout.contains("appdb (from u.Config)"))
        var bars: [String] = []
        bars.append(try rdr(["check", "--config", configPath] + sys).stdout.split(separator: "\n")[0].description)
        bars.append(try rdr(["split"] + sys).stdout.trimmingCharacters(in: .newlines))
        let appdb =
            try rdr(["services"] + sys).stdout.split(separator: "\n").first { $0.hasPrefix("appdb ") }.map(String.init)
            ?? ""
        XCTAssertEqual(
            appdb.split(separator: " ", omittingEmptySubsequences: true),
            ["appdb", "running", "(Automatic)", "stopped", "(Disabled)"],
            "production keeps its service; the Upgrade Side's is stopped and disabled")
        try rdr(["write", "boot", "--side", "upgrade", "--offset", "0", "--pattern", "1", "--length", "1M"] + sys)
        try rdr(["write", "data", "--side", "production", "--offset", "1M", "--pattern", "2", "--length", "1M"] + sys)
        let expectedBoot = data(s.image("boot", 11))
        let expectedData = data(s.image("data", 10))
        try rdr(["restart", "production"] + sys, expect: 1)
        bars.append(try rdr(["restart", "upgrade"] + sys).stdout.trimmingCharacters(in: .newlines))
        bars.append(try rdr(["merge"] + sys).stdout.trimmingCharacters(in: .newlines))
        bars.append(try rdr(["commit"] + sys).stdout.trimmingCharacters(in: .newlines))
        bars.append(try rdr(["finish"] + sys).stdout.trimmingCharacters(in: .newlines))
        XCTAssertEqual(
            bars,
            [
                "u.Config | Fault Tolerant | Idle | Ready | Partner: OS Up",
                "u.Config | Production Side | Split | Ready | Partner: OS Up",
                "u.Config | Production Side | Split | Ready | Partner: OS Up",
                "u.Config | Fault Tolerant | Merge | Ready | Partner: OS Up",
                "u.Config | Fault Tolerant | Commit | Ready | Partner: OS Up",
                "u.Config | Fault Tolerant | Idle | Ready | Partner: OS Up",
            ])
        try waitForResyncs(s.system)
        for e in [10, 11] {
            XCTAssertEqual(data(s.image("boot", e)), expectedBoot)
            XCTAssertEqual(data(s.image("data", e)), expectedData)
        }
        let st = try session(s.system)
        XCTAssertEqual(st["upgradeState"] as? String, "Idle")
        XCTAssertEqual(st["allowedRequests"] as? [String], ["check", "split"])
        let xmlPath = s.path + "/log.xml"
        try rdr(["log", "--xml", xmlPath] + sys)
        let parser = XMLParser(contentsOf: URL(fileURLWithPath: xmlPath))
        XCTAssertEqual(parser?.parse(), true)
        let text = try rdr(["log"] + sys).stdout
        XCTAssertTrue(text.contains("Split the RDR mirrors"), text)
        XCTAssertTrue(
            try rdr(["log", "--severity", "Information"] + sys).stdout.contains("Upgrade Side: OS Rebooting"))
        let refused = try rdr(["merge"] + sys, expect: 1)
        XCTAssertTrue(
            refused.stderr.contains("'merge' is not allowed in state Idle (Ready); allowed now: check, split"),
            refused.stderr)
    }

    func testAbortSessionsThroughTheBinaryRecordTheirActions() throws {
        for from in ["Split", "Merge"] {
            let s = try Scratch()
            let sys = ["--system", s.system]
            try rdr(["init", "--disk", "boot:4M:mandatory", "--disk", "data:4M:data"] + sys)
            let script = s.path + "/record.sh"
            try
                "#!/bin/sh\necho \"$ACTIVE_UPGRADE_SIDE $ACTIVE_UPGRADE_STATE $ACTIVE_UPGRADE_REQUEST $ACTIVE_UPGRADE_HW_SPLIT $1\" >> \(s.path)/env.txt\n"
                .write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
            let config = s.path + "/a.Config"
            try
                #"{"customActions": [{"file": "record.sh", "arguments": ["%ACTIVE_UPGRADE_STATE%"], "controlType": "Advanced"}]}"#
                .write(toFile: config, atomically: true, encoding: .utf8)
            var bars = [try rdr(["split", "--config", config] + sys).stdout.trimmingCharacters(in: .newlines)]
            try rdr(
                ["write", "boot", "--side", "upgrade", "--offset", "0", "--pattern", "7", "--length", "512K"] + sys)
            try rdr(
                ["write", "data", "--side", "production", "--offset", "0", "--pattern", "8", "--length", "512K"] + sys)
            let expectedData = data(s.image("data", 10))
            if from == "Merge" { bars.append(try rdr(["merge"] + sys).stdout.trimmingCharacters(in: .newlines)) }
            bars.append(try rdr(["abort"] + sys).stdout.trimmingCharacters(in: .newlines))
            bars.append(try rdr(["finish"] + sys).stdout.trimmingCharacters(in: .newlines))
            XCTAssertEqual(
                bars,
                ["a.Config | Production Side | Split | Ready | Partner: OS Up"]
                    + (from == "Merge" ? ["a.Config | Fault Tolerant | Merge | Ready | Partner: OS Up"] : [])
                    + [
                        "a.Config | Fault Tolerant | Abort | Ready | Partner: OS Up",
                        "a.Config | Fault Tolerant | Idle | Ready | Partner: OS Up",
                    ])
            try waitForResyncs(s.system)
            for e in [10, 11] {
                XCTAssertEqual(
                    data(s.image("boot", e)), Data(count: 4 << 20), "abort from \(from) restores the original boot disk"
                )
                XCTAssertEqual(
                    data(s.image("data", e)), expectedData, "Production's data survives the abort from \(from)")
            }
            let env = (try? String(contentsOfFile: s.path + "/env.txt", encoding: .utf8)) ?? ""
            let expected =
                [
                    "Production PrepareSplit PrepareSplit No PrepareSplit", "Production Split ExecuteSplit Yes Split",
                    "Upgrade Split ExecuteSplit Yes Split",
                ]
                + (from == "Merge"
                    ? [
                        "Production PrepareMerge PrepareMerge Yes PrepareMerge",
                        "Upgrade PrepareMerge PrepareMerge Yes PrepareMerge", "Production Merge ExecuteMerge No Merge",
                    ] : [])
                // From Split the disks are still split: both sides run it (Table 3-3), HW_SPLIT=Yes.
                + (from == "Merge"
                    ? ["Production Abort Abort No Abort"]
                    : ["Production Abort Abort Yes Abort", "Upgrade Abort Abort Yes Abort"])
                + ["Production Abort Idle No Abort"]  // finish runs Advanced actions too
            XCTAssertEqual(env.split(separator: "\n").map(String.init), expected)
            let log = try rdr(["log", "--json"] + sys).stdout
            XCTAssertEqual(log.contains("Restart from the Production Side"), from == "Merge")
            XCTAssertTrue(log.contains("\"message\":\"Abort request\""), log)
        }
    }

    func testCustomActionTimeoutBreaksTheRequest() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:4M:mandatory"] + sys)
        let config = s.path + "/t.Config"
        try
            #"{"customActions": [{"file": "/bin/sleep", "arguments": "30", "controlType": "StopApplication", "timeoutSeconds": 0.5}]}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let r = try rdr(["split", "--config", config] + sys, expect: 1)
        XCTAssertTrue(r.stderr.contains("Custom action timed out after 0.5 seconds (/bin/sleep)"), r.stderr)
        XCTAssertTrue(r.stdout.contains("| Split | Broken |"), r.stdout)
        try rdr(["abort"] + sys)
        try rdr(["finish"] + sys)
    }

    /// Drives a fresh system to just before `request`, runs it with the process killed at crash
    /// point `k`, then completes with `finish` (after `retry`) and returns the members' bytes.
    func crashRun(_ request: String, at k: Int?, abortInstead: Bool = false) throws -> (
        killed: Bool, images: [Data], bars: [String]
    ) {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:4M:mandatory", "--disk", "data:4M:data"] + sys)
        let order = ["split", "merge", "commit"]
        func writes(after step: String) throws {
            if step == "split" {
                try rdr(
                    ["write", "boot", "--side", "upgrade", "--offset", "0", "--pattern", "1", "--length", "256K"] + sys)
                try rdr(
                    ["write", "boot", "--side", "production", "--offset", "1M", "--pattern", "2", "--length", "128K"]
                        + sys)
                try rdr(
                    ["write", "data", "--side", "production", "--offset", "2M", "--pattern", "3", "--length", "256K"]
                        + sys)
            }
        }
        if request != "split" {
            for step in order.prefix(while: { $0 != request && !(request == "abort" && $0 == "commit") }) {
                try rdr([step] + sys)
                try writes(after: step)
            }
        }
        var env: [String: String] = [:]
        if let k { env["RDR_AU_CRASH_POINT"] = "\(k)" }
        let r = try RDRProcess.run([request] + sys, environment: env)
        let killed =
            r.status == SIGKILL || r.status == 128 + SIGKILL || r.status == 137 || (r.status != 0 && r.stderr.isEmpty)
        var bars: [String] = []
        if killed {
            let st = try session(s.system)
            XCTAssertEqual(
                st["operationalState"] as? String, "Broken", "crash point \(String(describing: k)) of \(request)")
            XCTAssertEqual(st["request"] as? String, request)
            bars.append(st["statusBar"] as? String ?? "")
            try rdr([abortInstead ? "abort" : "retry"] + sys)
        } else {
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        if request == "split" && !abortInstead { try writes(after: "split") }
        // Complete the session the same way every time.
        var st = try session(s.system)
        while let state = st["upgradeState"] as? String, state != "Idle" {
            let next = ["Split": "merge", "Merge": "commit", "Commit": "finish", "Abort": "finish"][state] ?? "abort"
            try rdr([next] + sys)
            st = try session(s.system)
        }
        try waitForResyncs(s.system)
        let images = ["boot", "data"].flatMap { d in [10, 11].map { data(s.image(d, $0)) } }
        XCTAssertEqual(images[0], images[1])
        XCTAssertEqual(images[2], images[3])
        return (killed, images, bars)
    }

    func testKilledAtEveryStepOfEveryRequestRetriesToTheSameBytes() throws {
        for request in ["split", "merge", "commit", "abort"] {
            let reference = try crashRun(request, at: nil).images
            var k = 1
            var kills = 0
            while k < 40 {
                let (killed, images, bars) = try crashRun(request, at: k)
                if !killed { break }
                kills += 1
                XCTAssertTrue(bars.first?.contains("Broken") == true, "\(request) k=\(k): \(bars)")
                // Writes of the workload are pattern data: same bytes whatever step was interrupted.
                XCTAssertTrue(
                    images == reference, "\(request) killed at point \(k) then retried ends with different bytes")
                k += 1
            }
            XCTAssertGreaterThan(kills, 3, "\(request) has step boundaries to kill at")
        }
    }

    func testKilledSplitCanBeAbortedInstead() throws {
        // An untouched pair of 4 MiB members: what an abort must restore.
        let pristine = Data(count: 4 << 20)
        for k in [3, 8, 13] {
            let (killed, images, _) = try crashRun("split", at: k, abortInstead: true)
            XCTAssertTrue(killed)
            XCTAssertEqual(
                images, [pristine, pristine, pristine, pristine], "abort after a split killed at point \(k)")
        }
    }
}

import Foundation
import XCTest

/// `rdr simulate`: the guide's failures rehearsed through the binary. Each event shows its partner
/// states (Table 4-6) in the log and in `status`, and its consequence ends with the bytes of an
/// ordinary abort.
final class SimulateTests: XCTestCase {
    func lastEvent(_ system: String) throws -> [String: Any] {
        try session(system)["lastEvent"] as? [String: Any] ?? [:]
    }

    func testUpgradeSideCrashRecoversAndTheDumpIsReportedAtAbort() throws {
        let (s, sys) = try newSystem()
        let expected = try splitWithWrites(s)
        let r = try rdr(["simulate", "crash"] + sys)
        XCTAssertEqual(bar(r), "(no configuration) | Production Side | Split | Ready | Partner: OS Up")
        let event = try lastEvent(s.system)
        XCTAssertEqual(event["event"] as? String, "crash")
        XCTAssertEqual(event["side"] as? String, "upgrade")
        XCTAssertEqual(
            event["partnerStates"] as? [String],
            [
                "State Sensitive Recovery: NMI issued", "State Sensitive Recovery: Reset", "BIOS POST", "OS Booting",
                "OS Up",
            ])
        XCTAssertTrue(try rdr(["status"] + sys).stdout.contains("Simulated: crash of the Upgrade Side"))
        try rdr(["abort"] + sys)
        XCTAssertTrue(try rdr(["log"] + sys).stdout.contains("dump file"))
        try rdr(["finish"] + sys)
        try assertAborted(s, data: expected)
    }

    func testHungUpgradeSideBlocksMergeUntilReset() throws {
        for (during, states) in [
            ("up", ["Hung: OS Up"]), ("boot", ["OS Rebooting", "BIOS POST", "OS Booting", "Hung: OS Booting"]),
            ("post", ["OS Rebooting", "BIOS POST", "Hung: BIOS POST"]),
            ("reboot", ["OS Rebooting", "Hung: OS Rebooting"]),
            ("shutdown", ["OS Shutting Down", "Hung: OS Shutting Down"]),
        ] {
            let (s, sys) = try newSystem()
            let expected = try splitWithWrites(s)
            let hung = states.last ?? ""
            XCTAssertEqual(
                bar(try rdr(["simulate", "hang", "--during", during] + sys)),
                "(no configuration) | Production Side | Split | Ready | Partner: \(hung)")
            XCTAssertEqual(try lastEvent(s.system)["partnerStates"] as? [String], states)
            XCTAssertEqual(try session(s.system)["allowedRequests"] as? [String], ["abort", "restart upgrade"])
            try refused(["merge"] + sys, s, status: 1, mentions: "Partner: \(hung)")
            let reset = try rdr(["restart", "upgrade"] + sys)
            XCTAssertEqual(bar(reset), "(no configuration) | Production Side | Split | Ready | Partner: OS Up")
            XCTAssertTrue(try rdr(["log"] + sys).stdout.contains("Upgrade Side: State Sensitive Recovery: Reset"))
            try abortAndCheck(s, data: expected)
        }
    }

    func testShutdownAndPowerLossForceTheAbort() throws {
        for (event, side, states) in [
            ("shutdown", "upgrade", ["OS Shutting Down", "DC On"]), ("power-loss", "upgrade", ["DC Off"]),
            ("crash", "production", [String]()), ("power-loss", "production", [String]()),
        ] {
            let (s, sys) = try newSystem()
            _ = s.recorder
            let config = s.config("r.Config", #"{"customActions": [{"file": "record.sh", "controlType": "Advanced"}]}"#)
            let expected = try splitWithWrites(s, config: config)
            try FileManager.default.removeItem(atPath: s.path + "/env.txt")
            let r = try rdr(["simulate", event, "--side", side] + sys)
            XCTAssertEqual(bar(r), "r.Config | Fault Tolerant | Abort | Ready | Partner: OS Up", "\(event) \(side)")
            let ev = try lastEvent(s.system)
            XCTAssertEqual(ev["event"] as? String, event)
            XCTAssertEqual(ev["side"] as? String, side)
            XCTAssertTrue(((ev["consequence"] as? String) ?? "").contains("abort"), "\(ev)")
            if side == "upgrade" {
                XCTAssertEqual(Array(((ev["partnerStates"] as? [String]) ?? []).prefix(states.count)), states)
                // The Upgrade Side is down: its actions are skipped, the Production Side's run.
                XCTAssertEqual(s.recorded, ["Production Abort Abort Yes"], event)
            }
            try rdr(["finish"] + sys)
            try assertAborted(s, data: expected)
        }
    }

    func testSplitTimeoutBreaksTheSplit() throws {
        let (s, sys) = try newSystem()
        XCTAssertEqual(try rdr(["simulate", "split-timeout"] + sys).stdout.contains("armed"), true)
        XCTAssertEqual(try session(s.system)["pendingEvents"] as? [String], ["split-timeout"])
        let r = try rdr(["split"] + sys, env: ["RDR_SPLIT_TIMEOUT": "1"], expect: 1)
        XCTAssertTrue(r.stderr.contains("did not complete within 1 second"), r.stderr)
        XCTAssertEqual(bar(r), "(no configuration) | Fault Tolerant | Split | Broken | Partner: OS Up")
        try abortAndCheck(s, data: Data(count: 4 << 20))
        // The configured timeout holds for a slow action too.
        s.script("slow.sh", "sleep 30")
        let config = s.config(
            "slow.Config",
            #"{"splitTimeoutSeconds": 1, "customActions": [{"file": "slow.sh", "controlType": "StopApplication", "timeoutSeconds": 600}]}"#
        )
        let slow = try rdr(["split", "--config", config] + sys, expect: 1)
        XCTAssertTrue(slow.stderr.contains("did not complete within 1 second"), slow.stderr)
        try rdr(["abort"] + sys)
    }

    func testActionKilledBySignalBreaksTheRequest() throws {
        let (s, sys) = try newSystem()
        _ = s.recorder
        let config = s.config("r.Config", #"{"customActions": [{"file": "record.sh", "controlType": "Advanced"}]}"#)
        try rdr(["simulate", "action-signal", "--signal", "TERM"] + sys)
        let r = try rdr(["split", "--config", config] + sys, expect: 1)
        XCTAssertTrue(r.stderr.contains("Custom action was killed by signal 15 (SIGTERM)"), r.stderr)
        XCTAssertEqual(try session(s.system)["pendingEvents"] as? [String], [])
        try rdr(["retry"] + sys)
        try rdr(["write", "data", "--side", "production", "--offset", "0", "--pattern", "4", "--length", "64K"] + sys)
        let expected = data(s.image("data", 10))
        try abortAndCheck(s, data: expected)
    }

    func testEventsOutsideTheirStatesAreRefused() throws {
        let (s, sys) = try newSystem()
        try refused(["simulate", "crash"] + sys, s, status: 1, mentions: "while the system is split")
        try refused(["simulate", "meteor"] + sys, s, status: 64, mentions: "unknown event 'meteor'")
        try refused(["simulate", "hang", "--during", "lunch"] + sys, s, status: 64, mentions: "--during")
        try refused(["simulate", "action-signal", "--signal", "NOPE"] + sys, s, status: 64, mentions: "--signal")
        try rdr(["split"] + sys)
        try refused(["simulate", "split-timeout"] + sys, s, status: 1, mentions: "before a split")
        try rdr(["simulate", "shutdown"] + sys)
        XCTAssertTrue(try rdr(["simulate", "--help"]).stdout.contains("PARTNER STATES (Table 4-6)"))
    }
}

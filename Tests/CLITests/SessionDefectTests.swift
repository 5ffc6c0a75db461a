import Foundation
import XCTest

/// Issue 9's defects, each through the built `rdr` (each failed before its fix).
final class SessionDefectTests: XCTestCase {
    // 1. A second session after finish, with the same configuration; a broken session whose
    //    configuration is gone can still be aborted.
    func testSecondSessionAfterFinishReusesTheConfiguration() throws {
        let (s, sys) = try newSystem()
        _ = s.recorder
        let config = s.config(
            "x.Config", #"{"services": ["appdb"], "customActions": [{"file": "record.sh", "controlType": "Advanced"}]}"#
        )
        try rdr(["check", "--config", config] + sys)
        for r in ["split", "merge", "commit", "finish"] { try rdr([r] + sys) }
        try waitForResyncs(s.system)
        XCTAssertEqual(bar(try rdr(["check"] + sys)), "x.Config | Fault Tolerant | Idle | Ready | Partner: OS Up")
        XCTAssertEqual(bar(try rdr(["split"] + sys)), "x.Config | Production Side | Split | Ready | Partner: OS Up")
        XCTAssertTrue(FileManager.default.fileExists(atPath: s.system + "/session/staging/x.Config"))
        // The staged copy vanishes: the next request breaks, and abort still completes.
        try FileManager.default.removeItem(atPath: s.system + "/session/staging")
        XCTAssertNotEqual(try RDRProcess.run(["merge"] + sys).status, 0)
        XCTAssertEqual(bar(try rdr(["abort"] + sys)), "x.Config | Fault Tolerant | Abort | Ready | Partner: OS Up")
        XCTAssertEqual(bar(try rdr(["finish"] + sys)), "x.Config | Fault Tolerant | Idle | Ready | Partner: OS Up")
        try waitForResyncs(s.system)
        // The user's file itself is gone: refused with the way out (data error, not usage).
        try FileManager.default.removeItem(atPath: config)
        let r = try rdr(["check"] + sys, expect: 65)
        XCTAssertTrue(
            r.stderr.hasPrefix("Error: ") && r.stderr.contains("--config") && !r.stderr.contains("Usage:"), r.stderr)
        XCTAssertEqual(
            bar(try rdr(["check", "--no-config"] + sys)),
            "(no configuration) | Fault Tolerant | Idle | Ready | Partner: OS Up")
    }

    // 2. abort --force: stops a running request with its children; skips failing actions.
    func testAbortForceStopsARunningRequestAndItsChildren() throws {
        try abortForceStopsARunningRequest(served: false)
    }

    /// The same with `rdr serve` owning the system: both requests are forwarded commands of one
    /// process, so the running one is stopped by its cancellation, and the owner lives on.
    func testAbortForceStopsARunningForwardedRequest() throws {
        try abortForceStopsARunningRequest(served: true)
    }

    private func abortForceStopsARunningRequest(served: Bool) throws {
        let (s, sys) = try newSystem()
        let owner = served ? try ServedOwner(system: s.system) : nil
        s.script("hang.sh", "sleep 600 &\necho $! > \(s.path)/sleep.pid\nwait")
        let config = s.config(
            "h.Config",
            #"{"customActions": [{"file": "hang.sh", "controlType": "StopApplication", "timeoutSeconds": 3600}]}"#)
        let (p, out, err) = try RDRProcess.start(["split", "--config", config] + sys)
        XCTAssertTrue(eventually { pid(inFile: s.path + "/sleep.pid") > 0 })
        let sleeper = pid(inFile: s.path + "/sleep.pid")
        try refused(["abort"] + sys, s, status: 75, mentions: "busy")
        XCTAssertEqual(
            bar(try rdr(["abort", "--force"] + sys)), "h.Config | Fault Tolerant | Abort | Ready | Partner: OS Up")
        XCTAssertEqual(RDRProcess.finish(p, out, err).status, 130, "the stopped request exits as interrupted")
        XCTAssertFalse(processAlive(sleeper), "the action's children are stopped too")
        try rdr(["finish"] + sys)
        try assertAborted(s, data: Data(count: 4 << 20))
        if let owner { XCTAssertEqual(owner.stop().status, 0, "the owner lived on and stops cleanly") }
    }

    func testAbortForceSkipsAFailingAbortAction() throws {
        let (s, sys) = try newSystem()
        s.script(
            "adv.sh",
            "echo \"advanced $ACTIVE_UPGRADE_REQUEST\"\nif [ \"$ACTIVE_UPGRADE_REQUEST\" = Abort ]; then echo boom-on-abort >&2; exit 3; fi"
        )
        let config = s.config("a.Config", #"{"customActions": [{"file": "adv.sh", "controlType": "Advanced"}]}"#)
        let expected = try splitWithWrites(s, config: config)
        let failed = try rdr(["abort"] + sys, expect: 1)
        XCTAssertEqual(bar(failed), "a.Config | Production Side | Abort | Broken | Partner: OS Up")
        XCTAssertEqual(try session(s.system)["allowedRequests"] as? [String], ["retry", "abort --force"])
        XCTAssertEqual(
            bar(try rdr(["abort", "--force"] + sys)), "a.Config | Fault Tolerant | Abort | Ready | Partner: OS Up")
        let log = try rdr(["log", "--json"] + sys).stdout
        let entries = (try JSONSerialization.jsonObject(with: Data(log.utf8)) as? [[String: Any]]) ?? []
        XCTAssertTrue(
            entries.contains {
                ($0["severity"] as? String) == "Error" && (($0["detail"] as? String) ?? "").contains("boom-on-abort")
            }, log)
        try rdr(["finish"] + sys)
        try assertAborted(s, data: expected)
    }

    /// A finish (or commit) broken by a failing action cannot be rolled back: `retry --force`
    /// completes it with the action logged and skipped.
    func testRetryForceCompletesAFinishBrokenByAnAction() throws {
        let (s, sys) = try newSystem()
        s.script("adv.sh", "if [ \"$ACTIVE_UPGRADE_REQUEST\" = Idle ]; then echo boom-on-finish >&2; exit 4; fi")
        let config = s.config("f.Config", #"{"customActions": [{"file": "adv.sh", "controlType": "Advanced"}]}"#)
        let expected = try splitWithWrites(s, config: config)
        try rdr(["abort"] + sys)
        XCTAssertEqual(
            bar(try rdr(["finish"] + sys, expect: 1)), "f.Config | Fault Tolerant | Abort | Broken | Partner: OS Up")
        XCTAssertEqual(try session(s.system)["allowedRequests"] as? [String], ["retry", "retry --force"])
        try refused(["abort", "--force"] + sys, s, status: 1, mentions: "allowed now: retry, retry --force")
        try rdr(["retry"] + sys, expect: 1)
        XCTAssertEqual(
            bar(try rdr(["retry", "--force"] + sys)), "f.Config | Fault Tolerant | Idle | Ready | Partner: OS Up")
        XCTAssertTrue(try rdr(["log", "--severity", "Error"] + sys).stdout.contains("boom-on-finish"))
        try assertAborted(s, data: expected)
    }

    // 3. Timeouts kill the whole process group; every number in range; daemons; signals; SIGTERM.
    func testActionTimeoutKillsTheWholeProcessGroup() throws {
        let (s, sys) = try newSystem()
        s.script("sleeper.sh", "sleep 20 &\necho $! > \(s.path)/sleep.pid\nwait")
        let config = s.config(
            "t.Config",
            #"{"customActions": [{"file": "sleeper.sh", "controlType": "StopApplication", "timeoutSeconds": 1}]}"#)
        let r = try rdr(["split", "--config", config] + sys, expect: 1)
        XCTAssertTrue(r.stderr.contains("Custom action timed out after 1 second"), r.stderr)
        XCTAssertFalse(processAlive(pid(inFile: s.path + "/sleep.pid")), "the action's child was killed with it")
        try rdr(["abort"] + sys)
    }

    func testTimeoutSecondsAcceptsEveryNumberInRange() throws {
        let s = try Scratch()
        for t in ["1", "1.0", "2", "0.5", "86400", "1e3"] {
            let c = s.config(
                "n.Config",
                #"{"customActions": [{"file": "/bin/true", "controlType": "Backup", "timeoutSeconds": \#(t)}]}"#)
            XCTAssertTrue(try rdr(["config", "check", c]).stdout.contains("valid"), t)
        }
        for t in ["0", "-1", "86401", "true", "false", "\"5\""] {
            let c = s.config(
                "n.Config",
                #"{"customActions": [{"file": "/bin/true", "controlType": "Backup", "timeoutSeconds": \#(t)}]}"#)
            let r = try rdr(["config", "check", c], expect: 65)
            XCTAssertTrue(
                r.stderr.contains("timeoutSeconds' must be a number of seconds greater than 0 and at most 86400"),
                "\(t): \(r.stderr)")
        }
    }

    func testDaemonLeftByAnActionDoesNotHoldTheRequest() throws {
        let (s, sys) = try newSystem()
        s.script("start.sh", "( sleep 20 ) &\necho $! > \(s.path)/daemon.pid\necho started\nexit 0")
        let config = s.config(
            "d.Config",
            #"{"customActions": [{"file": "start.sh", "controlType": "ReadinessCheck", "timeoutSeconds": 2}]}"#)
        try rdr(["check", "--config", config] + sys)
        let daemon = pid(inFile: s.path + "/daemon.pid")
        XCTAssertTrue(processAlive(daemon), "the daemon an action starts keeps running")
        kill(daemon, SIGKILL)
        XCTAssertTrue(try rdr(["log"] + sys).stdout.contains("started"))
    }

    func testActionKilledBySignalIsReportedTheSameWayEverywhere() throws {
        let (s, sys) = try newSystem()
        s.script("die.sh", "kill -KILL $$")
        let config = s.config("k.Config", #"{"customActions": [{"file": "die.sh", "controlType": "ReadinessCheck"}]}"#)
        let r = try rdr(["check", "--config", config] + sys, expect: 1)
        XCTAssertTrue(r.stderr.contains("Custom action was killed by signal 9 (SIGKILL)"), r.stderr)
        let log = try rdr(["log", "--severity", "Error"] + sys).stdout
        XCTAssertTrue(log.contains("| Custom action was killed by signal 9 (SIGKILL)"), log)
        XCTAssertFalse(log.contains("exit value"), log)
    }

    func testSigtermStopsTheRequestAndNamesAnAllowedRequest() throws {
        let (s, sys) = try newSystem()
        // Hangs when the request is the one named in hang-on.
        s.script(
            "hang.sh",
            "if [ \"$ACTIVE_UPGRADE_REQUEST\" = \"$(cat \(s.path)/hang-on)\" ]; then sleep 600 & echo $! > \(s.path)/sleep.pid; wait; fi"
        )
        let config = s.config(
            "h.Config",
            #"{"customActions": [{"file": "hang.sh", "controlType": "StopApplication"}, {"file": "hang.sh", "controlType": "Advanced"}]}"#
        )
        for (request, hangOn, allowed) in [
            ("split", "Stop", ["retry", "abort"]), ("commit", "Commit", ["retry", "retry --force"]),
        ] {
            try hangOn.write(toFile: s.path + "/hang-on", atomically: true, encoding: .utf8)
            try? FileManager.default.removeItem(atPath: s.path + "/sleep.pid")
            let (p, out, err) = try RDRProcess.start(
                [request] + (request == "split" ? ["--config", config] : []) + sys)
            XCTAssertTrue(eventually { pid(inFile: s.path + "/sleep.pid") > 0 })
            let sleeper = pid(inFile: s.path + "/sleep.pid")
            kill(p.processIdentifier, SIGTERM)
            let r = RDRProcess.finish(p, out, err)
            XCTAssertEqual(r.status, 130, r.stderr)
            XCTAssertFalse(processAlive(sleeper), "SIGTERM kills the running action's process group")
            XCTAssertTrue(r.stderr.contains("'rdr retry'"), r.stderr)
            XCTAssertEqual(r.stderr.contains("'rdr abort'"), allowed.contains("abort"), r.stderr)
            XCTAssertEqual(try session(s.system)["allowedRequests"] as? [String], allowed)
            try "none".write(toFile: s.path + "/hang-on", atomically: true, encoding: .utf8)
            try rdr(["retry"] + sys)
            if request == "split" { try rdr(["merge"] + sys) }
        }
        try rdr(["finish"] + sys)
    }

    // 4. Engine commands are refused on disks the session owns; --force overrides and is logged.
    func testEngineCommandsDuringASessionAreRefused() throws {
        let (s, sys) = try newSystem()
        let expected = try splitWithWrites(s)
        for args in [
            ["disk", "resync", "boot", "--from", "10"], ["disk", "merge"], ["disk", "split", "boot"],
            ["disk", "verify", "boot", "--repair-from", "10"],
        ] {
            try refused(args + sys, s, status: 1, mentions: "the upgrade session (Split | Ready)")
            XCTAssertTrue(try RDRProcess.run(args + sys).stderr.contains("allowed now: merge, abort, restart upgrade"))
        }
        try rdr(["disk", "verify", "boot"] + sys, expect: 2)  // read-only: allowed, and the members differ
        XCTAssertEqual(
            try session(s.system)["statusBar"] as? String,
            "(no configuration) | Production Side | Split | Ready | Partner: OS Up")
        try rdr(["disk", "resync", "data", "--from", "10", "--force"] + sys)
        let log = try rdr(["log", "--severity", "Warning"] + sys).stdout
        XCTAssertTrue(log.contains("rdr disk resync data --from 10 --force") && log.contains("Split | Ready"), log)
        try abortAndCheck(s, data: expected)
    }

    // 5. Hardware state and ACTIVE_UPGRADE_HW_SPLIT follow the disks' real modes.
    func testHardwareStateFollowsTheDisks() throws {
        let (s, sys) = try newSystem()
        _ = s.recorder
        let config = s.config("r.Config", #"{"customActions": [{"file": "record.sh", "controlType": "Advanced"}]}"#)
        let expected = try splitWithWrites(s, config: config)
        try FileManager.default.removeItem(atPath: s.path + "/env.txt")
        try rdr(["abort"] + sys)
        XCTAssertEqual(
            s.recorded, ["Production Abort Abort Yes", "Upgrade Abort Abort Yes"],
            "abort from Split runs on both sides of split disks")
        try rdr(["finish"] + sys)
        try assertAborted(s, data: expected)
        // A request killed before the mirrors split: the bar reports the duplex disks.
        s.script("hang.sh", "sleep 600 &\necho $! > \(s.path)/sleep.pid\nwait")
        let hang = s.config("h.Config", #"{"customActions": [{"file": "hang.sh", "controlType": "StopApplication"}]}"#)
        let (p, out, err) = try RDRProcess.start(["split", "--config", hang] + sys)
        XCTAssertTrue(eventually { pid(inFile: s.path + "/sleep.pid") > 0 })
        kill(p.processIdentifier, SIGKILL)
        _ = RDRProcess.finish(p, out, err)
        kill(pid(inFile: s.path + "/sleep.pid"), SIGKILL)
        let st = try session(s.system)
        XCTAssertEqual(st["statusBar"] as? String, "h.Config | Fault Tolerant | Split | Broken | Partner: OS Up")
        XCTAssertEqual(disk(try statusJSON(s.system), "boot")["mode"] as? String, "duplex")
    }

    // 6. Only check (and retry) after a failed check.
    func testSplitIsRefusedAfterAFailedCheck() throws {
        let (s, sys) = try newSystem()
        try s.editManifest { m in
            var model = m["activeUpgrade"] as? [String: Any] ?? [:]
            model["ioBoards"] = [["number": 10, "safeToPull": true], ["number": 11, "safeToPull": false]]
            m["activeUpgrade"] = model
        }
        XCTAssertEqual(
            bar(try rdr(["check"] + sys, expect: 1)),
            "(no configuration) | Fault Tolerant | Idle | Broken | Partner: OS Up")
        try refused(
            ["split"] + sys, s, status: 1,
            mentions: "'split' is not allowed in state Idle (Broken); allowed now: check, retry")
        try s.editManifest { m in
            var model = m["activeUpgrade"] as? [String: Any] ?? [:]
            model["ioBoards"] = [["number": 10, "safeToPull": true], ["number": 11, "safeToPull": true]]
            m["activeUpgrade"] = model
        }
        XCTAssertEqual(
            bar(try rdr(["retry"] + sys)), "(no configuration) | Fault Tolerant | Idle | Ready | Partner: OS Up")
        try rdr(["split"] + sys)
    }

    // 7. The disk selection belongs to the session: the manifest's roles come back at finish.
    func testDiskSelectionIsRestoredAtFinish() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:4M:mandatory", "--disk", "data:4M:data", "--disk", "logs:4M:data"] + sys)
        let config = s.config("d.Config", #"{"disks": {"logs": "system"}}"#)
        for ending in [["abort", "finish"], ["merge", "commit", "finish"]] {
            try rdr(["split", "--config", config] + sys)
            XCTAssertEqual(s.manifestRoles()["logs"], "system", "the selection applies during the session")
            for r in ending.dropLast() { try rdr([r] + sys) }
            // finish killed after its first step boundary: the next command completes it.
            _ = try RDRProcess.run(["finish"] + sys, environment: ["RDR_AU_CRASH_POINT": "2"])
            try rdr(["finish"] + sys)
            XCTAssertEqual(s.manifestRoles(), ["boot": "mandatory", "data": "data", "logs": "data"], "after \(ending)")
            try waitForResyncs(s.system)
        }
    }

    // 8. Readiness: every check logged; unteamed adapters warn; one team with link is enough.
    func testReadinessCheckGaps() throws {
        let (s, sys) = try newSystem()
        try s.editManifest { m in
            var model = m["activeUpgrade"] as? [String: Any] ?? [:]
            var nics = model["nics"] as? [[String: Any]] ?? []
            nics += [
                ["name": "eth2", "enclosure": 10, "embedded": false, "team": NSNull(), "link": true],
                [
                    "name": "eth3a", "adapter": "pci3", "enclosure": 11, "embedded": false, "team": "team0",
                    "link": true,
                ],
                [
                    "name": "eth3b", "adapter": "pci3", "enclosure": 11, "embedded": false, "team": NSNull(),
                    "link": false,
                ],
                ["name": "eth20", "enclosure": 10, "embedded": true, "team": "team1", "link": false],
                ["name": "eth21", "enclosure": 11, "embedded": true, "team": "team1", "link": true],
            ]
            model["nics"] = nics
            var teams = model["teams"] as? [[String: Any]] ?? []
            teams.append(["name": "team1", "ipAddress": "192.0.2.11", "dhcp": false])
            model["teams"] = teams
            m["activeUpgrade"] = model
        }
        try rdr(["check"] + sys)
        let log = try rdr(["log", "--json"] + sys).stdout
        let entries = (try JSONSerialization.jsonObject(with: Data(log.utf8)) as? [[String: Any]]) ?? []
        func has(_ severity: String, _ message: String) -> Bool {
            entries.contains { $0["severity"] as? String == severity && $0["message"] as? String == message }
        }
        for m in [
            "IO board 10 is safe to pull", "VTM configured in enclosure 11", "Embedded NIC eth10 is teamed",
            "Team team0 has link on both sides", "Remote Desktop is enabled", "RDR disk boot is duplexed",
        ] {
            XCTAssertTrue(has("Success", m), m)
        }
        XCTAssertTrue(has("Warning", "Ethernet PCI adapter eth2 is not teamed"), log)
        XCTAssertTrue(has("Warning", "Only one port of adapter pci3 is teamed"), log)
        XCTAssertFalse(
            log.contains("Team does not have link on both sides"), "one team with link in both enclosures is enough")
        // config check names a custom action whose file does not exist.
        let missing = s.config("m.Config", #"{"customActions": [{"file": "nope.sh", "controlType": "Backup"}]}"#)
        let r = try rdr(["config", "check", missing], expect: 65)
        XCTAssertTrue(
            r.stderr.contains("The executable filename does not exist.") && r.stderr.contains("nope.sh"), r.stderr)
        // No log backup directory: a warning, not a configuration error (3-10).
        let nodir = s.config("b.Config", #"{"logBackup": {"logs": []}}"#)
        let valid = try rdr(["config", "check", nodir] + sys).stdout
        XCTAssertTrue(valid.contains("Warning: ") && valid.lowercased().contains("no log backup directory"), valid)
        try rdr(["check", "--config", nodir] + sys)
        XCTAssertTrue(
            try rdr(["log", "--severity", "Warning"] + sys).stdout.lowercased().contains("no log backup directory"))
    }

    // 9. Advanced actions run at every step, check and finish included.
    func testAdvancedActionsRunAtCheckAndFinish() throws {
        let (s, sys) = try newSystem()
        _ = s.recorder
        let config = s.config(
            "a.Config",
            #"{"customActions": [{"file": "record.sh", "controlType": "Advanced", "arguments": "%ACTIVE_UPGRADE_REQUEST%"}]}"#
        )
        try rdr(["check", "--config", config] + sys)
        for r in ["split", "merge", "commit", "finish"] { try rdr([r] + sys) }
        XCTAssertEqual(
            s.recorded,
            [
                "Production Idle CheckReadiness No CheckReadiness",
                "Production PrepareSplit PrepareSplit No PrepareSplit",
                "Production Split ExecuteSplit Yes ExecuteSplit", "Upgrade Split ExecuteSplit Yes ExecuteSplit",
                "Production PrepareMerge PrepareMerge Yes PrepareMerge",
                "Upgrade PrepareMerge PrepareMerge Yes PrepareMerge",
                "Production Merge ExecuteMerge No ExecuteMerge",
                "Production Commit Commit No Commit",
                "Production Commit Idle No Idle",
            ])
    }

    // 10. A damaged or stale session file is a data error (65) with the way out, never usage (64).
    func testDamagedOrStaleSessionIsADataError() throws {
        let (s, sys) = try newSystem()
        // What the previous version left after finish: a session naming the removed staged copy.
        let stale =
            #"{"configurationDirectory": "\#(s.path)", "configurationName": "x.Config", "configurationPath": "\#(s.system)/session/staging/x.Config", "nextStep": 0, "operationalState": "Ready", "partnerState": "OS Up", "savedStartupTypes": {}, "sequence": 9, "upgradeState": "Idle"}"#
        try stale.write(toFile: s.system + "/session.json", atomically: true, encoding: .utf8)
        for r in ["check", "split"] {
            let out = try rdr([r] + sys, expect: 65)
            XCTAssertTrue(
                out.stderr.contains("x.Config") && out.stderr.contains("--config") && !out.stderr.contains("Usage:"),
                out.stderr)
        }
        try "{\"upgradeState\": \"Sideways\"".write(
            toFile: s.system + "/session.json", atomically: true, encoding: .utf8)
        let damaged = try rdr(["split"] + sys, expect: 65)
        XCTAssertTrue(damaged.stderr.contains("session.json") && !damaged.stderr.contains("Usage:"), damaged.stderr)
    }
}

import FoundationXML
import XCTest

@testable import ActiveUpgrade
@testable import RDR

/// Whole sessions through the library: states, bytes, services, custom actions, the log.
final class SessionTests: XCTestCase {
    func sessionConfig(_ f: UpgradeFixture) -> String {
        let adv = f.recorder("advanced.sh")
        let stop = f.recorder("stop.sh")
        let start = f.recorder("start.sh")
        let backup = f.recorder("backup.sh")
        let ready = f.recorder("ready.sh")
        try? "event log".write(toFile: f.dir + "/System.evtx", atomically: true, encoding: .utf8)
        return f.config(
            "upgrade.Config",
            """
            {"title": "t", "services": ["appdb"],
             "customActions": [
               {"file": "\(adv)", "arguments": "%ACTIVE_UPGRADE_REQUEST%", "controlType": "Advanced"},
               {"file": "\(stop)", "controlType": "StopApplication"},
               {"file": "\(start)", "controlType": "StartApplication"},
               {"file": "\(backup)", "controlType": "Backup"},
               {"file": "\(ready)", "controlType": "ReadinessCheck"}],
             "logBackup": {"stagingDirectory": "\(f.dir)/logbackup", "logs": ["\(f.dir)/System.evtx"]}}
            """)
    }

    func testFullCommitSession() throws {
        let f = try UpgradeFixture()
        let config = sessionConfig(f)
        let c = f.controller
        var bars: [String] = []
        bars.append(try c.perform(.check, configPath: config).statusBar)
        bars.append(try c.perform(.split, configPath: config).statusBar)
        var model = try SystemModel.load(f.system)
        XCTAssertEqual(model.service("appdb")?.upgrade, .init(running: false, startupType: .Disabled))
        XCTAssertEqual(model.service("appdb")?.production, .init(running: true, startupType: .Automatic))
        try f.write("boot", .upgrade, offset: 0, seed: 1)
        try f.write("boot", .production, offset: 1 << 20, seed: 2)
        try f.write("data", .production, offset: 2 << 20, seed: 3)
        XCTAssertRefused("no access to data disk") { try f.write("data", .upgrade, offset: 0, seed: 4) }
        let expectedBoot = f.image("boot", 11)
        let expectedData = f.image("data", 10)
        bars.append(try c.restart(.upgrade).statusBar)
        XCTAssertRefused("restarting it is refused") { _ = try c.restart(.production) }
        bars.append(try c.perform(.merge).statusBar)
        model = try SystemModel.load(f.system)
        XCTAssertEqual(
            model.service("appdb")?.upgrade, .init(running: true, startupType: .Automatic),
            "startup type restored and started")
        XCTAssertEqual(model.service("appdb")?.production.running, false)
        let backups = try FileManager.default.contentsOfDirectory(atPath: f.dir + "/logbackup")
        XCTAssertEqual(backups.count, 1, "one new timestamped directory per backup")
        XCTAssertEqual(
            try String(contentsOfFile: f.dir + "/logbackup/\(backups.first ?? "")/System.evtx", encoding: .utf8),
            "event log")
        bars.append(try c.perform(.commit).statusBar)
        bars.append(try c.perform(.finish).statusBar)
        XCTAssertEqual(
            bars,
            [
                "upgrade.Config | Fault Tolerant | Idle | Ready | Partner: OS Up",
                "upgrade.Config | Production Side | Split | Ready | Partner: OS Up",
                "upgrade.Config | Production Side | Split | Ready | Partner: OS Up",
                "upgrade.Config | Fault Tolerant | Merge | Ready | Partner: OS Up",
                "upgrade.Config | Fault Tolerant | Commit | Ready | Partner: OS Up",
                "upgrade.Config | Fault Tolerant | Idle | Ready | Partner: OS Up",
            ])
        for e in [10, 11] {
            XCTAssertEqual(f.image("boot", e), expectedBoot, "boot: the Upgrade member wins at commit")
            XCTAssertEqual(f.image("data", e), expectedData, "data: the Production member wins at commit")
        }
        XCTAssertEqual(
            f.recorded,
            [
                "Production Idle CheckReadiness No args=",
                "Production Idle CheckReadiness No args=CheckReadiness",
                "Production PrepareSplit CheckReadiness No args=",
                "Production PrepareSplit PrepareSplit No args=PrepareSplit",
                "Upgrade Split Stop No args=",
                "Production Split ExecuteSplit Yes args=ExecuteSplit",
                "Upgrade Split ExecuteSplit Yes args=ExecuteSplit",
                "Production PrepareMerge PrepareMerge Yes args=PrepareMerge",
                "Upgrade PrepareMerge PrepareMerge Yes args=PrepareMerge",
                "Production Merge Stop Yes args=",  // the mirrors are still split here
                "Production Merge Backup Yes args=",
                "Upgrade Merge Start No args=",
                "Production Merge ExecuteMerge No args=ExecuteMerge",
                "Production Commit Commit No args=Commit",
                "Production Commit Idle No args=Idle",
            ])
        let log = c.log.entries
        XCTAssertTrue(log.contains { $0.message == "Execute custom actions" && $0.severity == .success })
        XCTAssertTrue(
            log.contains {
                $0.message.hasPrefix("StopApplication stop.sh on the Upgrade Side")
                    && ($0.detail ?? "").contains("out from stop.sh") && ($0.detail ?? "").contains("err from stop.sh")
            })
        for r in ["Readiness check request", "Split request", "Merge request", "Commit request", "Finish request"] {
            XCTAssertTrue(log.contains { $0.message == r && $0.severity == .success }, r)
        }
        // Well-formed XML, read back by a real parser.
        let xml = LogFormat.xml(log)
        let parser = XMLParser(data: Data(xml.utf8))
        XCTAssertTrue(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
    }

    func testAbortFromSplitAndFromMerge() throws {
        for fromMerge in [false, true] {
            let f = try UpgradeFixture()
            let c = f.controller
            let original = f.image("boot", 10)
            try c.perform(.split)
            try f.write("boot", .upgrade, offset: 0, seed: 1)
            try f.write("data", .production, offset: 0, seed: 2)
            let expectedData = f.image("data", 10)
            if fromMerge {
                try c.perform(.merge)
                try f.write("boot", .upgrade, offset: 65536, seed: 3)
            }
            let s = try c.perform(.abort)
            XCTAssertEqual(s.statusBar, "(no configuration) | Fault Tolerant | Abort | Ready | Partner: OS Up")
            XCTAssertEqual(try c.perform(.finish).upgradeState, .idle)
            for e in [10, 11] {
                XCTAssertEqual(f.image("boot", e), original, "abort restores the original system disk")
                XCTAssertEqual(f.image("data", e), expectedData, "data written by Production survives the abort")
            }
            XCTAssertEqual(c.log.entries.contains { $0.message == "Restart from the Production Side" }, fromMerge)
        }
    }

    func testRequestsOutOfOrderAreRefusedWithWhatIsAllowed() throws {
        let f = try UpgradeFixture()
        let c = f.controller
        XCTAssertRefused("'merge' is not allowed in state Idle (Ready); allowed now: check, split") {
            try c.perform(.merge)
        }
        XCTAssertRefused("'finish' is not allowed") { try c.perform(.finish) }
        XCTAssertRefused("'retry' is not allowed") { try c.perform(.retry) }
        try c.perform(.split)
        XCTAssertRefused("allowed now: merge, abort, restart upgrade") { try c.perform(.commit) }
        XCTAssertRefused("'split' is not allowed in state Split") { try c.perform(.split) }
        try c.perform(.merge)
        try c.perform(.commit)
        XCTAssertRefused("'abort' is not allowed in state Commit (Ready); allowed now: finish") {
            try c.perform(.abort)
        }
    }

    func testFailingCustomActionBreaksTheRequestAndRetryCompletesIt() throws {
        let f = try UpgradeFixture()
        let failing = f.recorder("fail.sh", exit: 3)
        let config = f.config(
            "u.Config",
            #"{"customActions": [{"file": "\#(failing)", "controlType": "StopApplication"}, {"file": "\#(f.dir)/missing.sh", "controlType": "Backup"}]}"#
        )
        XCTAssertRefused("The executable filename does not exist.") {
            try f.controller.perform(.check, configPath: config)
        }
        try? FileManager.default.copyItem(atPath: failing, toPath: f.dir + "/missing.sh")
        XCTAssertRefused("'split' is not allowed in state Idle (Broken); allowed now: check, retry") {
            try f.controller.perform(.split)
        }
        XCTAssertEqual(
            try f.controller.perform(.retry).statusBar, "u.Config | Fault Tolerant | Idle | Ready | Partner: OS Up")
        XCTAssertRefused("Custom action failed with exit value 3") { try f.controller.perform(.split) }
        var s = try f.controller.store.current()
        // The mirrors are not split yet when the Upgrade Side's applications are stopped.
        XCTAssertEqual(s.statusBar, "u.Config | Fault Tolerant | Split | Broken | Partner: OS Up")
        XCTAssertEqual(s.failedStep, "Stop applications on the Upgrade Side")
        XCTAssertEqual(s.allowedRequests, [.retry, .abort])
        let entry = f.controller.log.entries.last { $0.message.hasPrefix("StopApplication fail.sh") }
        XCTAssertEqual(entry?.severity, .error)
        XCTAssertTrue(entry?.detail?.contains("err from fail.sh") == true)
        // Fix the action (the staged configuration still names the same file) and retry.
        _ = f.recorder("ok.sh")
        try? FileManager.default.removeItem(atPath: failing)
        try? FileManager.default.copyItem(atPath: f.dir + "/ok.sh", toPath: failing)
        s = try f.controller.perform(.retry)
        XCTAssertEqual(s.statusBar, "u.Config | Production Side | Split | Ready | Partner: OS Up")
        XCTAssertEqual(try f.system.disk("boot", access: .readOnly).record.mode, .split)
    }

    func testEveryTableFiveOneProblemIsReported() throws {
        let cases: [(String, Severity, (inout SystemModel) -> Void)] = [
            ("IO board 11 is unsafe to pull", .error, { $0.ioBoards[1].safeToPull = false }),
            ("IO board 10 is unsafe to pull", .error, { $0.vtms[0].configured = false }),
            ("Embedded NIC not teamed", .error, { $0.nics[0].team = nil }),
            ("No IP address on Upgrade ready team", .error, { $0.teams[0].ipAddress = nil }),
            ("Team does not have link on both sides", .error, { $0.nics[1].link = false }),
            (
                "Active Upgrade may fail. Check DHCP server.", .warning,
                {
                    $0.teams[0].dhcp = true
                    $0.dhcpServerReachable = false
                }
            ),
            ("Remote Desktop is not enabled", .warning, { $0.remoteDesktopEnabled = false }),
        ]
        for (message, severity, edit) in cases {
            let f = try UpgradeFixture()
            var model = SystemModel.healthy
            edit(&model)
            try model.save(f.system)
            if severity == .error {
                XCTAssertRefused(message) { try f.controller.perform(.check) }
                XCTAssertEqual(
                    try f.controller.store.current().statusBar,
                    "(no configuration) | Fault Tolerant | Idle | Broken | Partner: OS Up")
            } else {
                XCTAssertEqual(try f.controller.perform(.check).operationalState, .ready, "warnings never block")
            }
            XCTAssertTrue(
                f.controller.log.entries.contains { $0.message == message && $0.severity == severity }, message)
        }
    }

    func testDisksAndServicesChecks() throws {
        let f = try UpgradeFixture()
        var model = SystemModel.healthy
        model.update("webapp", .production) { $0.running = false }
        try model.save(f.system)
        let config = f.config("c.Config", #"{"disks": {"boot": "data"}, "services": ["webapp", "ghost"]}"#)
        XCTAssertRefused("Mandatory system disk boot cannot be marked data") {
            try f.controller.perform(.check, configPath: config)
        }
        let log = f.controller.log.entries
        XCTAssertTrue(log.contains { $0.message == "Service webapp is not running" })
        XCTAssertTrue(log.contains { $0.message == "Service ghost is not present" })
        // A disk still resyncing fails the check with the guide's message.
        let f2 = try UpgradeFixture()
        let disk = try f2.system.disk("data")
        try disk.split()
        try disk.write(side: .side(.production), offset: 0, bytes: [1])
        try disk.startResync(from: .ten)
        XCTAssertRefused("RDR disk is not duplexed") { try f2.controller.perform(.check) }
    }
}

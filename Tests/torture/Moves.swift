import Foundation
import RDR

/// The moves of a run, each checked against the oracle.
extension TortureRun {
    /// A pattern write on a random side and disk; a killed one leaves old or new bytes per block.
    func writeMove() {
        let disk = pick(diskNames)
        let side = pick(["production", "upgrade"])
        let offset = Int(rng.next() % UInt64(diskSize / 4096 - 64)) * 4096
        let length = (1 + Int(rng.next() % 48)) * 4096
        let seed = rng.next() % 1_000_000
        let before = oracle.bytes[disk]!
        let (status, _) = rdr.run(
            ["write", disk, "--side", side, "--offset", "\(offset)", "--pattern", "\(seed)", "--length", "\(length)"],
            kill: killDelay)
        let data = Pattern.bytes(count: length, seed: seed, offset: Int64(offset))
        let state = oracle.state
        if status == 0 {
            guard let members = oracle.targets(disk, side) else {
                return fail("write \(disk) \(side) in \(state) succeeded but must be refused")
            }
            oracle.apply(disk, members: members, offset: offset, data: data)
        } else if status == 137 {
            tally.kills += 1
            for m in oracle.targets(disk, side) ?? [] {
                let actual = rdr.image(disk, [10, 11][m])
                for b in stride(from: 0, to: length, by: 4096) {
                    let r = offset + b..<offset + b + 4096
                    let got = Array(actual[r])
                    if got == Array(data[b..<b + 4096]) {
                        oracle.bytes[disk]![m].replaceSubrange(r, with: got)
                    } else if got != Array(before[m][r]) {
                        fail(
                            "killed write left bytes that are neither old nor new at \(disk) member \([10, 11][m]) offset \(offset + b)"
                        )
                    }
                }
            }
            // An interrupted duplex write leaves its regions marked: resync them as md would.
            if state == "Idle" {
                _ = rdr.run(["disk", "resync", disk, "--from", "10"])
                oracle.bytes[disk]![1] = oracle.bytes[disk]![0]
            }
        } else if oracle.targets(disk, side) != nil && status != 75 {
            fail("write \(disk) \(side) in \(state) failed with \(status)")
        }
    }

    /// The next request of the session (or a hostile configuration at Idle).
    func requestMove(partner: String) {
        let armed = failureExpected
        let args: [String]
        switch oracle.state {
        case "Idle":
            if usesConfig && chance(20) { return hostileMove() }
            args = ["split"] + (usesConfig ? ["--config", configs.ok] : ["--no-config"])
        case "Split":
            // Up: merge or abort. Down (DC On/Off): only abort. Hung or stuck: reset it, or abort.
            if partner == "OS Up" {
                args = [chance(25) ? "abort" : "merge"]
            } else if partner.hasPrefix("DC ") {
                args = ["abort"]
            } else {
                args = chance(60) ? ["restart", "upgrade"] : ["abort"]
            }
        case "Merge": args = [chance(30) ? "abort" : "commit"]
        case "Commit", "Abort": args = ["finish"]
        default: args = ["abort"]
        }
        let (status, out) = rdr.run(args, kill: killDelay)
        if status == 137 { tally.kills += 1 }
        let tolerated = status == 0 || status == 137 || armed || ["split", "finish"].contains(args[0])
        if !tolerated { fail("\(args.joined(separator: " ")) in \(oracle.state) failed with \(status): \(out)") }
        observe()
    }

    /// A configuration that must be refused before anything changes, or one that must break the
    /// readiness check.
    func hostileMove() {
        let before = rdr.session()?["statusBar"] as? String
        if chance(25) {
            let (status, _) = rdr.run(["split", "--config", configs.missing])
            if status != 1 && status != 137 {
                fail("split with a missing action file ended with \(status), not a Broken readiness check")
            }
            observe()
            return
        }
        let (name, _) = pick(Configs.refused(system: rdr.system, dir: configs.dir))
        let (status, _) = rdr.run(["split", "--config", configs.dir + "/" + name])
        tally.hostileRefused += status == 65 ? 1 : 0
        if status != 65 { fail("split --config \(name) ended with \(status), not refused (65)") }
        if rdr.session()?["statusBar"] as? String != before {
            fail("split --config \(name) was refused but changed the session")
        }
        if rdr.run(["status"]).0 != 0 { fail("split --config \(name) damaged the system") }
    }

    /// Crash, hang, shutdown or power loss of a side while split; the oracle follows the state
    /// (shutdown, power loss and any Production Side event end in an abort).
    func simulateMove(partner: String) {
        guard partner == "OS Up" else { return requestMove(partner: partner) }
        let event = pick(["crash", "hang", "shutdown", "power-loss"])
        let side = chance(20) ? "production" : "upgrade"
        let armed = failureExpected
        var args = ["simulate", event, "--side", side]
        if event == "hang" { args += ["--during", pick(["up", "boot", "post", "reboot", "shutdown"])] }
        let (status, _) = rdr.run(args, kill: killDelay)
        tally.simulated += 1
        if status == 137 { tally.kills += 1 }
        let after = observe()
        let aborts = side == "production" || ["shutdown", "power-loss"].contains(event)
        if status == 0 && aborts && after["upgradeState"] as? String != "Abort" {
            fail("\(args.joined(separator: " ")) did not end in Abort")
        }
        if status != 0 && status != 137 && !armed { fail("\(args.joined(separator: " ")) failed with \(status)") }
    }

    func armMove() {
        let args =
            usesConfig && chance(50)
            ? ["simulate", "action-signal", "--signal", pick(["KILL", "TERM", "SEGV", "HUP"])]
            : ["simulate", "split-timeout"]
        if rdr.run(args).0 != 0 { fail("\(args.joined(separator: " ")) was refused at Idle") }
        tally.armed += 1
    }

    /// `abort --force`: of a request hanging in a custom action (busy), or from any abortable state.
    func forcedAbortMove(busy: Bool) {
        let armed = failureExpected
        guard busy else {
            let (status, _) = rdr.run(["abort", "--force"], kill: killDelay)
            if status == 137 { tally.kills += 1 }
            if status != 0 && status != 137 && !armed { fail("abort --force in \(oracle.state) failed with \(status)") }
            tally.forcedAborts += status == 0 ? 1 : 0
            observe()
            return
        }
        _ = FileManager.default.createFile(atPath: configs.hangFile, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: configs.hangFile)
            try? FileManager.default.removeItem(atPath: configs.hangPID)
        }
        guard let (p, out) = rdr.start(["merge"]) else { return fail("cannot start merge") }
        var hanging: pid_t = 0
        for _ in 0..<500 where hanging == 0 && p.isRunning {
            hanging =
                pid_t(
                    (try? String(contentsOfFile: configs.hangPID, encoding: .utf8))?.trimmingCharacters(
                        in: .whitespacesAndNewlines) ?? "") ?? 0
            usleep(20_000)
        }
        try? FileManager.default.removeItem(atPath: configs.hangFile)
        let (status, _) = rdr.run(["abort", "--force"])
        let (merged, _) = rdr.finish(p, out)
        if hanging > 0 {
            tally.forcedWhileBusy += 1
            if merged != 130 && merged != 137 { fail("the merge stopped by abort --force exited \(merged)") }
            if kill(hanging, 0) == 0 { fail("abort --force left the hanging action (pid \(hanging)) running") }
        }
        if status != 0 && !armed { fail("abort --force of a running merge failed with \(status)") }
        tally.forcedAborts += status == 0 ? 1 : 0
        observe()
    }

    /// Ends the session (abort or commit, then finish), then every resync, and compares bytes.
    func finishSessions() {
        for _ in 0..<10 where failure == nil {
            settle()
            switch oracle.state {
            case "Split", "PrepareSplit", "PrepareMerge": _ = rdr.run(["abort"])
            case "Merge": _ = rdr.run(["commit"])
            case "Commit", "Abort": _ = rdr.run(["finish"])
            default: break
            }
            observe()
        }
        for _ in 0..<100 where SystemLock.holder(systemPath: rdr.system, sys: LinuxSystemCalls()) != nil {
            usleep(50_000)
        }
        _ = rdr.run(["disk", "resync", "--all"])
        guard failure == nil else { return }
        if oracle.state != "Idle" { fail("the session did not end in Idle but \(oracle.state)") }
        for d in diskNames {
            for (i, e) in [10, 11].enumerated() where rdr.image(d, e) != oracle.bytes[d]![i] {
                fail("\(d) member \(e) differs from the oracle")
            }
        }
    }
}

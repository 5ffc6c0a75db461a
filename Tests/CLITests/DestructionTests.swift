import Foundation
import XCTest

@testable import RDR

/// No command destroys what it was not asked to touch: the demo only replaces its own system,
/// member files are validated before a byte is written, `init` never replaces a file without
/// `--force` and undoes a failed run, temporary files never outlive their command.
final class DestructionTests: XCTestCase {
    // MARK: rdr demo

    func testDemoNeverReplacesOrUsesASystemItDidNotCreate() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:8M:mandatory", "--disk", "data:8M:data"] + sys)
        try rdr(["split"] + sys)
        try rdr(["workload", "boot", "--side", "upgrade", "--bytes", "256K"] + sys)
        try rdr(["merge"] + sys)
        let before = tree(s.system)
        for args in [["demo", "--fresh"], ["demo"], ["demo", "--fresh", "--size", "16M"]] {
            let line = errorLine(try rdr(args + sys, expect: 1))
            XCTAssertTrue(line.contains("was not created by 'rdr demo'"), line)
            XCTAssertTrue(line.contains("--system"), "names the way out: \(line)")
            XCTAssertFalse(
                line.contains("--fresh") || line.contains("init --force"), "suggests no destructive command: \(line)")
        }
        XCTAssertEqual(tree(s.system), before, "the refused demo changed the system")
        XCTAssertEqual((try statusJSON(s.system)["session"] as? [String: Any])?["upgradeState"] as? String, "Merge")
    }

    func testDemoInTheMiddleOfASessionNamesAWayOutThatDestroysNothing() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["demo", "--size", "16M"] + sys)
        try rdr(["split", "--config", s.system + "/demo.Config"] + sys)
        let line = errorLine(try rdr(["demo"] + sys, expect: 1))
        XCTAssertTrue(line.contains("rdr abort") && line.contains("rdr finish"), line)
        XCTAssertFalse(line.contains("--fresh") || line.contains("init --force"), line)
        try rdr(["demo", "--fresh", "--size", "16M"] + sys)  // its own system: recreated
        XCTAssertEqual(disk(try statusJSON(s.system), "boot")["status"] as? String, "None")
    }

    // MARK: member files

    /// Sets `disks[disk].members[enclosure][key]` in the manifest.
    func editManifest(_ system: String, _ diskName: String, _ enclosure: Int, _ key: String, _ value: String) throws {
        let url = URL(fileURLWithPath: system + "/rdr.json")
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
        var disks = object["disks"] as? [[String: Any]] ?? []
        for i in disks.indices where disks[i]["name"] as? String == diskName {
            var members = disks[i]["members"] as? [[String: Any]] ?? []
            for j in members.indices where members[j]["enclosure"] as? Int == enclosure { members[j][key] = value }
            disks[i]["members"] = members
        }
        object["disks"] = disks
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted]).write(to: url)
    }

    func testMemberFilesAreValidatedBeforeAByteIsWritten() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:1M:mandatory", "--disk", "data:1M:data"] + sys)
        try rdr(["write", "boot", "--offset", "0", "--pattern", "3", "--length", "64K"] + sys)
        try Data("{\"upgradeState\": \"Idle\"}".utf8).write(to: URL(fileURLWithPath: s.system + "/session.json"))
        let outside = s.path + "/outside.img"
        try Data(repeating: 7, count: 1 << 20).write(to: URL(fileURLWithPath: outside))
        let manifest = data(s.system + "/rdr.json")
        let edits: [(String, Int, String, String)] = [
            ("boot", 11, "image", "data-10.img"), ("boot", 11, "image", "boot-10.img"),
            ("boot", 10, "image", "boot-11.rdrmeta"),
            ("boot", 10, "image", "rdr.json"), ("boot", 10, "image", ".rdr.lock"),
            ("boot", 10, "image", "session.json"),
            ("boot", 10, "image", "../outside.img"), ("boot", 10, "image", outside),
            ("boot", 10, "metadata", "data-11.rdrmeta"),
            ("boot", 10, "metadata", "boot-11.img"), ("boot", 11, "metadata", "activity.log.jsonl"),
            ("data", 10, "image", ""),
        ]
        let commands = [
            ["write", "boot", "--offset", "0", "--pattern", "1", "--length", "4K"],
            ["disk", "resync", "boot", "--from", "11", "--full", "--force"],
            ["disk", "resync", "boot", "--from", "10", "--full", "--force"],
        ]
        for (diskName, e, key, value) in edits {
            try manifest.write(to: URL(fileURLWithPath: s.system + "/rdr.json"))
            try editManifest(s.system, diskName, e, key, value)
            let before = tree(s.path)
            for args in commands {
                let line = errorLine(try rdr(args + sys, expect: 65))
                XCTAssertTrue(
                    line.contains("rdr.json") && line.contains("member"), "\(diskName) \(e) \(key)=\(value): \(line)")
            }
            XCTAssertEqual(tree(s.path), before, "\(diskName) \(e) \(key)=\(value): a refused command changed files")
        }
        try manifest.write(to: URL(fileURLWithPath: s.system + "/rdr.json"))
        try rdr(["disk", "verify", "boot"] + sys)
    }

    func testSymlinksFifosAndDirectoriesAreNeverMemberFiles() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:1M:mandatory"] + sys)
        let outside = s.path + "/outside.img"
        try Data(repeating: 7, count: 1 << 20).write(to: URL(fileURLWithPath: outside))
        let saved = s.path + "/saved.img"
        try FileManager.default.moveItem(atPath: s.image("boot", 10), toPath: saved)
        let makers: [(String, (String) throws -> Void)] = [
            ("symlink", { try FileManager.default.createSymbolicLink(atPath: $0, withDestinationPath: outside) }),
            ("fifo", { XCTAssertEqual(mkfifo($0, 0o644), 0) }),
            ("directory", { try FileManager.default.createDirectory(atPath: $0, withIntermediateDirectories: false) }),
        ]
        for (what, make) in makers {
            try make(s.image("boot", 10))
            let before = tree(s.path)
            for args in [
                ["write", "boot", "--offset", "0", "--pattern", "1", "--length", "4K"], ["disk", "verify", "boot"],
                ["disk", "resync", "boot", "--from", "11", "--full", "--force"],
                ["read", "boot", "--offset", "0", "--length", "1"],
            ] {
                let (p, out, err) = try RDRProcess.start(args + sys)
                let done = Host.wait(10) { !p.isRunning }
                if !done { kill(p.processIdentifier, SIGKILL) }
                let r = RDRProcess.finish(p, out, err)
                XCTAssertTrue(done, "\(what): rdr \(args.joined(separator: " ")) hung")
                XCTAssertEqual(r.status, 65, "\(what): \(args) \(r.stderr)")
                XCTAssertTrue(errorLine(r).contains("regular file"), "\(what): \(r.stderr)")
            }
            XCTAssertEqual(disk(try statusJSON(s.system), "boot")["status"] as? String, "Error", what)
            XCTAssertEqual(tree(s.path), before, "\(what): a refused command changed files")
            try FileManager.default.removeItem(atPath: s.image("boot", 10))
        }
        XCTAssertEqual(data(outside), Data(repeating: 7, count: 1 << 20), "nothing was written through the link")
        try FileManager.default.moveItem(atPath: saved, toPath: s.image("boot", 10))
        try rdr(["disk", "verify", "boot"] + sys)
    }

    // MARK: init

    func testInitNeverReplacesAFileItDidNotCreate() throws {
        let s = try Scratch()
        try FileManager.default.createDirectory(atPath: s.system, withIntermediateDirectories: true)
        for name in ["d-10.img", "d-11.rdrmeta", "session.json"] {
            let precious = Data("precious \(name)".utf8)
            try precious.write(to: URL(fileURLWithPath: s.system + "/" + name))
            let line = errorLine(try rdr(["init", "--disk", "d:1M:data", "--system", s.system], expect: 1))
            XCTAssertTrue(line.contains(name) && line.contains("--force"), line)
            XCTAssertEqual(
                tree(s.system), [name: precious], "init without --force touched \(name) or left files behind")
            try FileManager.default.removeItem(atPath: s.system + "/" + name)
        }
        try rdr(["init", "--disk", "d:1M:data", "--system", s.system])
    }

    func testFailedInitRemovesExactlyWhatItCreated() throws {
        let m = try TestMount.tmpfs(size: "8M")
        let fresh = m.path + "/fresh/sys"
        var line = errorLine(try rdr(["init", "--disk", "big:16T:data", "--system", fresh], expect: 1))
        XCTAssertTrue(line.contains("No space left on device"), line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: m.path + "/fresh"), "the directories init made are gone")
        let existing = m.path + "/existing"
        try FileManager.default.createDirectory(atPath: existing, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: existing + "/notes.txt"))
        line = errorLine(
            try rdr(["init", "--disk", "small:1M:system", "--disk", "big:16T:data", "--system", existing], expect: 1))
        XCTAssertTrue(line.contains("No space left on device"), line)
        XCTAssertEqual(tree(existing), ["notes.txt": Data("keep".utf8)])
    }

    // MARK: temporary files

    func testTemporaryFilesAreRemovedOnFailureAndAtTheNextOpen() throws {
        let m = try TestMount.tmpfs(size: "4M")
        let system = m.path + "/sys"
        let sys = ["--system", system]
        try rdr(["init", "--disk", "d:64M:data"] + sys)
        try rdr(["disk", "split"] + sys)
        try rdr(["write", "d", "--side", "production", "--offset", "0", "--pattern", "1", "--length", "64K"] + sys)
        Host.shell("dd if=/dev/zero of='\(m.path)/filler' bs=4K 2>/dev/null")
        let line = errorLine(try rdr(["disk", "resync", "d", "--from", "10", "--full", "--force"] + sys, expect: 1))
        XCTAssertTrue(line.contains("No space left on device"), line)
        XCTAssertEqual(
            tree(system).keys.filter { $0.hasSuffix(".new") || $0.hasSuffix(".tmp") }, [],
            "a failed --full left temporary files")
        try FileManager.default.removeItem(atPath: m.path + "/filler")
        // What a killed process leaves behind is removed by the next command that holds the lock.
        var dead: Int32 = 4_000_000
        while kill(dead, 0) == 0 || errno != ESRCH { dead -= 1 }
        let leftovers = [
            "d-10.rdrmeta.new", "rdr.json.\(dead).tmp", ".d.progress.json.\(dead).tmp", "session.json.\(dead).tmp",
        ]
        for name in leftovers { try Data("stale".utf8).write(to: URL(fileURLWithPath: system + "/" + name)) }
        let live = "rdr.json.\(getpid()).tmp"
        try Data("in use".utf8).write(to: URL(fileURLWithPath: system + "/" + live))
        try rdr(["write", "d", "--side", "production", "--offset", "0", "--pattern", "2", "--length", "4K"] + sys)
        let names = Set(tree(system).keys)
        for name in leftovers { XCTAssertFalse(names.contains(name), "\(name) survived the next open") }
        XCTAssertTrue(names.contains(live), "a live process's temporary file is left alone")
    }
}

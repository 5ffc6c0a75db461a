import Foundation
import XCTest

/// Issue 13's upgrade-layer items through the built `rdr`: the log backup never writes into the
/// system, chatty actions stay bounded, the log prints safely, and actions say what is wrong.
final class ActionHardeningTests: XCTestCase {
    func testLogBackupNeverWritesIntoTheSystemDirectory() throws {
        let (s, sys) = try newSystem()
        try "not a manifest".write(toFile: s.path + "/rdr.json", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: s.path + "/alias", withDestinationPath: s.system)
        for dir in [s.system, s.system + "/sub", s.path + "/alias", s.system + "/../sys"] {
            let c = s.config(
                "b.Config", #"{"logBackup": {"stagingDirectory": "\#(dir)", "logs": ["\#(s.path)/rdr.json"]}}"#)
            try refused(["config", "check", c] + sys, s, status: 65, mentions: "inside the system directory")
            try refused(["check", "--config", c] + sys, s, status: 65, mentions: "inside the system directory")
            try refused(["split", "--config", c] + sys, s, status: 65, mentions: "inside the system directory")
        }
        // A backup goes to a new timestamped directory and never overwrites a file.
        let staging = s.path + "/backups"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try "keep me".write(toFile: staging + "/rdr.json", atomically: true, encoding: .utf8)
        let c = s.config(
            "ok.Config", #"{"logBackup": {"stagingDirectory": "\#(staging)", "logs": ["\#(s.path)/rdr.json"]}}"#)
        for _ in 0..<2 {
            try rdr(["split", "--config", c] + sys)
            try rdr(["merge"] + sys)
            try rdr(["abort"] + sys)
            try rdr(["finish"] + sys)
            try waitForResyncs(s.system)
        }
        XCTAssertEqual(try String(contentsOfFile: staging + "/rdr.json", encoding: .utf8), "keep me")
        XCTAssertNotEqual(
            data(s.system + "/rdr.json"), Data("not a manifest".utf8), "the system's manifest is not overwritten")
        try rdr(["status"] + sys)
        let made = try FileManager.default.contentsOfDirectory(atPath: staging).filter { $0 != "rdr.json" }.sorted()
        XCTAssertEqual(made.count, 2, "one new directory per backup: \(made)")
        for d in made {
            XCTAssertEqual(
                try String(contentsOfFile: staging + "/" + d + "/rdr.json", encoding: .utf8), "not a manifest")
        }
    }

    func testChattyActionKeepsMemoryAndTheLogBounded() throws {
        let (s, sys) = try newSystem()
        s.script(
            "chatty.sh",
            "head -c 200000000 /dev/zero | tr '\\000' 'x'\nprintf '\\nstart \\033[31mred\\033[0m bell\\007 \\033]0;title\\007\\n'\necho the-end"
        )
        let config = s.config(
            "c.Config", #"{"customActions": [{"file": "chatty.sh", "controlType": "ReadinessCheck"}]}"#)
        let (status, peakKiB) = try peakResidentKiB(["check", "--config", config] + sys)
        XCTAssertEqual(status, 0)
        XCTAssertLessThan(peakKiB, 200 * 1024, "peak RSS of the rdr that ran the chatty action, KiB")
        let logSize =
            (try FileManager.default.attributesOfItem(atPath: s.system + "/activity.log.jsonl")[.size] as? Int) ?? 0
        XCTAssertLessThan(logSize, 512 << 10)
        let text = try rdr(["log"] + sys).stdout
        XCTAssertTrue(text.contains("the-end"), "the tail of the output is in the log")
        XCTAssertFalse(
            text.utf8.contains(0x1B) || text.utf8.contains(0x07), "no raw escapes or bells reach the terminal")
        XCTAssertTrue(text.contains("\\x1b[31mred"), "control characters are shown escaped")
        let file =
            text.split(separator: "\n").compactMap { line -> String? in
                guard let r = line.range(of: "whole output: ") else { return nil }
                return String(line[r.upperBound...]).trimmingCharacters(in: .whitespaces)
            }.first ?? ""
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        XCTAssertGreaterThan(size, 200_000_000, "the whole output is kept in the file the log names: '\(file)'")
    }

    func testGarbageLinesInTheActivityLogAreCounted() throws {
        let (s, sys) = try newSystem()
        try rdr(["check"] + sys)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: s.system + "/activity.log.jsonl"))
        handle.seekToEndOfFile()
        handle.write(Data("garbage\n{\"entry\": 5}\n\u{1B}[2J\n".utf8))
        try handle.close()
        let r = try rdr(["log"] + sys)
        XCTAssertTrue(r.stderr.contains("3 unreadable lines"), r.stderr)
        XCTAssertTrue(r.stdout.contains("Readiness check request"))
        XCTAssertTrue(try rdr(["log", "--json"] + sys).stderr.contains("3 unreadable lines"))
    }

    func testActionFileProblemsSayWhatIsWrong() throws {
        let (s, sys) = try newSystem()
        let noShebang = s.path + "/noshebang.sh"
        try "echo hi\n".write(toFile: noShebang, atomically: true, encoding: .utf8)
        chmod(noShebang, 0o755)
        s.script("noexec.sh", "echo hi", mode: 0o644)
        try FileManager.default.createDirectory(atPath: s.path + "/adir", withIntermediateDirectories: true)
        for (file, message) in [
            ("noshebang.sh", "has no '#!' interpreter line"), ("noexec.sh", "is not executable"),
            ("adir", "is not a regular file"), ("missing.sh", "The executable filename does not exist."),
        ] {
            let c = s.config("f.Config", #"{"customActions": [{"file": "\#(file)", "controlType": "Advanced"}]}"#)
            let r = try rdr(["config", "check", c], expect: 65)
            XCTAssertTrue(r.stderr.contains(message), "\(file): \(r.stderr)")
            // The readiness check reports it as an Error: the check is Broken until it is fixed.
            let check = try rdr(["check", "--config", c] + sys, expect: 1)
            XCTAssertTrue(check.stderr.contains(message), "\(file): \(check.stderr)")
            XCTAssertEqual(bar(check), "f.Config | Fault Tolerant | Idle | Broken | Partner: OS Up")
        }
    }

    func testArgumentStringsFollowShellQuotingAndRefuseNUL() throws {
        let (s, sys) = try newSystem()
        s.script("args.sh", "for a in \"$@\"; do echo \"[$a]\" >> \(s.path)/args.txt; done")
        let args = #"'q u o t e d' \"a \\\"b\\\" c\" plain\\ space %ACTIVE_UPGRADE_SIDE% ''"#
        let c = s.config(
            "q.Config",
            #"{"customActions": [{"file": "args.sh", "arguments": "\#(args)", "controlType": "ReadinessCheck"}]}"#)
        try rdr(["check", "--config", c] + sys)
        XCTAssertEqual(
            s.text("args.txt").split(separator: "\n"),
            ["[q u o t e d]", "[a \"b\" c]", "[plain space]", "[Production]", "[]"])
        for (bad, message) in [(#"'open"#, "unterminated"), (#"a\u0000b"#, "NUL")] {
            let c = s.config(
                "q.Config",
                #"{"customActions": [{"file": "args.sh", "arguments": "\#(bad)", "controlType": "ReadinessCheck"}]}"#)
            let r = try rdr(["config", "check", c], expect: 65)
            XCTAssertTrue(r.stderr.contains("arguments") && r.stderr.contains(message), r.stderr)
        }
        let nulFile = s.config(
            "n.Config", #"{"customActions": [{"file": "args.sh\u0000x", "controlType": "ReadinessCheck"}]}"#)
        XCTAssertTrue(try rdr(["config", "check", nulFile], expect: 65).stderr.contains("NUL"))
    }

    /// Runs `rdr` and returns its exit status and its own peak RSS in KiB: VmHWM of the running
    /// process, sampled until it exits. (wait4's ru_maxrss would not do: a child started by
    /// posix_spawn shares the test process's memory until exec, and Linux carries that peak over
    /// into the child's figure, so a test process already large from earlier suites fails it.)
    func peakResidentKiB(_ args: [String]) throws -> (Int32, Int) {
        let argv = ([RDRProcess.binary] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, RDRProcess.binary, &actions, nil, argv, environ)
        guard rc == 0 else { throw NSError(domain: "posix_spawn", code: Int(rc)) }
        var status: Int32 = 0
        var peak: Int64 = 0
        while true {
            // Read before reaping: a zombie has no VmHWM, and the peak only ever grows.
            if let hwm = Host.peakRSS(pid) { peak = max(peak, hwm) }
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno != EINTR) { break }
            usleep(10_000)
        }
        return ((status >> 8) & 0xFF, Int(peak >> 10))
    }
}

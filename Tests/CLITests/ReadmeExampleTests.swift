import Foundation
import FoundationXML
import XCTest

/// The README's worked upgrade example, run as written (its /tmp paths moved into a scratch
/// directory), with every status bar in its comments checked against what the command printed.
final class ReadmeExampleTests: XCTestCase {
    static let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("README.md").path

    /// The lines of the first `sh` block after "A worked example".
    func workedExample() throws -> [String] {
        let text = try String(contentsOfFile: Self.readme, encoding: .utf8)
        guard let start = text.range(of: "A worked example"),
            let open = text.range(of: "```sh\n", range: start.upperBound..<text.endIndex),
            let close = text.range(of: "```", range: open.upperBound..<text.endIndex)
        else { return [] }
        return text[open.upperBound..<close.lowerBound].split(separator: "\n").map(String.init)
    }

    func testTheWorkedExampleRunsAsWritten() throws {
        let s = try Scratch()
        let lines = try workedExample()
        XCTAssertGreaterThan(lines.count, 10, "the README has its worked example")
        var env: [String: String] = [:]
        var bars = 0
        for line in lines {
            let parts = line.components(separatedBy: "  #")
            let command = parts[0].replacingOccurrences(of: "/tmp/shop", with: s.path + "/shop").trimmingCharacters(
                in: .whitespaces)
            let comment = parts.dropFirst().joined(separator: "  #").trimmingCharacters(in: .whitespaces)
            if command.hasPrefix("export ") {
                let assignment = command.dropFirst("export ".count).split(separator: "=", maxSplits: 1).map(String.init)
                env[assignment[0]] = assignment[1]
                continue
            }
            let words = command.split(separator: " ").map(String.init)
            XCTAssertEqual(words.first, "rdr", line)
            let r = try rdr(Array(words.dropFirst()), env: env)
            if comment.hasPrefix("shop.Config | ") {
                XCTAssertEqual(bar(r), comment.components(separatedBy: "  (")[0], line)
                bars += 1
            }
        }
        XCTAssertGreaterThanOrEqual(bars, 7, "the example's status bars were all checked")
        XCTAssertNotNil(XMLParser(contentsOf: URL(fileURLWithPath: s.path + "/shop-log.xml"))?.parse())
    }
}

/// Whole sessions back to back on one system, and the help of every upgrade command.
final class SessionLifecycleTests: XCTestCase {
    /// commit, abort, commit on one system, each ending in sync with the bytes its outcome
    /// demands, with a configuration (services, actions, a disk selection, a log backup) and without.
    func testThreeSessionsBackToBack() throws {
        for withConfig in [false, true] {
            let s = try Scratch()
            let sys = ["--system", s.system]
            try rdr(["init", "--disk", "boot:4M:mandatory", "--disk", "data:4M:data", "--disk", "apps:4M:data"] + sys)
            _ = s.recorder
            try "log".write(toFile: s.path + "/app.log", atomically: true, encoding: .utf8)
            let config = s.config(
                "s.Config",
                #"{"services": ["appdb"], "disks": {"apps": "system"}, "customActions": [{"file": "record.sh", "controlType": "Advanced"}], "logBackup": {"stagingDirectory": "\#(s.path)/backups", "logs": ["\#(s.path)/app.log"]}}"#
            )
            var boot = Data(count: 4 << 20)
            var apps = Data(count: 4 << 20)
            for (n, ending) in ["commit", "abort", "commit"].enumerated() {
                let first = n == 0 && withConfig ? ["--config", config] : []
                let name = withConfig ? "s.Config" : "(no configuration)"
                XCTAssertEqual(
                    bar(try rdr(["check"] + first + sys)), "\(name) | Fault Tolerant | Idle | Ready | Partner: OS Up")
                try rdr(["split"] + sys)
                for (d, side, seed) in [
                    ("boot", "upgrade", 10 + n), ("apps", "upgrade", 20 + n), ("data", "production", 30 + n),
                ] {
                    try rdr(
                        ["write", d, "--side", side, "--offset", "\(n)M", "--pattern", "\(seed)", "--length", "256K"]
                            + sys, expect: withConfig || d != "apps" ? 0 : 77)
                }
                let upgradeBoot = data(s.image("boot", 11))
                let upgradeApps = data(s.image("apps", 11))
                let dataBytes = data(s.image("data", 10))
                if ending == "commit" || n == 1 { try rdr(["merge"] + sys) }
                try rdr([ending] + sys)
                XCTAssertEqual(
                    bar(try rdr(["finish"] + sys)), "\(name) | Fault Tolerant | Idle | Ready | Partner: OS Up")
                try waitForResyncs(s.system)
                if ending == "commit" {
                    boot = upgradeBoot
                    if withConfig { apps = upgradeApps }  // a system disk for the session: Upgrade wins
                }
                for e in [10, 11] {
                    XCTAssertEqual(data(s.image("boot", e)), boot, "session \(n + 1) (\(ending)) boot \(e)")
                    XCTAssertEqual(
                        data(s.image("apps", e)), withConfig ? apps : data(s.image("apps", 10)),
                        "session \(n + 1) apps \(e)")
                    XCTAssertEqual(data(s.image("data", e)), dataBytes, "session \(n + 1) data \(e)")
                }
                XCTAssertEqual(s.manifestRoles()["apps"], "data", "the selection ended with the session")
            }
            if withConfig {
                XCTAssertEqual(
                    try FileManager.default.contentsOfDirectory(atPath: s.path + "/backups").count, 3,
                    "one backup per merge")
                XCTAssertEqual(
                    s.recorded.filter { $0.hasSuffix("Idle No") }.count, 3, "Advanced actions ran at each finish")
            }
        }
    }

    func testEveryUpgradeCommandHasHelp() throws {
        let expectations: [([String], [String])] = [
            (["check", "--help"], ["--config", "--no-config", "--auto-recover"]),
            (["split", "--help"], ["--no-config", "splitTimeoutSeconds"]),
            (["abort", "--help"], ["--force", "--auto-recover"]), (["merge", "--help"], ["--auto-recover"]),
            (["commit", "--help"], []),
            (["finish", "--help"], []), (["retry", "--help"], []), (["restart", "--help"], ["Reset"]),
            (["simulate", "--help"], ["power-loss", "split-timeout", "action-signal", "--during", "--signal"]),
            (["log", "--help"], ["--severity"]), (["services", "--help"], []), (["config", "--help"], ["--system"]),
            (["disk", "resync", "--help"], ["--force"]), (["disk", "verify", "--help"], ["--force"]),
            (["help", "simulate"], ["--side"]),
        ]
        for (args, words) in expectations {
            let r = try rdr(args)
            XCTAssertTrue(r.stdout.contains("OVERVIEW:") && r.stdout.contains("USAGE:"), args.joined(separator: " "))
            for w in words { XCTAssertTrue(r.stdout.contains(w), "\(args.joined(separator: " ")) lacks \(w)") }
        }
        XCTAssertTrue(try rdr(["--help"]).stdout.contains("  simulate"))
    }
}

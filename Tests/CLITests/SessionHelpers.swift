import Foundation
import XCTest

/// The two disks every session test uses: a mandatory system disk and a data disk, 4 MiB each.
let sessionDisks = ["--disk", "boot:4M:mandatory", "--disk", "data:4M:data"]

/// Helpers shared by the upgrade-session tests that go through the built `rdr`.
extension XCTestCase {
    /// The `session` object of `rdr status --json`.
    func session(_ system: String) throws -> [String: Any] {
        try statusJSON(system)["session"] as? [String: Any] ?? [:]
    }

    /// The status bar an upgrade request prints (after any line saying what was recovered).
    func bar(_ r: RDRProcess.Result) -> String {
        r.stdout.split(separator: "\n").first { $0.contains(" | Partner: ") }.map(String.init) ?? ""
    }

    /// Waits for every background resync, then requires every disk to be in sync.
    func waitForResyncs(_ system: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try rdr(["status", "--watch", "--interval", "0.1", "--system", system], file: file, line: line)
        for d in (try statusJSON(system)["disks"] as? [[String: Any]]) ?? [] {
            XCTAssertEqual(d["status"] as? String, "None", "\(d)", file: file, line: line)
        }
    }

    /// Runs `rdr` with extra environment variables and asserts its exit status.
    @discardableResult
    func rdr(
        _ args: [String], env: [String: String], expect status: Int32 = 0, file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> RDRProcess.Result {
        let r = try RDRProcess.run(args, environment: env)
        XCTAssertEqual(
            r.status, status, "rdr \(args.joined(separator: " "))\nstdout: \(r.stdout)\nstderr: \(r.stderr)",
            file: file, line: line)
        return r
    }

    /// A fresh system with the two session disks, and its `--system` arguments.
    func newSystem() throws -> (Scratch, [String]) {
        let s = try Scratch()
        try rdr(["init"] + sessionDisks + ["--system", s.system])
        return (s, ["--system", s.system])
    }

    /// Aborts, finishes and requires the bytes of an abort.
    func abortAndCheck(_ s: Scratch, data expected: Data, file: StaticString = #filePath, line: UInt = #line) throws {
        try rdr(["abort", "--system", s.system], file: file, line: line)
        try rdr(["finish", "--system", s.system], file: file, line: line)
        try assertAborted(s, data: expected, file: file, line: line)
    }

    /// Split with writes on both sides; returns what data must hold after an abort.
    func splitWithWrites(_ s: Scratch, config: String? = nil) throws -> Data {
        let sys = ["--system", s.system]
        try rdr(["split"] + (config.map { ["--config", $0] } ?? []) + sys)
        try rdr(["write", "boot", "--side", "upgrade", "--offset", "0", "--pattern", "1", "--length", "256K"] + sys)
        try rdr(
            ["write", "data", "--side", "production", "--offset", "1M", "--pattern", "2", "--length", "256K"] + sys)
        return data(s.image("data", 10))
    }

    func assertAborted(_ s: Scratch, data expected: Data, file: StaticString = #filePath, line: UInt = #line) throws {
        try waitForResyncs(s.system, file: file, line: line)
        for e in [10, 11] {
            XCTAssertEqual(
                data(s.image("boot", e)), Data(count: 4 << 20), "boot member \(e) is the original", file: file,
                line: line)
            XCTAssertEqual(
                data(s.image("data", e)), expected, "data member \(e) keeps Production's writes", file: file, line: line
            )
        }
    }

    /// Waits (bounded) until `condition` holds; false when it never did.
    func eventually(_ seconds: Double = 30, _ condition: () throws -> Bool) rethrows -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if try condition() { return true }
            usleep(20_000)
        }
        return try condition()
    }
}

extension Scratch {
    /// Writes an executable shell script into the scratch directory and returns its path.
    @discardableResult
    func script(_ name: String, _ body: String, mode: mode_t = 0o755) -> String {
        let path = self.path + "/" + name
        try? ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    /// Writes a configuration file into the scratch directory and returns its path.
    @discardableResult
    func config(_ name: String, _ json: String) -> String {
        let path = self.path + "/" + name
        try? json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A script that appends its environment and arguments to `env.txt`.
    var recorder: String {
        script(
            "record.sh",
            "echo \"$ACTIVE_UPGRADE_SIDE $ACTIVE_UPGRADE_STATE $ACTIVE_UPGRADE_REQUEST $ACTIVE_UPGRADE_HW_SPLIT $*\" >> \(path)/env.txt"
        )
    }

    var recorded: [String] {
        ((try? String(contentsOfFile: path + "/env.txt", encoding: .utf8)) ?? "").split(separator: "\n").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
    }

    func text(_ name: String) -> String { (try? String(contentsOfFile: path + "/" + name, encoding: .utf8)) ?? "" }

    /// Edits the manifest's JSON object in place (the machine model lives in `activeUpgrade`).
    func editManifest(_ change: (inout [String: Any]) -> Void) throws {
        let file = system + "/rdr.json"
        var object = try JSONSerialization.jsonObject(with: data(file)) as? [String: Any] ?? [:]
        change(&object)
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(
            to: URL(fileURLWithPath: file))
    }

    func manifestRoles() -> [String: String] {
        let object = (try? JSONSerialization.jsonObject(with: data(system + "/rdr.json"))) as? [String: Any] ?? [:]
        let disks = object["disks"] as? [[String: Any]] ?? []
        return Dictionary(
            uniqueKeysWithValues: disks.compactMap { d in
                (d["name"] as? String).map { ($0, d["role"] as? String ?? "") }
            })
    }
}

/// True while a process with this pid exists and is not a zombie.
func processAlive(_ pid: pid_t) -> Bool {
    guard pid > 0, kill(pid, 0) == 0 else { return false }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    // Field 3 (after the command in parentheses) is the state; Z is a zombie.
    guard let close = stat.lastIndex(of: ")") else { return false }
    return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
}

func pid(inFile path: String) -> pid_t {
    pid_t(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines))
        ?? 0
}

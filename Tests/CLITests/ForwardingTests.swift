import Foundation
import Glibc
import XCTest

/// Issue 11 item 1: one owner per system. A command aimed at a system that `rdr serve` or a
/// background resync owns runs in the owner, with the same output and exit code as without it.
final class ForwardingTests: XCTestCase {
    /// The `rdr` lines of the first `sh` block after `heading` in the README, comments dropped.
    private func readmeBlock(after heading: String) throws -> [String] {
        let text = try String(contentsOfFile: ReadmeExampleTests.readme, encoding: .utf8)
        guard let start = text.range(of: heading),
            let open = text.range(of: "```sh\n", range: start.upperBound..<text.endIndex),
            let close = text.range(of: "```", range: open.upperBound..<text.endIndex)
        else { return [] }
        return text[open.upperBound..<close.lowerBound].split(separator: "\n").map {
            $0.components(separatedBy: "  #")[0].trimmingCharacters(in: .whitespaces)
        }.filter { $0.hasPrefix("rdr ") || $0.hasPrefix("export ") }
    }

    private struct Step: Equatable {
        let command: String
        let status: Int32
        let output: String
    }

    /// Runs `lines` (after the first, `init`, which runs before any owner exists) and returns
    /// each command's exit code and normalized output. `status` runs here in both cases and
    /// names the lock's holder, so only its exit code is compared.
    private func run(_ lines: [String], in dir: String, served: Bool) throws -> [Step] {
        var env: [String: String] = [:]
        var steps: [Step] = []
        var owner: ServedOwner?
        var client: ConnectedNBDClient?
        for (n, line) in lines.enumerated() {
            if line.hasPrefix("export ") {
                let kv = line.dropFirst("export ".count).split(separator: "=", maxSplits: 1).map(String.init)
                env[kv[0]] = kv[1]
                continue
            }
            let words = Array(line.split(separator: " ").map(String.init).dropFirst())
            let r = try RDRProcess.run(words, environment: env)
            let isStatus = words.first == "status"
            steps.append(
                Step(
                    command: line, status: r.status,
                    output: isStatus ? "" : normalized(r.stdout + r.stderr, replacing: dir)))
            if served && n == lines.firstIndex(where: { $0.hasPrefix("rdr init") }) {
                let system = words.firstIndex(of: "--system").map { words[$0 + 1] } ?? env["RDR_SYSTEM"] ?? ""
                owner = try ServedOwner(system: system)
                client = try ConnectedNBDClient(socket: system + "/nbd.sock", export: "data")
            }
        }
        if let owner, let client {
            XCTAssertEqual(try client.read(offset: 0, length: 4096).0, 0, "the NBD client stayed connected and served")
            let stopped = owner.stop()
            XCTAssertEqual(stopped.status, 0, stopped.stdout + stopped.stderr)
        }
        return steps
    }

    private func assertSame(_ plain: [Step], _ served: [Step], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(plain.count, served.count, file: file, line: line)
        for (a, b) in zip(plain, served) {
            XCTAssertEqual(a.status, b.status, a.command, file: file, line: line)
            XCTAssertEqual(a.output, b.output, a.command, file: file, line: line)
        }
    }

    /// The README's session (workloads scaled down to 32M/64M), with and without `rdr serve`.
    func testTheReadmeSessionRunsTheSameAgainstALiveServer() throws {
        let lines = try readmeBlock(after: "## A session").map {
            $0.replacingOccurrences(of: "--bytes 256M", with: "--bytes 32M").replacingOccurrences(
                of: "--bytes 512M", with: "--bytes 64M")
        }
        XCTAssertGreaterThan(lines.count, 8)
        let s = try Scratch()
        let plain = try run(
            lines.map { $0.replacingOccurrences(of: "/tmp/lab", with: s.path + "/lab") }, in: s.path + "/lab",
            served: false)
        let served = try run(
            lines.map { $0.replacingOccurrences(of: "/tmp/lab", with: s.path + "/srv") }, in: s.path + "/srv",
            served: true)
        XCTAssertEqual(plain.map(\.status), [0, 0, 0, 0, 77, 0, 0, 0, 0, 0, 0], "\(plain)")
        assertSame(plain, served)
        XCTAssertEqual(data(s.path + "/srv/data-10.img"), data(s.path + "/srv/data-11.img"))
    }

    /// The README's worked upgrade example, with and without `rdr serve`.
    func testTheUpgradeExampleRunsTheSameAgainstALiveServer() throws {
        let lines = try readmeBlock(after: "A worked example")
        XCTAssertGreaterThan(lines.count, 10)
        let s = try Scratch()
        for d in ["/a", "/b"] {
            try FileManager.default.createDirectory(atPath: s.path + d, withIntermediateDirectories: true)
        }
        let plain = try run(
            lines.map { $0.replacingOccurrences(of: "/tmp/shop", with: s.path + "/a/shop") }, in: s.path + "/a",
            served: false)
        let served = try run(
            lines.map { $0.replacingOccurrences(of: "/tmp/shop", with: s.path + "/b/shop") }, in: s.path + "/b",
            served: true)
        XCTAssertTrue(plain.allSatisfy { $0.status == 0 }, "\(plain)")
        assertSame(plain, served)
    }
}

/// Owners at work: a background resync worker serving other commands, Ctrl-C of a forwarded
/// command, refusals of what truly conflicts, and a killed owner's leftovers.
final class OwnerTests: XCTestCase {
    /// A system whose boot disk has 32 MiB to resync from 11 and whose data disk is duplex.
    private func systemToResync() throws -> (Scratch, [String]) {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:64M:mandatory", "--disk", "data:64M:data"] + sys)
        try rdr(["disk", "split", "boot"] + sys)
        try rdr(["write", "boot", "--side", "upgrade", "--offset", "0", "--pattern", "5", "--length", "32M"] + sys)
        return (s, sys)
    }

    func testCommandsRunWhileABackgroundResyncRuns() throws {
        let (s, sys) = try systemToResync()
        // 32 MiB at 2 MiB/s: the worker owns the system for about 16 s, time enough on a loaded
        // machine for what follows (the conflicts first, while the resync surely runs).
        let started = try rdr(["disk", "resync", "boot", "--from", "11", "--background", "--max-rate", "2M"] + sys)
        XCTAssertTrue(started.stdout.hasPrefix("resync of boot runs in the background (pid "), started.stdout)
        XCTAssertTrue(
            eventually { FileManager.default.fileExists(atPath: s.system + "/.rdr.control") }, "the worker is an owner")
        let reverse = try rdr(["disk", "resync", "boot", "--from", "10"] + sys, expect: 1)
        XCTAssertTrue(reverse.stderr.hasPrefix("Error: disk 'boot' is being resynced from 11 to 10"), reverse.stderr)
        let again = try rdr(["disk", "resync", "boot", "--from", "11"] + sys, expect: 75)
        XCTAssertTrue(again.stderr.hasPrefix("Error: disk 'boot' is already being resynced from 11"), again.stderr)
        // A caller whose stdout nobody reads: its command gets EPIPE in the worker, which lives on.
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: RDRProcess.binary)
        reader.arguments = ["read", "data", "--offset", "0", "--length", "16M"] + sys
        let closed = Pipe()
        reader.standardOutput = closed
        reader.standardError = FileHandle.nullDevice
        try closed.fileHandleForReading.close()
        try reader.run()
        reader.waitUntilExit()
        XCTAssertNotEqual(reader.terminationStatus, 0)
        XCTAssertEqual(worker(s.system).map { kill($0, 0) }, 0, "the worker survived a caller's closed pipe")
        let w = try rdr(["write", "data", "--offset", "1M", "--pattern", "3", "--length", "64K"] + sys)
        XCTAssertEqual(w.stdout, "wrote 65536 bytes to data at offset 1048576\n")
        try rdr(["workload", "data", "--bytes", "2M", "--seed", "4"] + sys)
        XCTAssertTrue(try rdr(["disk", "verify", "data"] + sys).stdout.hasPrefix("verify data: members identical"))
        try rdr(["disk", "split", "data"] + sys)
        let check = try rdr(["check"] + sys, expect: 1)
        XCTAssertTrue((check.stdout + check.stderr).contains("not duplexed"), check.stdout + check.stderr)
        // The worker ends once its resync is done and nobody is connected.
        XCTAssertTrue(
            eventually(60) { !FileManager.default.fileExists(atPath: s.system + "/.rdr.control") },
            "the worker did not exit")
        XCTAssertTrue(eventually { SystemLockProbe.free(s.system) }, "the worker kept the lock")
        try rdr(["disk", "verify", "boot"] + sys)
        XCTAssertEqual(data(s.image("boot", 10)), data(s.image("boot", 11)))
    }

    /// The pid in a system's lock holder description (`pid N is running …`).
    private func worker(_ system: String) -> Int32? {
        let holder = (try? String(contentsOfFile: system + "/.rdr.lock.holder", encoding: .utf8)) ?? ""
        return Int32(holder.split(separator: " ").dropFirst().first ?? "")
    }

    func testCtrlCOnAForwardedWorkloadExits130AndTheOwnerLivesOn() throws {
        let (s, sys) = try systemToResync()
        let owner = try ServedOwner(system: s.system)
        let (p, out, err) = try RDRProcess.start(["workload", "data", "--bytes", "100G", "--io-size", "4K"] + sys)
        usleep(700_000)
        kill(p.processIdentifier, SIGINT)
        let r = RDRProcess.finish(p, out, err)
        XCTAssertEqual(r.status, 130, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("Error: workload on 'data' interrupted after "), r.stderr)
        XCTAssertTrue(owner.process.isRunning, "the owner lives on")
        try rdr(["write", "data", "--offset", "0", "--pattern", "1", "--length", "4K"] + sys)
        XCTAssertEqual(owner.stop().status, 0)
    }

    /// A forwarded request runs as in the caller's own process: its custom actions inherit the
    /// caller's variables, directory and umask (not the owner's), and `RDR_SPLIT_TIMEOUT` is the
    /// caller's.
    func testForwardedRequestsUseTheCallersVariables() throws {
        let (s, sys) = try newSystem()
        s.script("env.sh", "echo \"marker=$RDR_TEST_MARKER $(pwd) $(umask)\" >> \(s.path)/seen.txt")
        let check = s.config(
            "c.Config", #"{"customActions": [{"file": "\#(s.path)/env.sh", "controlType": "ReadinessCheck"}]}"#)
        let caller = s.path + "/caller"
        try FileManager.default.createDirectory(atPath: caller, withIntermediateDirectories: true)
        // From another directory, with another umask, than the owner's.
        let line = ([RDRProcess.binary, "check", "--config", check] + sys).joined(separator: " ")
        let script = "cd \(caller) && umask 077 && RDR_TEST_MARKER=client \(line) >/dev/null"
        let plain = try bash(script)
        let owner = try ServedOwner(system: s.system)
        let served = try bash(script)
        XCTAssertEqual([plain.status, served.status], [0, 0], plain.output + served.output)
        XCTAssertEqual(
            try String(contentsOfFile: s.path + "/seen.txt", encoding: .utf8),
            String(repeating: "marker=client \(caller) 0077\n", count: 2), "the action's variables, directory, umask")
        try rdr(["simulate", "split-timeout"] + sys)
        let r = try rdr(["split"] + sys, env: ["RDR_SPLIT_TIMEOUT": "1"], expect: 1)
        XCTAssertTrue(r.stderr.contains("did not complete within 1 second"), r.stderr)
        try rdr(["abort"] + sys)
        XCTAssertEqual(owner.stop().status, 0)
    }

    /// `rdr read | head` ends as SIGPIPE ends it (status 141, nothing on stderr), with and without
    /// an owner, and with SIGPIPE ignored by the shell too (then the write fails with EPIPE).
    func testAReaderThatGoesAwayEndsTheReadAsSIGPIPEWould() throws {
        let (s, sys) = try systemToResync()
        let read = ([RDRProcess.binary, "read", "data", "--offset", "0", "--length", "16M"] + sys).joined(
            separator: " ")
        func pipeline(ignoringSIGPIPE: Bool) throws -> String {
            let script =
                (ignoringSIGPIPE ? "trap '' PIPE; " : "")
                + "\(read) 2>\(s.path)/err | head -c 10 >/dev/null; echo ${PIPESTATUS[0]}"
            return try bash(script).output + (try String(contentsOfFile: s.path + "/err", encoding: .utf8))
        }
        XCTAssertEqual(try pipeline(ignoringSIGPIPE: false), "141\n")
        XCTAssertEqual(try pipeline(ignoringSIGPIPE: true), "141\n")
        let owner = try ServedOwner(system: s.system)
        XCTAssertEqual(try pipeline(ignoringSIGPIPE: false), "141\n")
        XCTAssertEqual(try pipeline(ignoringSIGPIPE: true), "141\n")
        XCTAssertTrue(owner.process.isRunning, "the owner lives on")
        XCTAssertEqual(owner.stop().status, 0)
    }

    /// A live server's client writes are not interrupted writes: a forwarded split of the disk
    /// they write (no FLUSH sent) succeeds with the client connected, and once the disk is quiet
    /// `status`, which reads the metadata from another process, shows it in sync.
    func testClientWritesAreNotTakenForInterruptedWrites() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:32M:mandatory", "--disk", "data:32M:data"] + sys)
        let owner = try ServedOwner(system: s.system)
        let client = try ConnectedNBDClient(socket: s.system + "/nbd.sock", export: "data")
        for i in 0..<64 {
            XCTAssertEqual(try client.write(offset: UInt64(i) << 19, [UInt8](repeating: 9, count: 4096)), 0)
        }
        XCTAssertTrue(
            eventually(40) { (try? rdr(["status"] + sys).stdout.contains("Resync needed")) == false },
            "the quiet disk still shows its client's writes as interrupted")
        XCTAssertEqual(try client.write(offset: 1 << 20, [UInt8](repeating: 7, count: 4096)), 0)
        let split = try rdr(["disk", "split", "data"] + sys)
        XCTAssertEqual(split.status, 0, split.stderr)
        XCTAssertEqual(try client.read(offset: 1 << 20, length: 4096).1, [UInt8](repeating: 7, count: 4096))
        XCTAssertEqual(owner.stop().status, 0)
        for e in [10, 11] {
            let image = data(s.image("data", e))
            XCTAssertEqual(
                Array(image[(1 << 20)..<(1 << 20) + 4096]), [UInt8](repeating: 7, count: 4096), "member \(e)")
        }
    }

    /// A closed stdout and the caller's umask reach the forwarded command: `read` with stdout
    /// closed fails as it does at home (not into /dev/null with 0), and `read --out` creates its
    /// file with the caller's umask, not the owner's.
    func testClosedStdoutAndUmaskAreTheCallers() throws {
        let (s, sys) = try systemToResync()
        let read = ([RDRProcess.binary, "read", "data", "--offset", "0", "--length", "4K"] + sys).joined(separator: " ")
        func runBoth(_ tag: String) throws -> String {
            try bash(
                "\(read) 2>&1 >&-; echo \"status $?\"; umask 077; \(read) --out \(s.path)/\(tag).out; stat -c %a \(s.path)/\(tag).out"
            ).output
        }
        let plain = try runBoth("plain")
        XCTAssertEqual(plain, "Error: cannot write standard output: Bad file descriptor\nstatus 1\n600\n")
        let owner = try ServedOwner(system: s.system)
        XCTAssertEqual(try runBoth("served"), plain)
        XCTAssertEqual(owner.stop().status, 0)
    }

    func testConflictingCommandsAreRefusedNamingTheOwner() throws {
        let (s, sys) = try systemToResync()
        let owner = try ServedOwner(system: s.system)
        let before = s.snapshot()
        for args in [["serve", "--socket", s.path + "/other.sock"], ["init", "--force", "--disk", "x:4M:data"]] {
            let r = try rdr(args + sys, expect: 75)
            XCTAssertTrue(
                r.stderr.hasPrefix(
                    "Error: system \(s.system) is busy: pid \(owner.pid) is running 'rdr serve --system \(s.system)'"),
                r.stderr)
        }
        XCTAssertEqual(s.snapshot(), before, "a refused command changed files")
        XCTAssertEqual(owner.stop().status, 0)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: s.system + "/.rdr.control"),
            "a clean stop removes the control socket")
    }

    func testAKilledOwnersSocketIsIgnoredAndReplaced() throws {
        let (s, sys) = try systemToResync()
        let owner = try ServedOwner(system: s.system)
        owner.stop(SIGKILL)
        XCTAssertTrue(FileManager.default.fileExists(atPath: s.system + "/.rdr.control"), "kill -9 leaves the socket")
        let w = try rdr(["write", "data", "--offset", "0", "--pattern", "1", "--length", "4K"] + sys)
        XCTAssertEqual(w.stdout, "wrote 4096 bytes to data at offset 0\n")
        let next = try ServedOwner(system: s.system)
        try rdr(["write", "data", "--offset", "4K", "--pattern", "2", "--length", "4K"] + sys)
        XCTAssertEqual(next.stop().status, 0)
    }

    /// `rdr serve` resumes a resync a killed worker left, as a thread of its own.
    func testServeResumesAnInterruptedResync() throws {
        let (s, sys) = try systemToResync()
        try rdr(["disk", "resync", "boot", "--from", "11", "--background", "--max-rate", "4M"] + sys)
        XCTAssertTrue(eventually { FileManager.default.fileExists(atPath: s.system + "/.rdr.control") })
        let worker = self.worker(s.system) ?? 0
        XCTAssertGreaterThan(worker, 0)
        kill(worker, SIGKILL)
        XCTAssertTrue(eventually { !processAlive(worker) })
        let owner = try ServedOwner(system: s.system)
        XCTAssertTrue(
            eventually(60) {
                (try? self.statusJSON(s.system)).map { disk($0, "boot")["status"] as? String == "None" } ?? false
            })
        let stopped = owner.stop()
        XCTAssertTrue(stopped.stdout.contains("resuming the resync of boot from 11"), stopped.stdout)
        try rdr(["disk", "verify", "boot"] + sys)
    }
}

/// Whether nobody holds a system's lock (flock probe, as `rdr status` does).
enum SystemLockProbe {
    static func free(_ system: String) -> Bool {
        let fd = open(system + "/.rdr.lock", O_RDONLY)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) == 0
    }
}

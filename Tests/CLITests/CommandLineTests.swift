import Foundation
import XCTest

@testable import RDR

/// Help, usage errors, exit codes and refusals of the `rdr` binary.
final class CommandLineTests: XCTestCase {
    func testHelpIsPrintedToStdoutForEveryCommand() throws {
        for args in [
            ["--help"], ["help"], ["status", "--help"], ["disk", "resync", "-h"], ["help", "disk", "verify"], ["disk"],
            ["init", "--help"], ["write", "--help"], ["read", "--help"], ["workload", "--help"], ["demo", "--help"],
            ["disk", "split", "--help"], ["disk", "merge", "--help"],
        ] {
            let r = try rdr(args)
            XCTAssertTrue(
                r.stdout.contains("OVERVIEW:") && r.stdout.contains("USAGE:") && r.stdout.contains("OPTIONS:"),
                args.joined(separator: " "))
            XCTAssertEqual(r.stderr, "")
        }
        let root = try rdr(["--help"])
        for sub in ["demo", "init", "status", "write", "read", "workload", "disk"] {
            XCTAssertTrue(root.stdout.contains("  \(sub)"), sub)
        }
        XCTAssertTrue(try rdr(["disk", "resync", "--help"]).stdout.contains("--max-rate"))
        XCTAssertTrue(try rdr(["disk", "resync", "--help"]).stdout.contains("--min-rate"))
        XCTAssertFalse(
            try rdr(["disk", "resync", "--help"]).stdout.contains("--detached-child"), "hidden options stay hidden")
    }

    func testUsageErrorsExit64WithUsageLines() throws {
        for args in [
            ["frobnicate"], ["status", "--bogus"], ["disk", "resync", "boot"], ["init", "--disk"], ["help", "nope"],
        ] {
            let r = try rdr(args, expect: 64)
            let lines = r.stderr.split(separator: "\n")
            XCTAssertTrue(lines.first?.hasPrefix("Error: ") == true, r.stderr)
            XCTAssertTrue(lines.contains { $0.hasPrefix("Usage: ") }, r.stderr)
            XCTAssertTrue(lines.contains { $0.hasPrefix("See 'rdr") }, r.stderr)
            XCTAssertEqual(r.stdout, "")
        }
    }

    func testBadInputIsRefusedAndChangesNothing() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try refused(["init", "--disk", "x:1000:data"] + sys, s, status: 64, mentions: "multiple of 512")
        try refused(["init", "--region-size", "96K"] + sys, s, status: 64, mentions: "power of two")
        try refused(["init", "--disk", "x:1M:swap"] + sys, s, status: 64, mentions: "role")
        try rdr(["init", "--disk", "boot:8M:mandatory", "--disk", "data:8M:data"] + sys)
        try refused(["init"] + sys, s, status: 1, mentions: "already exists at \(s.system); use --force")
        try refused(
            ["write", "nope", "--offset", "0", "--pattern", "1", "--length", "4K"] + sys, s, status: 64,
            mentions: "no disk named 'nope'")
        try refused(
            ["write", "boot", "--side", "sideways", "--offset", "0", "--pattern", "1", "--length", "4K"] + sys, s,
            status: 64, mentions: "--side must be")
        try refused(
            ["write", "boot", "--offset", "8M", "--pattern", "1", "--length", "1"] + sys, s, status: 64,
            mentions: "outside disk 'boot'")
        try refused(
            ["read", "boot", "--offset", "7M", "--length", "2M"] + sys, s, status: 64, mentions: "outside disk 'boot'")
        try refused(
            ["disk", "resync", "boot", "--from", "12"] + sys, s, status: 64, mentions: "--from must be 10 or 11")
        try refused(["disk", "merge", "boot"] + sys, s, status: 1, mentions: "only a split disk can be merged")
        try refused(["status"] + ["--system", s.path + "/none"], s, status: 64, mentions: "no system at")
    }

    func testDamagedSystemsAreReportedWithTheWayOut() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:8M:mandatory", "--disk", "data:8M:data"] + sys)
        // Bad checksum in both header slots of member 11.
        var meta = data(s.metadata("boot", 11))
        meta[40] ^= 0x10
        meta[4096 + 40] ^= 0x10
        try meta.write(to: URL(fileURLWithPath: s.metadata("boot", 11)))
        try refused(
            ["write", "boot", "--offset", "0", "--pattern", "1", "--length", "4K"] + sys, s, status: 65,
            mentions:
                "bad checksum in both header slots and is not trusted; to rebuild it from member 10 run 'rdr disk resync boot --from 10 --full --force' (overwrites member 11)"
        )
        let status = try statusJSON(s.system)
        XCTAssertEqual(disk(status, "boot")["status"] as? String, "Error", "never Status: None on untrusted metadata")
        try rdr(["disk", "resync", "boot", "--from", "10", "--full", "--force"] + sys)
        XCTAssertEqual(disk(try statusJSON(s.system), "boot")["status"] as? String, "None")
        // Metadata of another disk.
        try FileManager.default.removeItem(atPath: s.metadata("data", 10))
        try FileManager.default.copyItem(atPath: s.metadata("boot", 10), toPath: s.metadata("data", 10))
        try refused(
            ["write", "data", "--offset", "0", "--pattern", "1", "--length", "4K"] + sys, s, status: 65,
            mentions: "belongs to another disk")
        try rdr(["disk", "resync", "data", "--from", "11", "--full", "--force"] + sys)
        // Wrong-size and missing images.
        truncate(s.image("boot", 10), 4096)
        try refused(
            ["write", "boot", "--offset", "0", "--pattern", "1", "--length", "4K"] + sys, s, status: 65,
            mentions: "is 4096 bytes, expected 8388608")
        try FileManager.default.removeItem(atPath: s.image("boot", 10))
        try refused(["read", "boot", "--offset", "0", "--length", "1"] + sys, s, status: 65, mentions: "is missing")
        try rdr(["disk", "resync", "boot", "--from", "11", "--full", "--force"] + sys)
        try rdr(["disk", "verify", "boot"] + sys)
    }

    func testUpgradeSideIsRefusedDataDiskWhileSplit() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:8M:mandatory", "--disk", "data:8M:data"] + sys)
        try rdr(["disk", "split"] + sys)
        try refused(
            ["write", "data", "--side", "upgrade", "--offset", "0", "--pattern", "1", "--length", "4K"] + sys, s,
            status: 77,
            mentions: "the Upgrade Side (enclosure 11) has no access to data disk 'data' while split")
        try refused(
            ["read", "data", "--side", "11", "--offset", "0", "--length", "4K"] + sys, s, status: 77,
            mentions: "no access")
        try rdr(["write", "data", "--side", "production", "--offset", "0", "--pattern", "1", "--length", "4K"] + sys)
        try rdr(["write", "boot", "--side", "upgrade", "--offset", "4K", "--stdin"] + sys, stdin: Data("hello".utf8))
        XCTAssertEqual(
            try rdr(["read", "boot", "--side", "upgrade", "--offset", "4K", "--length", "5"] + sys).stdout, "hello")
        XCTAssertEqual(
            try rdr(["read", "boot", "--side", "production", "--offset", "4K", "--length", "5"] + sys).stdout,
            "\0\0\0\0\0")
    }

    func testSecondWriterIsRefusedNamingTheHolderAndStatusStillAnswers() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:64M:system"] + sys)
        try rdr(["disk", "split"] + sys)
        let (p, out, err) = try RDRProcess.start(
            ["workload", "boot", "--side", "production", "--bytes", "4G", "--batch", "1"] + sys)
        defer {
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            _ = RDRProcess.finish(p, out, err)
        }
        var holder: String?
        for _ in 0..<200 where holder == nil {
            holder = SystemLock.holder(systemPath: s.system, sys: LinuxSystemCalls())
            usleep(20_000)
        }
        XCTAssertNotNil(holder)
        let r = try rdr(
            ["write", "boot", "--side", "production", "--offset", "0", "--pattern", "1", "--length", "4K"] + sys,
            expect: 75)
        XCTAssertTrue(r.stderr.contains("is busy: pid \(p.processIdentifier) is running 'rdr workload boot"), r.stderr)
        let st = try rdr(["status"] + sys)
        XCTAssertTrue(st.stdout.contains("Busy: pid \(p.processIdentifier)"), st.stdout)
    }

    func testConcurrentCommandsOneWinsTheOthersNameIt() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:64M:system"] + sys)
        try rdr(["disk", "split"] + sys)
        let contenders = try (0..<4).map { i in
            try RDRProcess.start(
                ["workload", "boot", "--side", "production", "--bytes", "8G", "--batch", "1", "--seed", "\(i)"] + sys)
        }
        usleep(1_500_000)
        let statusAnswer = try rdr(["status", "--json"] + sys)
        XCTAssertTrue(statusAnswer.stdout.contains("\"lockHolder\":\"pid "), "status answers while the winner runs")
        var refused: [RDRProcess.Result] = []
        var running: [Process] = []
        for (p, out, err) in contenders {
            if p.isRunning {
                running.append(p)
                kill(p.processIdentifier, SIGKILL)
            }
            let r = RDRProcess.finish(p, out, err)
            if r.status == 75 { refused.append(r) }
        }
        XCTAssertEqual(running.count, 1, "exactly one process changes the system")
        XCTAssertEqual(refused.count, 3)
        for r in refused {
            XCTAssertTrue(
                r.stderr.contains(
                    "is busy: pid \(running.first?.processIdentifier ?? -1) is running 'rdr workload boot"), r.stderr)
        }
    }

    func testStatusJSONShape() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init"] + sys)
        let status = try statusJSON(s.system)
        XCTAssertEqual(status["system"] as? String, s.system)
        let boot = disk(status, "boot")
        for key in ["name", "role", "size", "regionSize", "mode", "status", "resync", "members"] {
            XCTAssertNotNil(boot[key], key)
        }
        XCTAssertTrue(boot["resync"] is NSNull)
        XCTAssertEqual(boot["role"] as? String, "mandatory")
        XCTAssertEqual(boot["size"] as? Int, 1 << 30)
        XCTAssertEqual(boot["regionSize"] as? Int, 65536)
        XCTAssertEqual(boot["mode"] as? String, "duplex")
        XCTAssertEqual(boot["status"] as? String, "None")
        let members = boot["members"] as? [[String: Any]] ?? []
        XCTAssertEqual(members.map { $0["enclosure"] as? Int }, [10, 11])
        XCTAssertEqual(members.map { $0["side"] as? String }, ["production", "upgrade"])
        for m in members { for key in ["path", "metadataPath", "dirtyBytes"] { XCTAssertNotNil(m[key], key) } }
        XCTAssertEqual(allocatedBytes(s.image("boot", 10)), 0, "a fresh 1 GiB member takes no space")
    }

    func testRDRSystemEnvironmentVariableSelectsTheSystem() throws {
        let s = try Scratch()
        let r = try RDRProcess.run(["init", "--disk", "d:1M:data"], environment: ["RDR_SYSTEM": s.system])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: s.system + "/rdr.json"))
    }
}

func allocatedBytes(_ path: String) -> Int64 {
    var st = stat()
    return stat(path, &st) == 0 ? Int64(st.st_blocks) * 512 : -1
}

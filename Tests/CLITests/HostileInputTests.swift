import Foundation
import XCTest

@testable import RDR

/// No input crashes `rdr`: every numeric option has a documented range, sizes have one
/// meaning, names and lists are checked, and writes stream whatever their length.
final class HostileInputTests: XCTestCase {
    /// Placeholders that take a number (or a size, a rate, a seed).
    static let numericPlaceholders: Set<String> = ["n", "size", "seconds", "rate", "seed"]

    /// Every command path, from the help of the root and of each group.
    func commandPaths() throws -> [[String]] {
        func subcommands(_ path: [String]) throws -> [[String]] {
            let help = try rdr(path + ["--help"]).stdout
            guard
                let section = help.components(separatedBy: "SUBCOMMANDS:").dropFirst().first?.components(
                    separatedBy: "\n\n"
                ).first
            else { return [path] }
            var out: [[String]] = []
            for line in section.split(separator: "\n") where line.hasPrefix("  ") && !line.hasPrefix("   ") {
                guard let name = line.split(separator: " ").first.map(String.init), name != "help", name != "See" else {
                    continue
                }
                out += try subcommands(path + [name])
            }
            return out
        }
        return try subcommands([])
    }

    /// (option, help text) of every option of `path` whose value is numeric.
    func numericOptions(_ path: [String]) throws -> [(String, String)] {
        let help = try rdr(path + ["--help"]).stdout
        let options =
            help.components(separatedBy: "OPTIONS:").dropFirst().first?.components(separatedBy: "\n\n").first ?? ""
        var out: [(String, String)] = []
        var current: (String, String)?
        for line in options.split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("-") {
                if let c = current { out.append(c) }
                current = nil
                let words = text.split(separator: " ", maxSplits: 2).map(String.init)
                if words.count >= 2, words[1].hasPrefix("<"),
                    Self.numericPlaceholders.contains(String(words[1].dropFirst().dropLast()))
                {
                    current = (
                        words[0].trimmingCharacters(in: CharacterSet(charactersIn: ",")),
                        words.count > 2 ? words[2] : ""
                    )
                }
            } else if current != nil {
                current?.1 += " " + text
            }
        }
        if let c = current { out.append(c) }
        return out
    }

    /// A valid command line for each command with numeric options, on system `sys`.
    func base(_ path: [String], _ sys: String, fresh: String) -> [String]? {
        switch path {
        case ["status"]: return ["status", "--system", sys, "--watch"]
        case ["write"]: return ["write", "boot", "--system", sys, "--offset", "0", "--pattern", "1", "--length", "4K"]
        case ["read"]: return ["read", "boot", "--system", sys, "--offset", "0", "--length", "4K"]
        case ["workload"]: return ["workload", "boot", "--system", sys, "--bytes", "64K"]
        case ["init"]: return ["init", "--system", fresh, "--disk", "d:1M:data"]
        case ["demo"]: return ["demo", "--system", fresh, "--size", "16M"]
        case ["disk", "resync"]: return ["disk", "resync", "boot", "--from", "10", "--system", sys]
        case ["disk", "verify"]: return ["disk", "verify", "boot", "--system", sys]
        // Refused after parsing: it never stays up.
        case ["serve"]: return ["serve", "--system", sys, "--listen", "0.0.0.0:0"]
        default: return nil
        }
    }

    func testEveryNumericOptionHasARangeAndRefusesHostileValues() throws {
        let s = try Scratch()
        try rdr(["init", "--disk", "boot:1M:mandatory", "--system", s.system])
        let neverValid = [
            "inf", "-inf", "nan", "1e300", "1e-9", "-1", "", "1KB", "99999999999999999999999", "0x10", "1.5.2", "abc",
            "-9223372036854775808",
        ]
        let maybeValid = ["0", "4295", "7200", "1", "9223372036854775807"]
        var audited = 0
        var runs = 0
        for path in try commandPaths() {
            for (option, help) in try numericOptions(path) {
                audited += 1
                XCTAssertTrue(
                    help.contains(" to "), "rdr \(path.joined(separator: " ")) \(option) documents no range: \(help)")
                for value in neverValid + maybeValid {
                    let fresh = s.path + "/fresh-\(runs)"
                    guard var args = base(path, s.system, fresh: fresh) else {
                        XCTFail(
                            "no valid command line for rdr \(path.joined(separator: " ")) to try \(option) on; add one to base()"
                        )
                        break
                    }
                    if let i = args.firstIndex(of: option) { args[i + 1] = value } else { args += [option, value] }
                    runs += 1
                    let (p, out, err) = try RDRProcess.start(args)
                    let done = Host.wait(20) { !p.isRunning }
                    if !done { kill(p.processIdentifier, SIGKILL) }
                    let r = RDRProcess.finish(p, out, err)
                    let label = "rdr \(args.joined(separator: " "))"
                    XCTAssertTrue(done, "\(label) did not finish")
                    XCTAssertTrue(p.terminationReason == .exit, "\(label) died by signal \(r.status)")
                    if neverValid.contains(value) {
                        XCTAssertEqual(r.status, 64, "\(label): \(r.stderr)")
                        XCTAssertTrue(errorLine(r).contains(option), "\(label): \(r.stderr)")
                    } else {
                        XCTAssertTrue([0, 64].contains(r.status), "\(label): \(r.status) \(r.stderr)")
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(audited, 15, "the audit found the numeric options")
        for (args, text) in [
            (["status", "--interval", "4295"], "--interval"), (["status", "--interval", "1e-9"], "--interval"),
            (["disk", "resync", "boot", "--from", "10", "--checkpoint", "1e-9"], "--checkpoint"),
            (["disk", "resync", "boot", "--from", "10", "--max-rate", "0"], "--max-rate"),
            (["disk", "resync", "boot", "--from", "10", "--min-rate", "0"], "--min-rate"),
            (["disk", "resync", "boot", "--from", "10", "--min-rate", "2M", "--max-rate", "1M"], "--min-rate (2M)"),
            (["demo", "--size", "512", "--system", s.path + "/tiny"], "--size"),
        ] {
            try refused(
                args + (args.contains("--system") ? [] : ["--system", s.system]), s, status: 64, mentions: text)
        }
    }

    func testSizesTakeOnlyPowerOf1024SuffixesAndPlainBytes() throws {
        let s = try Scratch()
        for bad in ["1KB", "1kb", "1MB", "1GB", "1TB", "1k b", "1X", "1.5G"] {
            let line = errorLine(try rdr(["init", "--disk", "d:\(bad):data", "--system", s.system], expect: 64))
            XCTAssertTrue(line.contains("1024"), "\(bad): \(line)")
        }
        for good in ["1KiB", "1K", "1k", "1M", "1MiB", "512"] {
            try rdr(["init", "--force", "--disk", "d:\(good):data", "--system", s.system])
        }
    }

    func testNamesListsAndTheMergedDataDiskMessage() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try refused(["init", "--disk", "-x:1M:data"] + sys, s, status: 64, mentions: "cannot start with '-'")
        for bad in ["-x", "a/b", ""] {
            let line = errorLine(try rdr(["status", "--name", bad], expect: 64))
            XCTAssertTrue(line.contains("system name") && !line.contains("disk name"), line)
        }
        try rdr(["init", "--disk", "boot:1M:mandatory", "--disk", "data:1M:data"] + sys)
        for verb in ["split", "merge"] {
            try refused(["disk", verb, "boot", "boot"] + sys, s, status: 64, mentions: "'boot' is named twice")
        }
        try rdr(["disk", "split"] + sys)
        try rdr(["disk", "merge"] + sys)
        let r = try rdr(
            ["write", "data", "--side", "production", "--offset", "0", "--pattern", "1", "--length", "4K"] + sys,
            expect: 77)
        let line = errorLine(r)
        XCTAssertFalse(line.contains("frozen"), "the data disk's Production member is live while merged: \(line)")
        XCTAssertTrue(line.contains("Upgrade Side") && line.contains("member 10"), line)
        try rdr(["write", "data", "--side", "upgrade", "--offset", "0", "--pattern", "1", "--length", "4K"] + sys)
        XCTAssertEqual(data(s.image("data", 10)).prefix(4096), Data(Pattern.bytes(count: 4096, seed: 1, offset: 0)))
        try refused(
            ["write", "boot", "--side", "production", "--offset", "0", "--pattern", "1", "--length", "4K"] + sys, s,
            status: 77, mentions: "frozen for abort")
    }

    // MARK: streaming writes

    /// Feeds `total` bytes of pattern `seed` to `fd` in 1 MiB pieces, then samples the peak
    /// memory of `pid` while it still waits for the end of its input.
    func feed(_ fd: Int32, total: Int, seed: UInt64, pid: Int32) -> Int64? {
        signal(SIGPIPE, SIG_IGN)
        for i in 0..<total >> 20 {
            let chunk = Pattern.bytes(count: 1 << 20, seed: seed, offset: Int64(i) << 20)
            var done = 0
            while done < chunk.count {
                let n = chunk.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, chunk.count - done) }
                if n <= 0 { return nil }
                done += n
            }
        }
        usleep(300_000)
        return Host.peakRSS(pid)
    }

    func testStdinAndFifoWritesStreamThroughABoundedBuffer() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "d:512M:data", "--region-size", "1M"] + sys)
        let total = 384 << 20
        // --stdin
        let p = Process()
        p.executableURL = URL(fileURLWithPath: RDRProcess.binary)
        p.arguments = ["write", "d", "--offset", "1M", "--stdin"] + sys
        let input = Pipe()
        let out = Pipe()
        let err = Pipe()
        p.standardInput = input
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let peak = feed(input.fileHandleForWriting.fileDescriptor, total: total, seed: 4, pid: p.processIdentifier)
        try input.fileHandleForWriting.close()
        let r = RDRProcess.finish(p, out, err)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertLessThan(peak ?? .max, 96 << 20, "peak memory while streaming \(total >> 20) MiB from stdin")
        // --file naming a FIFO: the same stream, from a file the size of which is not known.
        let fifo = s.path + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let (q, qout, qerr) = try RDRProcess.start(["write", "d", "--offset", "0", "--file", fifo] + sys)
        let writer = open(fifo, O_WRONLY)
        XCTAssertGreaterThanOrEqual(writer, 0)
        let peak2 = feed(writer, total: 64 << 20, seed: 5, pid: q.processIdentifier)
        close(writer)
        XCTAssertEqual(RDRProcess.finish(q, qout, qerr).status, 0)
        XCTAssertLessThan(peak2 ?? .max, 96 << 20)
        let image = FileHandle(forReadingAtPath: s.image("d", 11))
        for (offset, seed, base) in [
            (0, UInt64(5), 0), (63 << 20, 5, 0), (300 << 20, 4, 1 << 20), ((1 << 20) + total - (1 << 20), 4, 1 << 20),
        ] {
            try image?.seek(toOffset: UInt64(offset))
            XCTAssertEqual(
                image?.readData(ofLength: 1 << 20),
                Data(Pattern.bytes(count: 1 << 20, seed: seed, offset: Int64(offset - base))), "offset \(offset)")
        }
    }

    func testPatternWritesOfAnyLengthStream() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "big:8T:data", "--region-size", "64M"] + sys)
        let (p, out, err) = try RDRProcess.start(
            ["write", "big", "--offset", "0", "--pattern", "1", "--length", "8T"] + sys)
        usleep(1_500_000)
        let peak = Host.peakRSS(p.processIdentifier)
        let alive = p.isRunning
        kill(p.processIdentifier, SIGKILL)
        let r = RDRProcess.finish(p, out, err)
        XCTAssertTrue(alive, "the 8T write died: \(r.status) \(r.stderr)")
        XCTAssertLessThan(peak ?? .max, 96 << 20)
    }

    func testAFileLargerThanTheRoomLeftIsRefusedBeforeWriting() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "d:8M:data"] + sys)
        let big = s.path + "/big.raw"
        XCTAssertTrue(FileManager.default.createFile(atPath: big, contents: nil))
        truncate(big, 5 << 30)
        try refused(["write", "d", "--offset", "0", "--file", big] + sys, s, status: 64, mentions: "5 GiB")
        let small = s.path + "/small.raw"
        try Data(Pattern.bytes(count: 3 << 20, seed: 8, offset: 0)).write(to: URL(fileURLWithPath: small))
        try refused(["write", "d", "--offset", "6M", "--file", small] + sys, s, status: 64, mentions: "3 MiB")
        try rdr(["write", "d", "--offset", "5M", "--file", small] + sys)
        XCTAssertEqual(data(s.image("d", 10)).suffix(3 << 20), Data(Pattern.bytes(count: 3 << 20, seed: 8, offset: 0)))
        try rdr(["read", "d", "--offset", "5M", "--length", "3M", "--out", s.path + "/back.raw"] + sys)
        XCTAssertEqual(
            data(s.path + "/back.raw"), Data(Pattern.bytes(count: 3 << 20, seed: 8, offset: 0)),
            "read streams the same bytes back")
    }

    // MARK: signals, throttle, read-only media

    func testWorkloadStopsOnSignalsWithEveryWrittenRegionMarked() throws {
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            let s = try Scratch()
            let sys = ["--system", s.system]
            try rdr(["init", "--disk", "boot:64M:system"] + sys)
            try rdr(["disk", "split"] + sys)
            let (p, out, err) = try RDRProcess.start(
                ["workload", "boot", "--side", "production", "--bytes", "8G", "--batch", "4", "--io-size", "16K"] + sys)
            XCTAssertTrue(Host.wait(10) { SystemLock.holder(systemPath: s.system, sys: LinuxSystemCalls()) != nil })
            usleep(300_000)
            kill(p.processIdentifier, sig)
            let r = RDRProcess.finish(p, out, err)
            XCTAssertEqual(p.terminationReason, .exit, "signal \(sig) killed the workload")
            XCTAssertEqual(r.status, 130, "signal \(sig): \(r.stderr)")
            XCTAssertTrue(errorLine(r).contains("interrupted"), r.stderr)
            XCTAssertGreaterThan(
                try assertWrittenRegionsMarked(s, "boot", size: 64 << 20), 0,
                "signal \(sig): the workload wrote before it stopped")
        }
    }

    func testThrottledForegroundResyncStopsPromptlyOnSignals() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:64M:system"] + sys)
        try rdr(["disk", "split"] + sys)
        for i in 0..<8 {
            try rdr(
                [
                    "write", "boot", "--side", "production", "--offset", "\(i * 4)M", "--pattern", "\(i)", "--length",
                    "64K",
                ] + sys)
        }
        for sig in [SIGHUP, SIGTERM, SIGINT] {
            let (p, out, err) = try RDRProcess.start(
                ["disk", "resync", "boot", "--from", "10", "--max-rate", "1"] + sys)
            XCTAssertTrue(Host.wait(10) { SystemLock.holder(systemPath: s.system, sys: LinuxSystemCalls()) != nil })
            usleep(500_000)
            kill(p.processIdentifier, sig)
            let stopped = Host.wait(5) { !p.isRunning }
            if !stopped { kill(p.processIdentifier, SIGKILL) }
            let r = RDRProcess.finish(p, out, err)
            XCTAssertTrue(stopped, "signal \(sig): a throttled resync must wake for it")
            XCTAssertEqual(p.terminationReason, .exit, "signal \(sig) killed the resync")
            XCTAssertEqual(r.status, 130, "signal \(sig): \(r.stderr)")
            XCTAssertEqual(disk(try statusJSON(s.system), "boot")["mode"] as? String, "resyncing")
        }
        try rdr(["disk", "resync", "boot", "--from", "10"] + sys)
        try rdr(["disk", "verify", "boot"] + sys)
    }

    func testReadOnlyCommandsWorkOnReadOnlyMedia() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        try rdr(["init", "--disk", "boot:1M:mandatory"] + sys)
        try rdr(["write", "boot", "--offset", "0", "--pattern", "1", "--length", "64K"] + sys)
        let ro = try TestMount.readOnlyView(of: s.system)
        let r = ["--system", ro.path]
        XCTAssertTrue(try rdr(["disk", "verify", "boot"] + r).stdout.contains("members identical"))
        try rdr(["read", "boot", "--offset", "0", "--length", "4K", "--out", s.path + "/out.raw"] + r)
        XCTAssertEqual(data(s.path + "/out.raw"), Data(Pattern.bytes(count: 4096, seed: 1, offset: 0)))
        XCTAssertEqual(disk(try statusJSON(ro.path), "boot")["status"] as? String, "None")
        let w = try rdr(["write", "boot", "--offset", "0", "--pattern", "2", "--length", "4K"] + r, expect: 1)
        XCTAssertTrue(errorLine(w).contains("Read-only file system"), w.stderr)
        try FileManager.default.removeItem(atPath: s.system + "/.rdr.lock")
        XCTAssertTrue(
            try rdr(["disk", "verify", "boot"] + r).stdout.contains("members identical"),
            "no lock file to open on read-only media")
    }
}

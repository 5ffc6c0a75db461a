import Foundation
import RDR

/// How fio replays the limit on one lane.
struct ReplayEngine {
    let name: String
    let direct: Bool
    let iodepth: Int
    /// Why this engine, for the report.
    let note: String
    /// fio's job clock counts whole milliseconds. Where a replay takes about one (tmpfs), the
    /// log repeats its extents until they move at least this many bytes, and the time is
    /// divided by the repeats. Repeats overwrite pages the first pass allocated, so this errs
    /// towards a faster limit (a harder target), never a slower one.
    var repeatUntilBytes: Int64 = 0

    var description: String { "fio \(name), \(direct ? "O_DIRECT" : "buffered"), iodepth \(iodepth)" }

    /// tmpfs has no device to queue for (and O_DIRECT there is only a formality): the limit is
    /// memory bandwidth, reached by one buffered reader and one writer.
    static let buffered = ReplayEngine(
        name: "psync", direct: false, iodepth: 1,
        note:
            "buffered psync, one reader and one writer (tmpfs: no device queue to fill, the limit is memory bandwidth), the log repeated to move at least 256 MiB and the time divided by the repeats (fio's clock counts milliseconds)",
        repeatUntilBytes: 256 << 20)

    /// io_uring with O_DIRECT at depth 32, unless this fio's io_uring replay is found to lose
    /// I/O: fio 3.33 (Debian 12) ends an iolog replay with io_uring before its last queued
    /// writes reach the kernel, and a log with `close` lines cancels them too. The probe
    /// replays 128 writes three times and checks every one landed; libaio (the same O_DIRECT
    /// depth-32 queueing on ext4 and XFS) replaces io_uring when one did not.
    static func forDisk(dir: String) -> ReplayEngine? {
        guard Runner.which("fio") != nil else { return nil }
        let probe = dir + "/engine-probe.img"
        defer { _ = Runner.shell("rm -f '\(probe)' '\(probe).iolog' '\(probe).json'") }
        let extents = (0..<128).map { ResyncExtent(kind: .copy, bytes: Int64($0) << 16..<Int64($0 + 1) << 16) }
        guard (try? ReplayLog.write(extents, action: "write", file: probe, to: probe + ".iolog")) != nil else {
            return nil
        }
        var lost = 0
        for _ in 0..<3 {
            _ = Runner.shell("rm -f '\(probe)'; truncate -s 8M '\(probe)'")
            let r = Runner.shell(
                ReplayLog.fio(
                    jobs: [("writes", probe + ".iolog")], engine: "io_uring", direct: true, iodepth: 32,
                    json: probe + ".json"))
            guard r.ok else {
                lost = -1
                break
            }
            lost = max(lost, ReplayLog.unwritten(extents, in: probe).count)
        }
        if lost == 0 {
            return ReplayEngine(
                name: "io_uring", direct: true, iodepth: 32,
                note: "io_uring, O_DIRECT, iodepth 32 (its replay was checked: every probe write landed)")
        }
        let why =
            lost < 0
            ? "fio's io_uring engine failed here"
            : "fio's io_uring replay lost up to \(lost) of 128 probe writes at the end of the log"
        return ReplayEngine(name: "libaio", direct: true, iodepth: 32, note: "libaio, O_DIRECT, iodepth 32 (\(why))")
    }
}

/// The limit for one pair: what this device does for exactly the extents RDR's resync moves.
/// The plan comes from the engine itself (`plannedResyncExtents`: union of both bitmaps,
/// coalesced, split at the source's holes). Copy extents become two fio iologs, the source
/// reads and the target writes, replayed at once; then fsync of the target (`end_fsync`).
/// Punch extents are issued by rdr-bench (fallocate PUNCH_HOLE, one thread) just before fio,
/// because fio 3.33 cannot replay trims from an iolog. `limit_s` = punch time + the longer
/// fio job's own runtime (first I/O to the end of its fsync, fio's clock in ms): fio's process
/// start-up alone is ~0.2 s of sleeps and clock calibration, which is fio's, not the disk's.
final class ReplayLimit {
    static let toolName = "limit (fio replay)"
    let copies: [ResyncExtent]
    let punches: [ResyncExtent]
    let engine: ReplayEngine
    let target: String
    /// How many times the logs list the plan (see `repeatUntilBytes`).
    let repeats: Int
    private let command: String
    private let json: String

    var copyBytes: Int64 { copies.reduce(0) { $0 + Int64($1.bytes.count) } }
    var punchBytes: Int64 { punches.reduce(0) { $0 + Int64($1.bytes.count) } }

    init(pair: DivergedPair, engine: ReplayEngine) throws {
        let disk = try RDRSystem.open(at: pair.system).disk("d", access: .readOnly)
        let plan = try disk.plannedResyncExtents(from: .ten)
        copies = plan.filter { $0.kind == .copy }
        punches = plan.filter { $0.kind == .punch }
        self.engine = engine
        target = pair.target
        let files = pair.dir + "/limit-" + engine.name
        json = files + ".json"
        let bytes = copies.reduce(Int64(0)) { $0 + Int64($1.bytes.count) }
        repeats = Int(min(1000, max(1, (engine.repeatUntilBytes + bytes - 1) / max(1, bytes))))
        try ReplayLog.write(copies, action: "read", file: pair.source, to: files + "-reads.iolog", repeats: repeats)
        try ReplayLog.write(copies, action: "write", file: pair.target, to: files + "-writes.iolog", repeats: repeats)
        command = ReplayLog.fio(
            jobs: [("reads", files + "-reads.iolog"), ("writes", files + "-writes.iolog")],
            engine: engine.name, direct: engine.direct, iodepth: engine.iodepth, json: json)
    }

    /// What fio reported for the last replay.
    var jobs: [ReplayLog.Job]? { ReplayLog.jobs(json) }

    var tool: Tool { Tool(name: Self.toolName, run: { _ in self.run() }, check: { _ in self.check() }) }

    func run() -> Runner.Result {
        let begin = Monotonic.now()
        do {
            let fd = try FileDescriptor.open(target, .readWrite, sys: LinuxSystemCalls())
            defer { fd.close() }
            for p in punches { try fd.punchHole(at: p.bytes.lowerBound, length: Int64(p.bytes.count)) }
            if copies.isEmpty { try fd.sync() }  // otherwise fio's end_fsync makes the punches durable
        } catch {
            return Runner.Result(seconds: 0, status: 1, maxRSSKiB: 0, output: "punch: \(error)")
        }
        let punchSeconds = Monotonic.now() - begin
        guard !copies.isEmpty else { return Runner.Result(seconds: punchSeconds, status: 0, maxRSSKiB: 0, output: "") }
        unlink(json)  // so a fio that writes no JSON is never judged by the previous run's
        let r = Runner.shell(command)
        guard r.ok else { return r }
        guard let jobs, jobs.count == 2 else {
            return Runner.Result(seconds: 0, status: 1, maxRSSKiB: 0, output: "fio wrote no readable JSON to \(json)")
        }
        let fioSeconds = Double(jobs.map(\.runtimeMillis).max() ?? 0) / 1000 / Double(repeats)
        return Runner.Result(seconds: punchSeconds + fioSeconds, status: 0, maxRSSKiB: 0, output: "")
    }

    /// The replay did the plan's I/O: every punch extent of the target is a hole, no fio error,
    /// one read and one write per copy extent (and repeat) issued, with psync their bytes too,
    /// and every copy extent of the target holds fio's write pattern.
    func check() -> String? {
        do {
            let fd = try FileDescriptor.open(target, .readOnly, sys: LinuxSystemCalls())
            defer { fd.close() }
            for p in punches {
                if let next = try fd.nextData(from: p.bytes.lowerBound), next < p.bytes.upperBound {
                    return "the punch at \(p.bytes.lowerBound) left data"
                }
            }
        } catch {
            return "cannot check the punches: \(error)"
        }
        guard !copies.isEmpty else { return nil }
        guard let jobs else { return "fio JSON unreadable" }
        let ios = copies.count * repeats
        let bytes = copyBytes * Int64(repeats)
        for j in jobs where j.error != 0 || j.ios != ios || (engine.name == "psync" && j.bytes != bytes) {
            return
                "fio job \(j.name): error \(j.error), \(j.ios) I/Os and \(j.bytes) bytes for \(ios) copy extents of \(bytes) bytes"
        }
        let missing = ReplayLog.unwritten(copies, in: target)
        return missing.isEmpty
            ? nil
            : "fio's replay left \(missing.count) of \(copies.count) copy extents unwritten (first at \(missing[0]))"
    }
}

/// fio iolog version 2 files, the fio command that replays them, and reading its results.
enum ReplayLog {
    /// What fio writes; `unwritten` looks for it at the start of every extent's 4 KiB blocks.
    static let pattern = "RDRLIMIT"

    /// No `close` line: with fio 3.33 a close cancels the I/O still in flight on that file.
    static func write(_ extents: [ResyncExtent], action: String, file: String, to path: String, repeats: Int = 1) throws
    {
        guard !file.contains(where: \.isWhitespace) else {
            throw RDRError(.invalidArgument, "fio iologs cannot name a path with spaces: \(file)")
        }
        var s = "fio version 2 iolog\n\(file) add\n\(file) open\n"
        s.reserveCapacity(s.utf8.count + extents.count * repeats * (file.utf8.count + 32))
        for _ in 0..<repeats {
            for e in extents { s += "\(file) \(action) \(e.bytes.lowerBound) \(e.bytes.count)\n" }
        }
        try s.write(toFile: path, atomically: false, encoding: .utf8)
    }

    /// The last job (the writes) fsyncs its file at the end, inside its measured runtime.
    static func fio(jobs: [(name: String, log: String)], engine: String, direct: Bool, iodepth: Int, json: String)
        -> String
    {
        var c = "fio --thread --clocksource=clock_gettime --output-format=json --output='\(json)' --replay_no_stall=1"
        c +=
            " --fallocate=none --allow_file_create=0 --ioengine=\(engine) --direct=\(direct ? 1 : 0) --iodepth=\(iodepth)"
        c += " --buffer_pattern='\"\(pattern)\"'"
        for (i, j) in jobs.enumerated() {
            c += " --name=\(j.name) --read_iolog='\(j.log)'" + (i == jobs.count - 1 ? " --end_fsync=1" : "")
        }
        return c + " > /dev/null"
    }

    struct Job {
        let name: String
        let error: Int
        /// Reads + writes issued (fio's `total_ios`).
        let ios: Int
        /// Bytes read + written (`io_bytes`): exact with psync, but io_uring and libaio leave
        /// out the I/O still in flight when a replay ends.
        let bytes: Int64
        let runtimeMillis: Int
    }

    static func jobs(_ path: String) -> [Job]? {
        guard let data = FileManager.default.contents(atPath: path),
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let jobs = root["jobs"] as? [[String: Any]]
        else { return nil }
        return jobs.map { j in
            func sum(_ key: String) -> Int {
                ["read", "write"].reduce(0) { $0 + (((j[$1] as? [String: Any])?[key] as? Int) ?? 0) }
            }
            return Job(
                name: j["jobname"] as? String ?? "?", error: j["error"] as? Int ?? -1, ios: sum("total_ios"),
                bytes: Int64(sum("io_bytes")),
                runtimeMillis: j["job_runtime"] as? Int ?? 0)
        }
    }

    /// Offsets of extents whose first or last 4 KiB block does not start with the pattern.
    static func unwritten(_ extents: [ResyncExtent], in path: String) -> [Int64] {
        guard let fd = try? FileDescriptor.open(path, .readOnly, sys: LinuxSystemCalls()) else {
            return extents.map(\.bytes.lowerBound)
        }
        defer { fd.close() }
        let expected = Array(pattern.utf8)
        return extents.compactMap { e in
            let last = max(e.bytes.lowerBound, (e.bytes.upperBound - 1) / 4096 * 4096)
            for at in [e.bytes.lowerBound, last] {
                guard let got = try? fd.readBytes(count: expected.count, at: at), got == expected else {
                    return e.bytes.lowerBound
                }
            }
            return nil
        }
    }
}

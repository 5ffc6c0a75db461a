import Foundation
import RDR

/// rdr-bench: RDR's resync against the tools a user would pick instead, and against the disk.
/// `--quick` is the CI smoke run (small sizes, under two minutes); the full run writes
/// Benchmarks/results/. The last line printed is the machine-readable SUMMARY.
let args = Array(CommandLine.arguments.dropFirst())
if args.contains("--help") || args.contains("-h") {
    print(
        """
        OVERVIEW: Benchmark RDR resync against cp, qemu-img, nbdcopy, rsync, a dd ceiling and the
        replayed-extent limit (RDR's own plan replayed by fio), on the disk and on tmpfs.

        USAGE: rdr-bench --rdr <path> [--quick] [--work <dir>] [--out <dir>] [--runs <n>]

        OPTIONS:
          --rdr <path>    The rdr binary to measure (a release build).
          --quick         Small sizes, headline only (the CI smoke run).
          --work <dir>    Scratch directory for images (default /var/tmp/rdr-bench).
          --out <dir>     Where the full run writes results.md and the charts (default Benchmarks/results).
          --runs <n>      Rounds (default 5, 3 with --quick): every tool runs once per round,
                          interleaved (A B C, A B C, …); median, min and spread are reported.
          --tmpfs <dir>   A directory on tmpfs for the tmpfs lane (default /dev/shm/rdr-bench).
          --no-tmpfs      Skip the tmpfs lane.
          --variant <a>   RDR once more in every side-by-side round with these extra
                          `disk resync` arguments (e.g. "--copy-method uring"), interleaved.
          --only <name>   Run one experiment of the full run and print it (nothing is written):
                          headline, divergence, tmpfs, startup, limitcheck, size, tuning,
                          region, writes, status, or profile (see below).
          --wrap <cmd>    With --only profile: run rdr under this command (e.g. "strace -c -f")
                          on the headline pair (or --size/--fraction), restored and cold each run.
          --rdr-args <a>  With --only profile: extra arguments for rdr disk resync.
          --allocated <f> With --only profile: the source's allocated fraction (default 0.25;
                          0 for the sparse disks of the size sweep).
          --warm          With --only profile: source in the page cache instead of cold.
          --limit         With --only profile: the replayed-extent limit after each run (cold),
                          and the medians' efficiency.
        """)
    exit(0)
}
func value(_ flag: String) -> String? {
    guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
    return args[i + 1]
}
guard let rdrPath = value("--rdr") else {
    FileHandle.standardError.write(Data("Error: missing --rdr <path>\nUsage: rdr-bench --rdr <path> [--quick]\n".utf8))
    exit(64)
}
let quick = args.contains("--quick")
let work = value("--work") ?? "/var/tmp/rdr-bench"
let out = value("--out") ?? "Benchmarks/results"
// Five rounds at least where results are kept; three keep the CI smoke run under two minutes.
let runs = Int(value("--runs") ?? (quick ? "3" : "5")) ?? 5
try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
var e = Experiments(rdr: rdrPath, runs: runs, lane: Lane.disk(work: work))
e.variant = value("--variant")

@MainActor func machine() -> String {
    let cpu = Runner.shell("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").output.trimmingCharacters(
        in: .whitespacesAndNewlines)
    let fs = Runner.shell("df -T '\(work)' | tail -1 | awk '{print $2}'").output.trimmingCharacters(
        in: .whitespacesAndNewlines)
    let kernel = Runner.shell("uname -r").output.trimmingCharacters(in: .whitespacesAndNewlines)
    let fio = Runner.shell("fio --version").output.trimmingCharacters(in: .whitespacesAndNewlines)
    let date = ISO8601DateFormatter().string(from: Date())
    return
        "Machine: \(ProcessInfo.processInfo.activeProcessorCount) cores (\(cpu)), \(ProcessInfo.processInfo.physicalMemory >> 30) GiB, \(fs) on Linux \(kernel); \(fio.isEmpty ? "no fio" : fio); run \(date).\n"
        + "Page cache: \(Runner.canDropCaches ? "dropped before every timed run (cold)" : "could not be dropped here (warm: not root)").\n"
        + "Tools run interleaved, \(runs) rounds of each tool once in the same order (A B C, A B C, …); every time is the median of those rounds, with the fastest (min) and the spread ((max − min) / median); every ratio is taken between medians of the same run. Each peer's time includes `sync TARGET` (RDR fsyncs before it reports done). Every result was checked against the source: with `cmp` on disks up to 2 GiB, with a sparse-aware byte compare (holes read as zeros, `SparseCompare.swift`) on larger ones.\n"
        + "The limit: RDR's resync plan for the pair (union of both bitmaps, coalesced, split at the source's holes; `plannedResyncExtents`) replayed by fio from iologs, the source reads and the target writes at once, then fsync of the target; its time is fio's own job runtime (fio's process start-up, ~0.2 s of sleeps, is not the disk's) plus rdr-bench punching the plan's holes just before (fio 3.33 cannot replay trims). Every replay is checked: every punch extent of the target is a hole, one read and one write per copy extent were issued, and fio's pattern is in every copy extent of the target. RDR's time is its whole process, start-up included.\n"
}

/// The same experiments on tmpfs: their own section, chart and `tmpfs_` SUMMARY fields.
@MainActor func tmpfsLane(_ body: (inout Experiments) throws -> Void) throws {
    if args.contains("--no-tmpfs") {
        e.report += "\n# tmpfs lane\n\nSkipped (--no-tmpfs).\n"
        return
    }
    let (lane, reason) = Lane.tmpfs(dir: value("--tmpfs"))
    guard let lane else {
        e.report += "\n# tmpfs lane\n\nSkipped: \(reason).\n"
        return
    }
    defer { if value("--tmpfs") == nil { try? FileManager.default.removeItem(atPath: lane.work) } }
    var t = Experiments(rdr: rdrPath, runs: runs, lane: lane)
    t.variant = value("--variant")
    try body(&t)
    t.efficiencyTable()
    e.report +=
        "\n# tmpfs lane\n\nThe same pairs with every image in \(lane.work) (tmpfs): no device, so what remains is each tool's own cost, without the disk's run-to-run noise. Dropping the page cache does not touch tmpfs. The limit here: \(lane.engine?.note ?? lane.noEngine).\n"
        + t.report
    e.charts.merge(t.charts) { a, _ in a }
    e.summary += t.summary.filter { f in ["rdr_s=", "limit_s=", "efficiency_limit="].contains { f.hasPrefix($0) } }.map
    { "tmpfs_" + $0 }
}

do {
    e.report = "# RDR resync benchmark\n\n" + machine()
    if let only = value("--only") {
        switch only {
        case "headline":
            try e.headline(size: 16 << 30, allocated: 0.25, fraction: 0.01)
            e.efficiencyTable()
        case "divergence":
            try e.divergenceSweep(size: 2 << 30, allocated: 0.25, fractions: [0.001, 0.01, 0.1, 0.5, 1.0])
            e.efficiencyTable()
        case "tmpfs":
            try tmpfsLane { t in
                try t.headline(size: 16 << 30, allocated: 0.25, fraction: 0.01)
                try t.divergenceSweep(size: 2 << 30, allocated: 0.25, fractions: [0.001, 0.01, 0.1, 0.5, 1.0])
            }
        case "startup": try e.startup()
        case "limitcheck": try e.limitCheck()
        case "size": try e.sizeSweep(sizes: [1 << 30, 16 << 30, 256 << 30, 1 << 40], divergedBytes: 64 << 20)
        case "tuning": try e.tuning(size: 2 << 30, allocated: 0.25, fraction: 0.1)
        case "region": try e.regionSweep(size: 1 << 30, writes: 4096)
        case "writes": try e.writePath(bytes: 256 << 20)
        case "status": try e.statusLatency(size: 2 << 30)
        case "profile":
            let size = value("--size").flatMap { try? ByteSize.parse($0) } ?? 16 << 30
            let fraction = value("--fraction").flatMap(Double.init) ?? 0.01
            try e.profile(
                .init(
                    size: size, allocated: value("--allocated").flatMap(Double.init) ?? 0.25, sourceFraction: fraction),
                wrap: value("--wrap") ?? "",
                extra: value("--rdr-args") ?? "",
                warm: args.contains("--warm"), withLimit: args.contains("--limit"))
            exit(0)
        default:
            FileHandle.standardError.write(Data("Error: unknown experiment '\(only)'\n".utf8))
            exit(64)
        }
        print(e.report)
    } else if quick {
        try e.headline(size: 1 << 30, allocated: 0.25, fraction: 0.01)
        e.efficiencyTable()
        try tmpfsLane { try $0.headline(size: 256 << 20, allocated: 0.25, fraction: 0.01) }
        try e.startup()
        try e.sizeSweep(sizes: [1 << 30, 64 << 30], divergedBytes: 16 << 20)
        print(e.report)
    } else {
        try e.headline(size: 16 << 30, allocated: 0.25, fraction: 0.01)
        try e.divergenceSweep(size: 2 << 30, allocated: 0.25, fractions: [0.001, 0.01, 0.1, 0.5, 1.0])
        e.efficiencyTable()
        try tmpfsLane { t in
            try t.headline(size: 16 << 30, allocated: 0.25, fraction: 0.01)
            try t.divergenceSweep(size: 2 << 30, allocated: 0.25, fractions: [0.001, 0.01, 0.1, 0.5, 1.0])
        }
        try e.startup()
        try e.sizeSweep(sizes: [1 << 30, 16 << 30, 256 << 30, 1 << 40], divergedBytes: 64 << 20)
        try e.tuning(size: 2 << 30, allocated: 0.25, fraction: 0.1)
        try e.regionSweep(size: 1 << 30, writes: 4096)
        try e.writePath(bytes: 256 << 20)
        try e.statusLatency(size: 2 << 30)
        e.report += "\n```\nSUMMARY \(e.summary.joined(separator: " "))\n```\n"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try e.report.write(toFile: out + "/results.md", atomically: false, encoding: .utf8)
        for (name, svg) in e.charts { try svg.write(toFile: out + "/" + name, atomically: false, encoding: .utf8) }
        print(e.report)
    }
    print("SUMMARY " + e.summary.joined(separator: " "))
} catch {
    FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
    exit(1)
}

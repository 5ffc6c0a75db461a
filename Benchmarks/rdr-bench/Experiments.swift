import Foundation
import RDR

/// The benchmark's experiments. Each prints progress to stderr and appends Markdown to the report.
struct Experiments {
    let rdr: String
    let runs: Int
    /// Where the images live (the disk or tmpfs) and how the limit is replayed there.
    let lane: Lane
    var work: String { lane.work }
    var report = ""
    var charts: [String: String] = [:]
    /// SUMMARY fields (`key=value`) of the headline.
    var summary: [String] = []
    /// RDR against the limit, one row per pair measured side by side.
    var efficiency: [(row: String, rdr: Double, limit: Double)] = []
    /// `--variant ARGS`: RDR once more in every side-by-side round with these `disk resync`
    /// arguments (e.g. another `--copy-method`), interleaved with the default.
    var variant: String? = nil

    static func mib(_ b: Int64) -> String { ByteSize.format(b) }
    static func f(_ v: Double, _ digits: Int = 2) -> String { v.isFinite ? String(format: "%.\(digits)f", v) : "–" }
    /// Seconds: three decimals, or two significant digits below 10 ms (a tmpfs limit is ~0.3 ms).
    static func s(_ v: Double) -> String { v.isFinite && v < 0.0095 ? String(format: "%.2g", v) : f(v, 3) }

    func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

    func pair(_ name: String, _ spec: DivergedPair.Spec) throws -> DivergedPair {
        log(
            "building \(name) (\(lane.name)): \(Self.mib(spec.size)) disk, \(Int(spec.allocated * 100))% allocated, \(spec.sourceFraction * 100)% of regions written on the source side"
        )
        return try DivergedPair(dir: work + "/" + name, spec: spec)
    }

    /// The replayed-extent limit of `p` as a tool, or a skipped one naming why.
    func limitTool(_ p: DivergedPair) -> (Tool, ReplayLimit?) {
        guard let engine = lane.engine else { return (.unavailable(ReplayLimit.toolName, lane.noEngine), nil) }
        do {
            let limit = try ReplayLimit(pair: p, engine: engine)
            return (limit.tool, limit)
        } catch {
            return (.unavailable(ReplayLimit.toolName, "plan unavailable: \(error)"), nil)
        }
    }

    /// All tools on one pair, interleaved round by round: RDR, the peers, the dd ceiling and
    /// the replayed-extent limit. Returns RDR, the peers, and every measurement in table order.
    mutating func sideBySide(_ p: DivergedPair, title: String) -> (
        rdr: Measurement, peers: [Measurement], all: [Measurement]
    ) {
        let ceilingIn = p.dir + "/ceiling.in"
        let ceilingOut = p.dir + "/ceiling.out"
        _ = Runner.shell("head -c \(max(1, (p.divergedBytes + (1 << 20) - 1) >> 20))M /dev/urandom > '\(ceilingIn)'")
        defer { _ = Runner.shell("rm -f '\(ceilingIn)' '\(ceilingOut)'") }
        let (limitTool, limit) = limitTool(p)
        let peers = Tool.peers()
        let binary = rdr
        let variants = variant.map { v in [Tool.shell("rdr \(v)") { Tool.rdrCommand(binary, v, $0) }] } ?? []
        let tools =
            [Tool.rdr(rdr)] + variants + peers + [Tool.ddCeiling(input: ceilingIn, output: ceilingOut), limitTool]
        let all = Measure.interleaved(tools, on: p, rounds: runs, log: log)
        let r = all[0]
        let c = all[all.count - 2]
        let l = all[all.count - 1]
        report +=
            "\n### \(title)\n\nDiverged set: \(Self.mib(p.divergedBytes)) (union of both sides' regions); written by the workloads: \(Self.mib(p.bytesWritten)).\n\n"
        report +=
            "| tool | median s | min s | spread | runs (s) | RDR speedup | peak RSS |\n| --- | ---: | ---: | ---: | --- | ---: | ---: |\n"
        for m in all {
            if let failed = m.failed, m.times.isEmpty {
                report += "| \(m.tool) | – | – | – | \(failed) | – | – |\n"
                continue
            }
            let speed = m.tool == "rdr" ? "1.00×" : Self.f(m.median / r.median) + "×"
            report +=
                "| \(m.tool) | \(Self.s(m.median)) | \(Self.s(m.min)) | \(Self.f(m.spread * 100, 0))% | \(m.runsText) | \(speed) | \(m.rssText) |\n"
        }
        if let limit {
            report +=
                "\nLimit: RDR's own plan (\(limit.copies.count) copy extents, \(Self.mib(limit.copyBytes)); \(limit.punches.count) punches, \(Self.mib(limit.punchBytes))) replayed by \(limit.engine.note)\(limit.repeats > 1 ? " (here \(limit.repeats) times)" : ""); the punches by rdr-bench just before.\n"
        }
        report +=
            "\nEfficiency vs the replayed-extent limit (limit / RDR): **\(Self.f(l.median / r.median))**; vs the dd ceiling: \(Self.f(c.median / r.median)).\n"
        efficiency.append(("\(Self.mib(p.size)) disk, diverged set \(Self.mib(p.divergedBytes))", r.median, l.median))
        for v in all[1..<(1 + variants.count)] {
            report += "Efficiency of `\(v.tool)` vs the limit: **\(Self.f(l.median / v.median))**.\n"
            efficiency.append(
                ("\(v.tool): \(Self.mib(p.size)) disk, diverged set \(Self.mib(p.divergedBytes))", v.median, l.median))
        }
        return (r, Array(all[(1 + variants.count)...(variants.count + peers.count)]), all)
    }

    /// False (with the reason in the report) when the pair would not fit this lane.
    mutating func fits(_ spec: DivergedPair.Spec, _ title: String) -> Bool {
        guard let why = lane.tooSmall(for: spec) else { return true }
        report += "\n### \(title)\n\nSkipped: \(why).\n"
        return false
    }

    mutating func headline(size: Int64, allocated: Double, fraction: Double) throws {
        let spec = DivergedPair.Spec(size: size, allocated: allocated, sourceFraction: fraction)
        let title = "Headline: \(Self.mib(size)) disk, \(Int(allocated * 100))% allocated, \(fraction * 100)% diverged"
        guard fits(spec, title) else { return }
        let p = try pair("headline", spec)
        defer { p.remove() }
        let (r, peers, all) = sideBySide(p, title: title)
        let c = all[all.count - 2]
        let l = all[all.count - 1]
        let best = peers.filter { !$0.times.isEmpty }.min { $0.median < $1.median }
        summary += [
            "diverged_bytes=\(p.divergedBytes)", "rdr_s=\(Self.f(r.median, 3))",
            "best_peer=\((best?.tool ?? "none").replacingOccurrences(of: " ", with: "_"))",
            "best_peer_s=\(Self.f(best?.median ?? .nan, 3))", "speedup=\(Self.f((best?.median ?? .nan) / r.median))",
            "efficiency=\(Self.f(c.median / r.median))",
            "limit_s=\(Self.s(l.median))", "efficiency_limit=\(Self.f(l.median / r.median))",
        ]
    }

    mutating func divergenceSweep(size: Int64, allocated: Double, fractions: [Double]) throws {
        report += "\n## Time against divergence (\(Self.mib(size)) disk, \(Int(allocated * 100))% allocated)\n"
        var series: [String: [(Double, Double)]] = [:]
        var order: [String] = []
        for fr in fractions {
            let spec = DivergedPair.Spec(size: size, allocated: allocated, sourceFraction: fr)
            let title = "\(fr * 100)% of regions written on the source side" + (fr >= 1 ? " (full resync)" : "")
            guard fits(spec, title) else { continue }
            let p = try pair("div-\(fr)", spec)
            let (_, _, all) = sideBySide(p, title: title)
            for m in all where !m.times.isEmpty {
                if series[m.tool] == nil { order.append(m.tool) }
                series[m.tool, default: []].append((fr * 100, m.median))
            }
            p.remove()
        }
        let name = "time-vs-divergence\(lane.suffix).svg"
        charts[name] = Chart.svg(
            title: "Resync time vs divergence (\(Self.mib(size)), \(lane.chartNote))",
            xLabel: "regions written on the source side (%)",
            yLabel: "seconds (median)", series: order.map { Chart.Series(name: $0, points: series[$0] ?? []) },
            logX: true, logY: true)
        report += "\n![time vs divergence](\(name))\n"
    }

    /// One table of every side-by-side row: RDR's median against the limit's.
    mutating func efficiencyTable() {
        guard !efficiency.isEmpty else { return }
        report +=
            "\n## Efficiency against the replayed-extent limit (\(lane.name))\n\n| row | rdr median s | limit median s | efficiency (limit / rdr) |\n| --- | ---: | ---: | ---: |\n"
        for e in efficiency {
            report += "| \(e.row) | \(Self.s(e.rdr)) | \(Self.s(e.limit)) | \(Self.f(e.limit / e.rdr)) |\n"
        }
    }

    mutating func sizeSweep(sizes: [Int64], divergedBytes: Int64) throws {
        report +=
            "\n## Same diverged bytes, growing disk (RDR only, sparse disks)\n\n| disk | diverged set | median s | runs (s) | peak RSS |\n| --- | ---: | ---: | --- | ---: |\n"
        var counts: [(String, SyscallCounts)] = []
        for (i, size) in sizes.enumerated() {
            let regions = Double(size / (64 << 10))
            let p = try pair(
                "size-\(ByteSize.compact(size))",
                .init(size: size, allocated: 0, sourceFraction: Double(divergedBytes / (64 << 10)) / regions))
            let m = Measure.tool(.rdr(rdr), on: p, runs: runs)
            report +=
                "| \(Self.mib(size)) | \(Self.mib(p.divergedBytes)) | \(Self.f(m.median, 3)) | \(m.runsText) | \(m.rssText) |\n"
            if i == 0 || i == sizes.count - 1, let c = SyscallCounts.of(Tool.rdrCommand(rdr, "", p), pair: p) {
                counts.append((Self.mib(size), c))
            }
            p.remove()
        }
        report += "\nTime relative to the smallest disk is the ratio of the medians above.\n"
        report += SyscallCounts.table(counts)
    }

    /// Workers, I/O size and copy method on one pair (RDR only).
    mutating func tuning(size: Int64, allocated: Double, fraction: Double) throws {
        let p = try pair("tuning", .init(size: size, allocated: allocated, sourceFraction: fraction))
        defer { p.remove() }
        report +=
            "\n## Tuning (\(Self.mib(size)) disk, \(Int(allocated * 100))% allocated, diverged set \(Self.mib(p.divergedBytes)))\n"
        func sweep(_ name: String, _ values: [String], _ flag: (String) -> String) -> [(String, Measurement)] {
            report += "\n| \(name) | median s | MiB/s |\n| --- | ---: | ---: |\n"
            var out: [(String, Measurement)] = []
            for v in values {
                log("  \(name) \(v) …")
                let m = Measure.tool(.rdr(rdr, flag(v)), on: p, runs: runs)
                report +=
                    "| \(v) | \(Self.f(m.median, 3)) | \(Self.f(Double(p.divergedBytes) / 1_048_576 / m.median, 1)) |\n"
                out.append((v, m))
            }
            return out
        }
        let workers = sweep("workers", ["1", "2", "4", "8", "16"]) { "--workers \($0)" }
        charts["throughput-vs-workers.svg"] = Chart.svg(
            title: "RDR resync throughput vs workers", xLabel: "workers", yLabel: "MiB/s (median)",
            series: [
                Chart.Series(
                    name: "rdr",
                    points: workers.map { (Double($0.0) ?? 0, Double(p.divergedBytes) / 1_048_576 / $0.1.median) })
            ],
            logX: true, logY: false)
        report += "\n![throughput vs workers](throughput-vs-workers.svg)\n"
        _ = sweep("max I/O size", ["64K", "256K", "1M", "2M", "4M", "8M"]) { "--io-size \($0)" }
        _ = sweep("copy method", ["pread", "copy-file-range", "uring"]) { "--copy-method \($0)" }
    }

    /// Region size against copy amplification for 4 KiB random writes.
    mutating func regionSweep(size: Int64, writes: Int) throws {
        report +=
            "\n## Region size and copy amplification (\(writes) random 4 KiB writes on the source side, half as many on the target; \(Self.mib(size)) disk)\n\n| region | diverged set | amplification | median s |\n| --- | ---: | ---: | ---: |\n"
        for region in [Int64(4 << 10), 16 << 10, 64 << 10, 256 << 10, 1 << 20] {
            let regions = Double(size / region)
            let p = try pair(
                "region-\(ByteSize.compact(region))",
                .init(
                    size: size, allocated: 0.25, sourceFraction: Double(writes) / regions, regionSize: region,
                    writeSize: 4096))
            let m = Measure.tool(.rdr(rdr), on: p, runs: runs)
            report +=
                "| \(ByteSize.compact(region)) | \(Self.mib(p.divergedBytes)) | \(Self.f(Double(p.divergedBytes) / Double(p.bytesWritten)))× | \(Self.f(m.median, 3)) |\n"
            p.remove()
        }
    }

    /// Split-mode writes through RDR against fio on a plain file: the cost of divergence tracking.
    mutating func writePath(bytes: Int64) throws {
        let fio = Runner.which("fio")
        report +=
            "\n## Split-mode write path: `rdr workload` vs fio on a plain file (\(Self.mib(bytes)) written, fdatasync at the end)\n\n"
        if fio == nil { report += "fio not installed (Debian package fio): RDR numbers only.\n\n" }
        report += "| pattern | io size | rdr MiB/s | fio MiB/s | rdr / fio |\n| --- | --- | ---: | ---: | ---: |\n"
        let dir = work + "/writes"
        for (order, fioRW) in [("random", "randwrite"), ("sequential", "write")] {
            for io in ["4K", "64K"] {
                var rt: [Double] = []
                var ft: [Double] = []
                for _ in 0..<runs {
                    _ = Runner.shell("rm -rf '\(dir)'; mkdir -p '\(dir)'")
                    _ = Runner.shell(
                        "'\(rdr)' init --system '\(dir)/sys' --disk d:1G:system > /dev/null && '\(rdr)' disk split --system '\(dir)/sys' > /dev/null"
                    )
                    Runner.dropCaches()
                    let r = Runner.shell(
                        "'\(rdr)' workload d --side production --bytes \(bytes) --io-size \(io) --pattern \(order) --system '\(dir)/sys' > /dev/null"
                    )
                    if r.ok { rt.append(r.seconds) }
                    if fio != nil {
                        _ = Runner.shell("truncate -s 1G '\(dir)/plain.img'")
                        Runner.dropCaches()
                        let f = Runner.shell(
                            "fio --name=w --filename='\(dir)/plain.img' --size=1G --io_size=\(bytes) --rw=\(fioRW) --bs=\(io) --ioengine=psync --end_fsync=1 --randrepeat=0 > /dev/null"
                        )
                        if f.ok { ft.append(f.seconds) }
                    }
                }
                let rm = Double(bytes) / 1_048_576 / Runner.median(rt)
                let fm = ft.isEmpty ? Double.nan : Double(bytes) / 1_048_576 / Runner.median(ft)
                report += "| \(order) | \(io) | \(Self.f(rm, 1)) | \(Self.f(fm, 1)) | \(Self.f(rm / fm)) |\n"
            }
        }
        _ = Runner.shell("rm -rf '\(dir)'")
    }

    /// `rdr status` latency and accuracy while a throttled background resync runs. The truth
    /// is read from the disk, not from anything the resync reports: every diverged region
    /// differs between the members before the resync (the base data covers the whole disk), so
    /// the bytes of the regions where the target already equals the source are the bytes done.
    /// The resync works in disk order, so a binary search finds the frontier, and the regions
    /// around it (the workers' tasks in flight) are compared one by one. Each sample brackets
    /// the `status` call with two such reads and takes their mean.
    mutating func statusLatency(size: Int64) throws {
        let p = try pair("status", .init(size: size, allocated: 1.0, sourceFraction: 0.5))
        defer { p.remove() }
        try p.restore()
        let probe = try FrontierProbe(pair: p)
        defer { probe.close() }
        let rate: Int64 = 96 << 20
        _ = Runner.shell(
            "'\(rdr)' disk resync d --from 10 --background --max-rate \(rate) --system '\(p.system)' > /dev/null")
        var latencies: [Double] = []
        var errors: [Double] = []
        for _ in 0..<40 {
            usleep(150_000)
            let before = probe.doneBytes()
            let r = Runner.shell("'\(rdr)' status --json --system '\(p.system)'")
            let after = probe.doneBytes()
            latencies.append(r.seconds * 1000)
            guard let obj = try? JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any],
                let d = (obj["disks"] as? [[String: Any]])?.first, let rs = d["resync"] as? [String: Any],
                let pct = rs["percent"] as? Int, rs["running"] as? Bool == true
            else { continue }
            let truth = Double(before + after) / 2 / Double(p.divergedBytes) * 100
            errors.append(abs(Double(pct) - truth))
        }
        _ = Runner.shell("'\(rdr)' status --watch --interval 0.2 --system '\(p.system)' > /dev/null")
        report +=
            "\n## `rdr status` while a resync runs\n\n\(latencies.count) calls during a background resync of \(Self.mib(p.divergedBytes)) capped at \(Self.mib(rate))/s: "
        report +=
            "median latency **\(Self.f(Runner.median(latencies), 1)) ms** (max \(Self.f(latencies.max() ?? .nan, 1)) ms); "
        report +=
            "percent against the bytes already equal on disk: median error **\(Self.f(Runner.median(errors), 2))**, max \(Self.f(errors.max() ?? .nan, 2)) points over \(errors.count) samples while running.\n"
    }

    /// For finding out why: the same pair, restored and cold before each run, with rdr run
    /// under `wrap` (a profiler such as `strace -c -f` or `perf record -g --`); prints each
    /// run's time and the wrapper's output. Nothing is written to the report.
    /// With `withLimit`, each run is followed by a cold replay of the same plan (A B, A B, …),
    /// so a change to the copy path is judged against the limit of the same pair and moment.
    func profile(_ spec: DivergedPair.Spec, wrap: String, extra: String, warm: Bool, withLimit: Bool) throws {
        let p = try pair("profile", spec)
        defer { p.remove() }
        log("diverged set \(Self.mib(p.divergedBytes))")
        let limit = withLimit ? limitTool(p).1 : nil
        var rdrTimes: [Double] = []
        var limitTimes: [Double] = []
        for i in 0..<runs {
            try p.restore()
            if warm { _ = Runner.shell("cat '\(p.source)' > /dev/null") } else { Runner.dropCaches() }
            let r = Runner.shell("\(wrap) " + Tool.rdrCommand(rdr, extra, p))
            print("run \(i + 1): \(Self.f(r.seconds, 3)) s, exit \(r.status)\n\(r.output)")
            if r.ok { rdrTimes.append(r.seconds) }
            guard let limit else { continue }
            try p.restore()
            Runner.dropCaches()
            let l = limit.run()
            let problem = l.ok ? limit.check() : "exit \(l.status): \(l.output)"
            print("limit \(i + 1): \(Self.s(l.seconds)) s\(problem.map { " (\($0))" } ?? "")")
            if l.ok, problem == nil { limitTimes.append(l.seconds) }
        }
        guard !rdrTimes.isEmpty, !limitTimes.isEmpty else { return }
        let (r, l) = (Runner.median(rdrTimes), Runner.median(limitTimes))
        print("median rdr \(Self.s(r)) s, limit \(Self.s(l)) s, efficiency \(Self.f(l / r))")
    }
}
